import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createEmulator } from './index.ts'

/**
 * `npm run emulator [-- --port 4100 --host 127.0.0.1 --tenant ACME_TST --token-lifetime 7200 --out emulator.ionapi]`
 * A local ION for users and the demo: writes the `.ionapi` file to use with the gateway. PORT also sets the port.
 */
const USAGE = 'usage: npm run emulator -- [--port N] [--host ADDR] [--tenant ID] [--token-lifetime SECONDS] [--out FILE]'

function integer (name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}\n${USAGE}\n`)
    process.exit(2)
  }
  return n
}

let values: Record<string, string | boolean | undefined>
try {
  values = parseArgs({
    options: {
      port: { type: 'string', default: process.env.PORT ?? '4100' },
      host: { type: 'string', default: '127.0.0.1' },
      tenant: { type: 'string', default: 'ACME_TST' },
      'token-lifetime': { type: 'string', default: '7200' },
      out: { type: 'string', default: 'emulator.ionapi' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${USAGE}\n`)
  process.exit(2)
}
if (values.help) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}

const emulator = await createEmulator({
  port: integer('port', String(values.port), 0, 65535),
  host: String(values.host),
  tenant: String(values.tenant),
  tokenLifetimeS: integer('token-lifetime', String(values['token-lifetime']), 1, 86400 * 365),
})
const out = resolve(String(values.out))
writeFileSync(out, JSON.stringify(emulator.ionapi, null, 2) + '\n', { mode: 0o600 })
const { ionapi } = emulator

process.stdout.write(`ION emulator listening on ${emulator.url} (tenant ${emulator.tenant})
.ionapi written to ${out} (made-up credentials)

Get a token:
  curl -s -X POST '${ionapi.pu}${ionapi.ot}' -u '${ionapi.ci}:${ionapi.cs}' \\
    --data-urlencode grant_type=password --data-urlencode 'username=${ionapi.saak}' --data-urlencode 'password=${ionapi.sask}'
Call M3 with it:
  curl -s '${ionapi.iu}/${ionapi.ti}/M3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100' -H "Authorization: Bearer $TOKEN"
Run the gateway against it:
  ION_API_FILE=${out} npm run dev
Controls: GET ${emulator.url}/__emulator/stats, POST ${emulator.url}/__emulator/faults '{"latencyMs":50}', POST ${emulator.url}/__emulator/reset
`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`${signal}: closing the ION emulator\n`)
    emulator.close().catch((err: unknown) => {
      process.stderr.write(`close failed: ${String(err)}\n`)
      process.exitCode = 1
    })
  })
}
