import { parseArgs } from 'node:util'
import { newApiKey } from './edge/api-keys.ts'

/** `npm run keys -- add <clientId> [--admin]`: prints a new key once, and the entry for CLIENT_API_KEYS_FILE. */
const { positionals, values } = parseArgs({ allowPositionals: true, options: { admin: { type: 'boolean', default: false } } })
const [command, clientId] = positionals

if (command !== 'add' || !clientId) {
  process.stderr.write('usage: npm run keys -- add <clientId> [--admin]\n')
  process.exitCode = 2
} else {
  try {
    const { key, record } = newApiKey(clientId, values.admin)
    process.stdout.write(`API key for ${clientId} (shown once; give it to the client, store it nowhere else):\n  ${key}\n\n` +
      `Add this entry to the JSON list in CLIENT_API_KEYS_FILE:\n  ${JSON.stringify(record)}\n`)
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exitCode = 2
  }
}
