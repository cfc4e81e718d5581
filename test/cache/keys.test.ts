import t from 'tap'
import { cacheKey, cacheKeyPrefix, canonicalQuery } from '../../src/cache/keys.ts'

t.test('canonical query: sorted by name, repeated names keep their order, encoding normalised', async t => {
  t.equal(canonicalQuery('b=2&a=1'), canonicalQuery('a=1&b=2'))
  t.not(canonicalQuery('a=1&a=2'), canonicalQuery('a=2&a=1'), 'repeated parameters are not reordered')
  t.equal(canonicalQuery('a=%41'), canonicalQuery('a=A'))
  t.equal(canonicalQuery('q=a+b'), canonicalQuery('q=a%20b'))
  t.not(canonicalQuery('a'), canonicalQuery('a='), 'a flag differs from an empty value')
  t.equal(canonicalQuery('a=1&&b=2&'), canonicalQuery('b=2&a=1'))
  t.not(canonicalQuery('a=1;b=2'), canonicalQuery('a=1&b=2'), '; is not a separator')
})

t.test('keys are structured tuples: no two different requests collide by concatenation', async t => {
  const base = { system: 'm3', headers: {} }
  t.equal(cacheKey({ ...base, path: '/x', rawQuery: 'a=1&b=2' }), cacheKey({ ...base, path: '/x', rawQuery: 'b=2&a=1' }))
  t.not(cacheKey({ ...base, path: '/x', rawQuery: 'a=1' }), cacheKey({ ...base, path: '/x', rawQuery: 'a=2' }))
  t.not(cacheKey({ ...base, path: '/x"]', rawQuery: '' }), cacheKey({ ...base, path: '/x', rawQuery: '"]' }))
  t.not(cacheKey({ ...base, system: 'm3', path: '/x', rawQuery: '' }), cacheKey({ ...base, system: 'ln', path: '/x', rawQuery: '' }))
})

t.test('LN company, language and Accept are part of the key', async t => {
  const k = (headers: Record<string, string>) => cacheKey({ system: 'ln', path: '/o', rawQuery: '', headers })
  t.not(k({ 'x-infor-lncompany': '1971' }), k({ 'x-infor-lncompany': '1000' }))
  t.not(k({ 'accept-language': 'en' }), k({ 'accept-language': 'nl' }))
  t.equal(k({ 'x-api-key': 'a' }), k({ 'x-api-key': 'b' }), 'client identity is not: one service account, one answer')
})

t.test('prefixes select a system, or a path below it', async t => {
  const key = cacheKey({ system: 'm3', path: '/m3api-rest/v2/execute/MMS200MI/GetItmBasic', rawQuery: 'ITNO=A', headers: {} })
  t.ok(key.startsWith(cacheKeyPrefix('m3')))
  t.ok(key.startsWith(cacheKeyPrefix('m3', '/m3api-rest/v2/execute/MMS200MI')))
  t.notOk(key.startsWith(cacheKeyPrefix('m3', '/m3api-rest/v2/execute/CRS610MI')))
  t.notOk(key.startsWith(cacheKeyPrefix('ln')))
  t.equal(cacheKeyPrefix(), '')
})

t.test('the path enters the key exactly as sent to ION: no decoding, no normalisation', async t => {
  const k = (path: string) => cacheKey({ system: 'm3', path, rawQuery: '', headers: {} })
  t.not(k('/x/LstByNumber;maxrecs=3'), k('/x/LstByNumber%3Bmaxrecs=3'))
  t.not(k('/x/a%3Bb'), k('/x/a%3bb'), 'escape case')
  t.not(k('/x/A'), k('/x/%41'), 'even an unreserved character')
  t.equal(k('/x/a%3Bb'), k('/x/a%3Bb'))
})

t.test('a prefix with escapes matches only paths sent with the same escapes', async t => {
  const k = (path: string) => cacheKey({ system: 'ln', path, rawQuery: '', headers: {} })
  const encoded = cacheKeyPrefix('ln', '/o/Orders%3B')
  t.ok(k('/o/Orders%3Bx=1').startsWith(encoded))
  t.notOk(k('/o/Orders;x=1').startsWith(encoded))
  t.notOk(k('/o/Orders%3bx=1').startsWith(encoded))
  const plain = cacheKeyPrefix('ln', '/o/Orders')
  for (const path of ['/o/Orders;x=1', '/o/Orders%3Bx=1', '/o/Orders%3bx=1']) t.ok(k(path).startsWith(plain), `${path} below a plain prefix`)
  t.ok(k('/o/"quoted"').startsWith(cacheKeyPrefix('ln', '/o/"quo')), 'characters JSON escapes are escaped alike in key and prefix')
})

t.test('cache-busters named in the ignore list are left out of the query key; other parameters are not', async t => {
  const ignore = new Set(['_rid', '_'])
  t.equal(canonicalQuery('CUNO=1&_rid=123', ignore), canonicalQuery('_rid=987&CUNO=1', ignore))
  t.equal(canonicalQuery('CUNO=1&_=1700000000000', ignore), 'CUNO=1')
  t.equal(canonicalQuery('%5Frid=9&CUNO=1', ignore), 'CUNO=1', 'the decoded name is compared')
  t.equal(canonicalQuery('_rid&CUNO=1', ignore), 'CUNO=1', 'a bare flag too')
  t.not(canonicalQuery('CUNO=1&_rid_x=1', ignore), 'CUNO=1', 'only exact names')
  t.not(canonicalQuery('CUNO=1&_RID=1', ignore), 'CUNO=1', 'names are case-sensitive')
  t.not(canonicalQuery('CUNO=1&_rid=1'), canonicalQuery('CUNO=1&_rid=2'), 'without the list every parameter counts')
  const k = (rawQuery: string) => cacheKey({ system: 'm3', path: '/x', rawQuery, headers: {}, ignoreParams: ignore })
  t.equal(k('CUNO=1&_rid=1'), k('CUNO=1&_rid=2'))
  t.equal(k('CUNO=1&_rid=1'), k('CUNO=1'))
  t.not(k('CUNO=1&_rid=1'), k('CUNO=2&_rid=1'))
})
