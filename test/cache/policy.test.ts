import t from 'tap'
import { freshness, refuseToStore } from '../../src/cache/policy.ts'

const TTL = 300
const STALE = 3600

t.test('TTL = min(CACHE_TTL_<SYSTEM>, (s-maxage ?? max-age) - Age); 0 = not stored', async t => {
  const ttl = (headers: Record<string, string | string[]>) => freshness(headers, TTL, STALE).ttlS
  t.equal(ttl({}), TTL, 'no directive: the gateway\'s TTL')
  t.equal(ttl({ 'cache-control': 'public' }), TTL)
  t.equal(ttl({ 'cache-control': 'max-age=60' }), 60)
  t.equal(ttl({ 'cache-control': 'max-age=6000' }), TTL, 'never longer than the gateway\'s TTL')
  t.equal(ttl({ 'cache-control': 'max-age=0' }), 0)
  t.equal(ttl({ 'cache-control': 's-maxage=30, max-age=60' }), 30, 's-maxage first')
  t.equal(ttl({ 'cache-control': 'max-age=60, s-maxage=0' }), 0)
  t.equal(ttl({ 'cache-control': 's-maxage=60, max-age=0' }), 60, 'a shared cache reads s-maxage, not max-age')
  t.equal(ttl({ 'Cache-Control': 'max-age=60' } as Record<string, string>), TTL, 'header names arrive lower-cased')
  t.equal(ttl({ 'cache-control': 'MAX-AGE=60' }), 60, 'directive names are case-insensitive')
  t.equal(ttl({ 'cache-control': 'max-age="60"' }), 60, 'a quoted value is read')
  t.equal(ttl({ 'cache-control': ['max-age=60', 'max-age=30'] }), 30, 'a repeated directive counts with its smallest value')
  for (const bad of ['max-age=abc', 'max-age=-1', 'max-age=', 'max-age', 's-maxage=1.5']) t.equal(ttl({ 'cache-control': bad }), 0, `${bad}: unreadable = stale`)
  t.equal(ttl({ 'cache-control': 'max-age=60', age: '50' }), 10, 'ION\'s Age is deducted')
  t.equal(ttl({ 'cache-control': 'max-age=60', age: '90' }), 0, 'already expired upstream')
  t.equal(ttl({ age: '9000' }), TTL, 'Age without a lifetime from ION leaves the gateway\'s TTL')
  t.equal(freshness({ 'cache-control': 'max-age=60', age: '50' }, TTL, STALE).ageS, 50)
})

t.test('s-maxage, must-revalidate and proxy-revalidate: never served stale', async t => {
  const staleS = (cc: string) => freshness({ 'cache-control': cc }, TTL, STALE).staleS
  t.equal(staleS('max-age=60'), STALE)
  t.equal(staleS('s-maxage=60'), 0)
  t.equal(staleS('max-age=60, must-revalidate'), 0)
  t.equal(staleS('max-age=60, proxy-revalidate'), 0)
})

t.test('what is never stored', async t => {
  const body = Buffer.from('{}')
  t.equal(refuseToStore(200, { 'cache-control': 'no-cache' }, body, 100), 'cache-control')
  t.equal(refuseToStore(200, { 'cache-control': 'no-store' }, body, 100), 'cache-control')
  t.equal(refuseToStore(200, { 'cache-control': 'private, max-age=60' }, body, 100), 'cache-control')
  t.equal(refuseToStore(200, { vary: 'Prefer, Accept' }, body, 100), undefined, 'Prefer is keyed, so Vary: Prefer is covered')
  t.equal(refuseToStore(200, { vary: 'Origin' }, body, 100), 'vary')
})
