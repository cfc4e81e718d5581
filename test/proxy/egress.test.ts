import t, { type Test } from 'tap'
import { request } from 'undici'
import { createEmulator, type Emulator } from '../../emulator/index.ts'
import { proxyFor, type Egress } from '../../src/proxy/egress.ts'
import { startForwardProxy, type ForwardProxy } from '../helpers/forward-proxy.ts'
import { startGateway } from '../helpers/gateway.ts'
import { createTestCa } from '../helpers/test-ca.ts'

// A name only the forward proxy resolves (to the emulator on 127.0.0.1): a call that bypasses the proxy cannot reach
// ION. `.test` is reserved (RFC 2606): it never resolves anywhere else.
const ION_HOST = 'ion.test'
const READS = ['/m3/m3api-rest/v2/execute/CRS610MI/GetBasicData?CUNO=10003', '/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=2']
// Short deadlines: on the old code every call tries to resolve ION_HOST directly and must fail, not hang the test.
const TIMEOUTS = { TOKEN_TIMEOUT_MS: '5000', UPSTREAM_TIMEOUT_MS: '5000', UPSTREAM_RETRIES: '0' }

/** The emulator as the gateway sees it: under ION_HOST, reachable only through the proxy. */
function behindProxy (emulator: Emulator): Emulator {
  const iu = emulator.url.replace('127.0.0.1', ION_HOST)
  return { ...emulator, ionapi: { ...emulator.ionapi, iu, pu: `${iu}/${emulator.tenant}/as/` } }
}

async function proxyTo (t: Test): Promise<ForwardProxy> {
  const proxy = await startForwardProxy(host => host === ION_HOST ? '127.0.0.1' : host)
  t.teardown(() => proxy.close())
  return proxy
}

async function readAll (t: Test, baseUrl: string): Promise<void> {
  for (const path of READS) {
    const res = await request(baseUrl + path)
    const text = await res.body.text()
    t.equal(res.statusCode, 200, `${path}: 200 (got ${res.statusCode}: ${text.slice(0, 200)})`)
  }
}

t.test('https ION behind an egress proxy: token and data calls go through CONNECT tunnels, verified against ION_CA_FILE', async t => {
  const ca = createTestCa({ dns: [ION_HOST, 'localhost'], ip: ['127.0.0.1'] })
  t.teardown(() => ca.remove())
  const emulator = await createEmulator({ port: 0, tls: { key: ca.key, cert: ca.cert } })
  t.teardown(() => emulator.close())
  t.match(emulator.url, /^https:/)
  const proxy = await proxyTo(t)
  const target = `${ION_HOST}:${new URL(emulator.url).port}`
  const gw = await startGateway(t, { emulator: behindProxy(emulator), env: { ...TIMEOUTS, HTTPS_PROXY: proxy.url, ION_CA_FILE: ca.caFile } })
  await readAll(t, gw.url)
  t.ok(emulator.stats.tokenRequests() >= 1, `ION issued the token (saw ${emulator.stats.tokenRequests()} token requests)`)
  t.equal(emulator.stats.calls(), READS.length, `ION saw ${emulator.stats.calls()} resource calls for ${READS.length} reads`)
  // Sequential calls on keep-alive connections: one tunnel for the token client and one per system pool used.
  t.ok(proxy.tunnels(target) >= 3, `tunnels to ${target}: token endpoint, M3 pool, LN pool (saw ${proxy.tunnels(target)})`)
  t.equal(proxy.tunnels(), proxy.tunnels(target), `no tunnel elsewhere (saw ${proxy.tunnels()} in all)`)
  t.equal(proxy.requests(), 0, `https is never sent in absolute-form (saw ${proxy.requests()})`)
})

t.test('http ION behind an egress proxy: every request ION sees came through the proxy in absolute-form', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const proxy = await proxyTo(t)
  const target = `${ION_HOST}:${new URL(emulator.url).port}`
  const gw = await startGateway(t, { emulator: behindProxy(emulator), env: { ...TIMEOUTS, HTTP_PROXY: proxy.url } })
  await readAll(t, gw.url)
  const seen = emulator.stats.calls() + emulator.stats.tokenRequests()
  t.equal(emulator.stats.calls(), READS.length, `ION saw ${emulator.stats.calls()} resource calls`)
  t.equal(proxy.requests(target), seen, `the proxy forwarded ${proxy.requests(target)} requests, ION saw ${seen} (token and data)`)
  t.equal(proxy.tunnels(), 0, `plain http is not tunnelled (saw ${proxy.tunnels()} tunnels)`)
})

t.test('NO_PROXY sends matching hosts direct; the proxy sees nothing', async t => {
  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const proxy = await proxyTo(t)
  const gw = await startGateway(t, { emulator, env: { ...TIMEOUTS, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' } })
  await readAll(t, gw.url)
  t.equal(proxy.requests() + proxy.tunnels(), 0, `nothing through the proxy (saw ${proxy.requests()} requests, ${proxy.tunnels()} tunnels)`)
  t.equal(emulator.stats.calls(), READS.length)
})

t.test('a private CA: ION_CA_FILE makes ION\'s certificate trusted; without it the gateway refuses the connection', async t => {
  const ca = createTestCa({ ip: ['127.0.0.1'] })
  t.teardown(() => ca.remove())
  const emulator = await createEmulator({ port: 0, tls: { key: ca.key, cert: ca.cert } })
  t.teardown(() => emulator.close())
  const trusted = await startGateway(t, { emulator, env: { ...TIMEOUTS, ION_CA_FILE: ca.caFile } })
  await readAll(t, trusted.url)
  const callsBefore = emulator.stats.calls()
  const untrusted = await startGateway(t, { emulator, env: TIMEOUTS })
  const res = await request(untrusted.url + READS[0])
  const body = await res.body.json() as { error: { code: string } }
  t.equal(res.statusCode, 503, `no token without trusting ION's certificate (got ${res.statusCode})`)
  t.equal(body.error.code, 'AUTH_003')
  t.equal(emulator.stats.calls(), callsBefore, 'no resource call was made')
})

t.test('proxyFor: the scheme picks the proxy; NO_PROXY matches hosts, subdomains, ports and *', async t => {
  const egress: Egress = { httpsProxy: 'http://p:3128', httpProxy: 'http://q:3128', noProxy: ['internal.example', '.corp.example', '*.lan', '10.0.0.1:8443', '[::1]'] }
  const via = (url: string, e = egress) => proxyFor(new URL(url), e)
  t.equal(via('https://mingle-ionapi.inforcloudsuite.com/T'), 'http://p:3128')
  t.equal(via('http://mingle-ionapi.inforcloudsuite.com/T'), 'http://q:3128')
  t.equal(via('https://internal.example/x'), undefined)
  t.equal(via('https://a.internal.example/x'), undefined, 'subdomain')
  t.equal(via('https://notinternal.example/x'), 'http://p:3128', 'a suffix is not a subdomain')
  t.equal(via('https://ion.corp.example'), undefined)
  t.equal(via('https://corp.example'), undefined)
  t.equal(via('https://x.lan'), undefined)
  t.equal(via('https://10.0.0.1:8443'), undefined)
  t.equal(via('https://10.0.0.1'), 'http://p:3128', 'another port')
  t.equal(via('https://[::1]:3000'), undefined)
  t.equal(via('https://x.example', { ...egress, noProxy: ['*'] }), undefined)
  t.equal(via('http://x.example', { noProxy: [], httpsProxy: 'http://p:3128' }), undefined, 'no proxy for the scheme')
})
