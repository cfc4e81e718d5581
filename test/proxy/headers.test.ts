import t from 'tap'
import { securityHeaders } from '../../src/edge/security-headers.ts'
import { clientResponseHeaders, mergeVary, upstreamRequestHeaders } from '../../src/proxy/headers.ts'

const own = { token: 'service-token', requestId: 'req-1', clientIp: '10.1.2.3' }

t.test('the caller\'s credentials and hop-by-hop headers never reach ION', async t => {
  const out = upstreamRequestHeaders({
    authorization: 'Bearer attacker',
    cookie: 'session=1',
    'x-api-key': 'client-key',
    'proxy-authorization': 'Basic eA==',
    'proxy-connection': 'keep-alive',
    connection: 'keep-alive, X-Custom',
    'x-custom': 'v',
    'keep-alive': 'timeout=5',
    te: 'gzip',
    upgrade: 'h2c',
    expect: '100-continue',
    host: 'evil.test',
    'x-forwarded-host': 'evil.test',
    'x-forwarded-for': '1.2.3.4',
    'x-http-method-override': 'DELETE',
    'x-original-url': '/m3/admin',
    'x-client-id': 'spoofed',
    'content-length': '5',
    accept: 'application/json',
    'x-infor-lncompany': '1971',
    'if-match': 'W/"1"',
  }, own)
  t.same(out, {
    accept: 'application/json',
    'x-infor-lncompany': '1971',
    'if-match': 'W/"1"',
    authorization: 'Bearer service-token',
    'x-request-id': 'req-1',
    'x-forwarded-for': '10.1.2.3',
  })
})

t.test('Connection cannot strip the headers the gateway adds', async t => {
  for (const connection of ['Authorization', 'close, authorization', 'x-forwarded-for, x-request-id']) {
    const out = upstreamRequestHeaders({ connection }, own)
    t.equal(out.authorization, 'Bearer service-token', connection)
    t.equal(out['x-request-id'], 'req-1')
    t.equal(out['x-forwarded-for'], '10.1.2.3')
  }
})

t.test('ION\'s cookies and hop-by-hop response headers never reach the client', async t => {
  const out = clientResponseHeaders({
    'content-type': 'application/json',
    'set-cookie': ['a=1', 'b=2'],
    connection: 'close, X-Internal',
    'x-internal': 'secret',
    'keep-alive': 'timeout=5',
    'proxy-authenticate': 'Basic',
    trailer: 'x',
    upgrade: 'h2c',
    'transfer-encoding': 'chunked',
    etag: '"1"',
  })
  t.same(out, { 'content-type': 'application/json', etag: '"1"' })
})

t.test('ION-internal redirects are mapped to the gateway prefix; off-site ones are left alone', async t => {
  const rewrite = { upstreamBases: ['https://ion.example/ACME/M3', '/ACME/M3'], routePrefix: '/m3' }
  t.equal(clientResponseHeaders({ location: 'https://ion.example/ACME/M3/x?y=1' }, rewrite).location, '/m3/x?y=1')
  t.equal(clientResponseHeaders({ location: '/ACME/M3/x' }, rewrite).location, '/m3/x')
  t.equal(clientResponseHeaders({ location: '/ACME/M3x/y' }, rewrite).location, '/ACME/M3x/y')
  t.equal(clientResponseHeaders({ location: 'http://127.0.0.1:9/steal' }, rewrite).location, 'http://127.0.0.1:9/steal')
})

t.test('ION\'s CORS headers and the gateway\'s security headers are never relayed from ION', async t => {
  const out = clientResponseHeaders({
    'access-control-allow-origin': '*',
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'x-secret',
    'access-control-anything-new': 'x',
    'x-powered-by': 'ION',
    'content-type': 'application/json',
  })
  t.same(out, { 'content-type': 'application/json' })
  // Every header helmet can set, with every option on: none of ION's may replace the gateway's.
  const helmetAll = securityHeaders({
    contentSecurityPolicy: { reportOnly: true },
    crossOriginEmbedderPolicy: true,
    crossOriginOpenerPolicy: true,
    crossOriginResourcePolicy: true,
    originAgentCluster: true,
    referrerPolicy: true,
    strictTransportSecurity: true,
    xContentTypeOptions: true,
    xDnsPrefetchControl: true,
    xDownloadOptions: true,
    xFrameOptions: true,
    xPermittedCrossDomainPolicies: true,
    xXssProtection: true,
  })
  const names = [...new Set([...Object.keys(securityHeaders()), ...Object.keys(helmetAll), 'content-security-policy'])]
  t.ok(names.length >= 13, `helmet's set: ${names.join(', ')}`)
  t.same(clientResponseHeaders(Object.fromEntries(names.map(n => [n, 'from ION']))), {})
})

t.test('Vary: the gateway\'s and ION\'s names, once each; * wins', async t => {
  t.equal(mergeVary('Origin', 'Accept, accept-language'), 'Origin, Accept, accept-language')
  t.equal(mergeVary('Origin', 'origin'), 'Origin')
  t.equal(mergeVary(['Origin'], ['Accept', 'Accept-Language']), 'Origin, Accept, Accept-Language')
  t.equal(mergeVary('Origin', '*'), '*')
})
