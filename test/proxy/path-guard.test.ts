import t from 'tap'
import fc from 'fast-check'
import { guardPath } from '../../src/proxy/path-guard.ts'
import { GatewayError } from '../../src/errors.ts'

const PREFIX = '/ACME_TST/M3'

function refused (url: string): boolean {
  try {
    guardPath(url, '/m3', PREFIX)
    return false
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'API_003' && err.statusCode === 400) return true
    throw err
  }
}

t.test('legitimate M3, LN and IDM paths pass untouched', async t => {
  const cases: Array<[string, string, string]> = [
    ['/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100', '/ACME_TST/M3/m3api-rest/v2/execute/MMS200MI/GetItmBasic', 'ITNO=A100'],
    ['/m3/m3api-rest/execute/CRS610MI/LstByNumber;metadata=true;maxrecs=3;returncols=CUNO', '/ACME_TST/M3/m3api-rest/execute/CRS610MI/LstByNumber;metadata=true;maxrecs=3;returncols=CUNO', ''],
    ['/m3/api/a...b', '/ACME_TST/M3/api/a...b', ''],
    ['/m3/api/%5B...slug%5D', '/ACME_TST/M3/api/%5B...slug%5D', ''],
    ['/m3/x?a=/ho/%2E%2E/hi', '/ACME_TST/M3/x', 'a=/ho/%2E%2E/hi'],
    ['/m3/lnapi/odata/tdapi.slsSalesOrder/Orders(\'SO%20001\')', '/ACME_TST/M3/lnapi/odata/tdapi.slsSalesOrder/Orders(\'SO%20001\')', ''],
    ['/m3/trailing/', '/ACME_TST/M3/trailing/', ''],
  ]
  for (const [url, path, query] of cases) {
    const g = guardPath(url, '/m3', PREFIX)
    t.equal(g.upstreamPath, path, url)
    t.equal(g.rawQuery, query, `${url} query`)
  }
  t.equal(guardPath('/m3/api/%5B...slug%5D', '/m3', PREFIX).decodedSuffix, '/api/[...slug]')
})

t.test('every traversal and prefix-escape vector is refused', async t => {
  const vectors = [
    '/m3/../ln/x', '/m3/..%2fln/x', '/m3/%2e%2e/%2e%2e/admin', // A1
    '/m3/ho/%2E%2E/hi', '/m3/a/..%2f', '/m3/a/%2e%2e%2f', '/m3/a/%2E%2e/', // A2
    '/m3/..\\..\\TENANT/IDM/x', '/m3/%5c..%5cadmin', '/m3\\..\\ln', // A4
    '/%6d3/x', '/%6D3/%2e%2e/x', '/m%33/x', // A5
    '/m3/..;/ln/x', '/m3/a/..;/..;/admin', '/m3;/../ln/x', '/m3/%2e%2e;x/', '/m3/.;/x', // A6
    '/m3/a%2F..%2Fadmin%23', '/m3/x%3Fy/..', // A7
    '/m3//127.0.0.1:9/x', '/m3/http:/\\/127.0.0.1:9/', // A8
    '/m3x/a', '/m3evil', '/M3/a', '/m3', '//m3/a', // A9
    '/m3/%252e%252e/x', '/m3/%252f', '/m3/%25255c', // double encoding
    '/m3/a%00b', '/m3/a%0d%0aX-Injected:1', '/m3/%c0%ae%c0%ae/x', '/m3/%E0%A4%A', // NUL, CRLF, overlong UTF-8, malformed
    '/m3/./x', '/m3/.', '/m3/..', '/m3/a/#/../../x', '/m3/x%3Fy', '/m3/a%23b',
  ]
  for (const v of vectors) t.ok(refused(v), `refused: ${v}`)
})

// The invariant: whatever a client sends, ION either sees nothing or a path that stays below
// `/{ti}/{SYSTEM}/` however it is decoded and resolved (WHATWG URL treats `\` as `/`; servlets drop `;params`).
function staysUnderPrefix (upstreamPath: string): boolean {
  if (!upstreamPath.startsWith(PREFIX + '/')) return false
  let p = upstreamPath
  for (let round = 0; round < 3; round++) {
    const resolved = new URL(p, 'http://ion.invalid').pathname
    if (!resolved.startsWith(PREFIX + '/')) return false
    const servlet = new URL(resolved.replace(/;[^/]*/g, ''), 'http://ion.invalid').pathname
    if (!servlet.startsWith(PREFIX + '/') && servlet !== PREFIX) return false
    try {
      p = decodeURIComponent(resolved)
    } catch {
      return true // a later decoder would fail too: nothing to resolve
    }
  }
  return true
}

t.test('property: accepted paths never leave the system prefix', async t => {
  const pieces = ['..', '.', '%2e', '%2E', '%252e', '\\', '%5c', '%5C', ';', '%3b', '%2f', '%2F', '/', '//', '%00', '%23', '%3f',
    'a', 'M3', 'ln', 'é', '%C3%A9', '%c0%ae', 'x;y=1', '..;', '%2e%2e;', 'LstByNumber;maxrecs=3']
  const segment = fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 4 }).map(a => a.join(''))
  const path = fc.array(segment, { minLength: 1, maxLength: 6 }).map(segs => '/m3/' + segs.join('/'))
  let accepted = 0
  fc.assert(fc.property(path, url => {
    try {
      const g = guardPath(url, '/m3', PREFIX)
      accepted++
      return staysUnderPrefix(g.upstreamPath)
    } catch (err) {
      return err instanceof GatewayError && err.code === 'API_003'
    }
  }), { numRuns: 5000 })
  t.ok(accepted > 100, `the generator also produces accepted paths (${accepted})`)
})

/** The guard before its fast path (every segment decoded and checked): the reference the fast path must agree with. */
function referenceGuard (rawUrl: string, routePrefix: string, upstreamPrefix: string): { upstreamPath: string, decodedSuffix: string, rawQuery: string } {
  const q = rawUrl.indexOf('?')
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
  const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1)
  if (!rawPath.startsWith(routePrefix + '/')) throw new Error('prefix')
  const rawSuffix = rawPath.slice(routePrefix.length)
  if (/%2f|%5c|%00|\\|#|\0/i.test(rawSuffix)) throw new Error('forbidden')
  const segments = rawSuffix.split('/')
  const decoded: string[] = ['']
  for (let i = 1; i < segments.length; i++) {
    const raw = segments[i] as string
    if (raw === '' && i !== segments.length - 1) throw new Error('empty')
    let segment = raw
    if (raw.includes('%')) {
      segment = decodeURIComponent(raw)
      if (/%(2e|2f|5c|00|25)/i.test(segment)) throw new Error('double')
    }
    if (/[\\/?#]/.test(segment)) throw new Error('separator')
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(segment)) throw new Error('control')
    const name = segment.split(';', 1)[0] as string
    if (name === '.' || name === '..') throw new Error('dot')
    decoded.push(segment)
  }
  return { upstreamPath: upstreamPrefix + rawSuffix, decodedSuffix: decoded.join('/'), rawQuery }
}

t.test('property: the fast path (no `%`, no decoding) agrees with decoding every segment', async t => {
  const pieces = ['..', '.', '.a', 'a.', '%2e', '%41', '\\', ';', '..;x', '/', '//', '\u0001', '\u007f', 'é', '%C3%A9', 'x;y=1', '?q=1', '#', 'LstByNumber;maxrecs=3', 'a']
  const segment = fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: 4 }).map(a => a.join(''))
  const url = fc.array(segment, { minLength: 1, maxLength: 6 }).map(segs => '/m3/' + segs.join('/'))
  let plain = 0
  fc.assert(fc.property(url, u => {
    if (!u.includes('%')) plain++
    let expected: unknown
    try { expected = referenceGuard(u, '/m3', PREFIX) } catch { expected = 'refused' }
    let actual: unknown
    try { actual = guardPath(u, '/m3', PREFIX) } catch (err) { actual = err instanceof GatewayError && err.code === 'API_003' ? 'refused' : err }
    return JSON.stringify(actual) === JSON.stringify(expected)
  }), { numRuns: 5000 })
  t.ok(plain > 500, `the generator exercises the fast path (${plain})`)
})
