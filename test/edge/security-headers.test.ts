import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import helmet from 'helmet'
import { documentSecurityHeaderOptions, securityHeaderOptions, securityHeaders } from '../../src/edge/security-headers.ts'

for (const [what, options, atLeast] of [['API answers', securityHeaderOptions, 7], ['the /docs page', documentSecurityHeaderOptions, 12]] as const) {
  t.test(`${what}: the precomputed headers are exactly what helmet sets on a real response`, async t => {
    const server = http.createServer((req, res) => {
      helmet(options)(req, res, () => res.end())
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => server.close())
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    await res.arrayBuffer()
    const helmetSet: Record<string, string> = {}
    for (const [name, value] of res.headers) {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)) helmetSet[name] = value
    }
    t.same({ ...securityHeaders(options) }, helmetSet)
    t.ok(Object.keys(helmetSet).length >= atLeast, `helmet set its headers: ${Object.keys(helmetSet).join(', ')}`)
  })
}

t.test('the configured values (strict CSP, HSTS, frameguard…)', async t => {
  const headers = securityHeaders()
  t.equal(headers['content-security-policy'], "default-src 'self';style-src 'self' 'unsafe-inline';script-src 'self';img-src 'self' data: https:")
  t.equal(headers['strict-transport-security'], 'max-age=31536000; includeSubDomains; preload')
  t.equal(headers['referrer-policy'], 'same-origin')
  t.ok(Object.isFrozen(headers))
})

t.test('other options give other headers (nothing is hard-coded)', async t => {
  const headers = securityHeaders({ hsts: { maxAge: 60 }, contentSecurityPolicy: false })
  t.equal(headers['strict-transport-security'], 'max-age=60; includeSubDomains')
  t.notOk('content-security-policy' in headers)
})
