import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { createEmulator } from '../../emulator/index.ts'
import { startGateway } from '../helpers/gateway.ts'
import { rawRequest } from '../helpers/http.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100'

t.test('ION\'s TLS certificate is verified: a self-signed upstream gets 502 and never sees the token', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-tls-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' })
  let hits = 0
  const evil = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => {
    hits++
    res.end('{}')
  })
  await new Promise<void>(resolve => evil.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>(resolve => { evil.closeAllConnections(); evil.close(() => resolve()) }))
  const port = (evil.address() as { port: number }).port
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  // Tokens come from the (plain HTTP) emulator; resources from the self-signed HTTPS server.
  const ionapi = { ...emulator.ionapi, iu: `https://127.0.0.1:${port}` }
  const gw = await startGateway(t, { emulator: { ...emulator, ionapi } })
  const res = await request(gw.url + ITEM)
  t.equal(res.statusCode, 502)
  t.equal(((await res.body.json()) as { error: { code: string } }).error.code, 'API_001')
  t.equal(hits, 0, 'no request (and no bearer token) reached the unverified server')
})

t.test('Upgrade, Keep-Alive, TE and Proxy-Connection from clients never cause a 500', async t => {
  const gw = await startGateway(t)
  // Sent raw: undici (rightly) refuses to send some of these itself.
  const res = await rawRequest(gw.url, `GET ${ITEM} HTTP/1.1\nHost: x\nUpgrade: h2c\nKeep-Alive: timeout=5\nTE: trailers\nProxy-Connection: keep-alive\nConnection: close`)
  t.equal(res.status, 200)
  const raw = await rawRequest(gw.url, `GET ${ITEM} HTTP/1.1\nHost: x\nConnection: Upgrade, close\nUpgrade: websocket`)
  t.not(raw.status, 500, `upgrade request answered ${raw.status}`)
  const seen = gw.emulator.stats.requests('/ACME_TST/M3/')
  t.ok(seen.length >= 1)
  for (const r of seen) {
    for (const h of ['upgrade', 'keep-alive', 'te', 'proxy-connection']) t.notOk(h in r.headers, `${h} not forwarded`)
  }
})

t.test('request smuggling shapes are refused at the edge', async t => {
  const gw = await startGateway(t)
  const both = await rawRequest(gw.url, 'POST /m3/m3api-rest/v2/execute HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nContent-Length: 3\nConnection: close', '0\r\n\r\n')
  t.equal(both.status, 400, 'TE + CL')
  const dupCl = await rawRequest(gw.url, 'POST /m3/m3api-rest/v2/execute HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 0\nConnection: close', 'hello')
  t.equal(dupCl.status, 400, 'duplicate Content-Length')
  t.equal(gw.emulator.stats.calls(), 0)
})

t.test('upstream metrics: duration by system and status, retries by system', async t => {
  const gw = await startGateway(t)
  gw.emulator.faults.failNext(1, 503, '/ACME_TST/M3/')
  await request(gw.url + ITEM).then(r => r.body.dump())
  await request(gw.url + '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders').then(r => r.body.dump())
  const text = await gw.app.gatewayMetrics.registry.metrics()
  t.match(text, /upstream_request_duration_seconds_count\{system="m3",status_code="503"\} 1/)
  t.match(text, /upstream_request_duration_seconds_count\{system="m3",status_code="200"\} 1/)
  t.match(text, /upstream_request_duration_seconds_count\{system="ln",status_code="200"\} 1/)
  t.match(text, /upstream_retries_total\{system="m3"\} 1/)
})
