import t from 'tap'
import type { Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import { testConfig } from '../helpers/config.ts'
import { buildApp } from '../../src/app.ts'

/**
 * An ION that sends its headers and the first bytes of a body, then nothing: the gateway's body timeout
 * (UPSTREAM_TIMEOUT_MS between chunks) fires. Tokens still come from the emulator.
 */
async function stallingIon (t: Test): Promise<{ url: string, calls: () => number }> {
  const sockets = new Set<Socket>()
  let calls = 0
  const server: Server = createServer((req, res) => {
    calls++
    // ITNO=BIG announces a body too large to be read whole before answering: the typed route reads it as a stream.
    const length = req.url?.includes('ITNO=BIG') ? 200000 : 100
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(length) })
    res.write('{"results":')
  })
  server.on('connection', socket => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise(resolve => server.close(resolve))
  })
  const address = server.address()
  if (!address || typeof address !== 'object') throw new Error('no address')
  return { url: `http://127.0.0.1:${address.port}`, calls: () => calls }
}

async function gatewayOverStallingIon (t: Test, cacheDriver: string): Promise<{ url: string, ionCalls: () => number }> {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const ion = await stallingIon(t)
  const config = testConfig({ CACHE_DRIVER: cacheDriver, UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_RETRIES: '0' }, { ...emulator.ionapi, iu: ion.url })
  const app = await buildApp(config, { logger: false })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (!address || typeof address !== 'object') throw new Error('no address')
  return { url: `http://127.0.0.1:${address.port}`, ionCalls: ion.calls }
}

// A body that stops arriving is a timeout (API_002, 504) however the gateway reads it: streamed past the cache,
// read into the cache, or read whole by the typed route.
const CASES: Array<[string, string, string]> = [
  ['a bypassed read (cache off)', 'none', '/ln/LN/lnapi/odata/txtls.Items'],
  ['a cacheable read (memory cache)', 'memory', '/ln/LN/lnapi/odata/txtls.Items'],
  ['an M3 read through the cache', 'memory', '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'],
  ['the typed M3 route', 'memory', '/m3/mi/MMS200MI/GetItmBasic?ITNO=A100'],
  ['the typed M3 route (cache off)', 'none', '/m3/mi/MMS200MI/GetItmBasic?ITNO=A100'],
  ['the typed M3 route, a large answer (cache off)', 'none', '/m3/mi/MMS200MI/GetItmBasic?ITNO=BIG'],
]

for (const [what, driver, path] of CASES) {
  t.test(`ION stalling mid-body on ${what} is API_002 504`, async t => {
    const gw = await gatewayOverStallingIon(t, driver)
    const res = await request(gw.url + path)
    const body = await res.body.json() as { error?: { code: string } }
    t.equal(res.statusCode, 504, `status (got ${res.statusCode}, ${JSON.stringify(body)})`)
    t.equal(body.error?.code, 'API_002')
    t.equal(gw.ionCalls(), 1, `ION called once (saw ${gw.ionCalls()})`)
  })
}
