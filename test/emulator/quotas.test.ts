import t from 'tap'
import { request } from 'undici'
import { basic, bodyClient, call, claims, ITEM, ORDERS, passwordForm, passwordToken, postForm, startEmulator, tokenUrl } from './helpers.ts'

const A100 = `${ITEM}?ITNO=A100`

async function control (url: string, body: unknown): Promise<number> {
  const res = await request(url, { method: 'POST', body: JSON.stringify(body) })
  await res.body.dump()
  return res.statusCode
}

t.test('scope: the requested scope, "null" without one; client_credentials never gets a refresh token', async t => {
  const e = await startEmulator(t)
  const scoped = await postForm(tokenUrl(e), { ...passwordForm(e), scope: 'openid' })
  t.equal(claims(scoped.json.access_token).scope, 'openid')
  const refreshed = await postForm(tokenUrl(e), { grant_type: 'refresh_token', refresh_token: scoped.json.refresh_token, ...bodyClient(e) })
  t.equal(claims(refreshed.json.access_token).scope, 'openid', 'a refresh keeps the scope')
  const cc = await postForm(tokenUrl(e), { grant_type: 'client_credentials' }, { authorization: basic(e.ionapi.ci, e.ionapi.cs) })
  t.equal(cc.status, 200)
  t.notOk('refresh_token' in cc.json)
  t.match(claims(cc.json.access_token), { scope: 'null', client_id: e.ionapi.ci, Tenant: 'ACME_TST', Identity2: String })
})

t.test('refresh tokens only when the app issues them: none issued, the refresh grant refused', async t => {
  const e = await startEmulator(t)
  const held = await passwordToken(e)
  e.setIssueRefreshTokens(false)
  const res = await postForm(tokenUrl(e), passwordForm(e))
  t.notOk('refresh_token' in res.json)
  const refused = await postForm(tokenUrl(e), { grant_type: 'refresh_token', refresh_token: held.refresh_token, ...bodyClient(e) })
  t.equal(refused.status, 400)
  t.equal(refused.json.error, 'unauthorized_client')
  t.equal(await control(`${e.url}/__emulator/faults`, { issueRefreshTokens: true }), 200)
  const again = await postForm(tokenUrl(e), { grant_type: 'refresh_token', refresh_token: held.refresh_token, ...bodyClient(e) })
  t.equal(again.status, 200, 'switched back on through the HTTP controls')
})

t.test('live tokens per client: one more than the limit revokes the oldest', async t => {
  const e = await startEmulator(t, { liveTokensPerClient: 3 })
  const tokens = []
  for (let i = 0; i < 4; i++) tokens.push((await passwordToken(e)).access_token)
  t.equal(e.stats.liveTokens(), 3, `live tokens: ${e.stats.liveTokens()}`)
  const oldest = await call(e, A100, tokens[0])
  t.equal(oldest.status, 401)
  t.match(oldest.json.error_description, /revoked/)
  for (const token of tokens.slice(1)) t.equal((await call(e, A100, token)).status, 200)
  e.faults.liveTokenLimit(0)
  for (let i = 0; i < 5; i++) await passwordToken(e)
  t.equal(e.stats.liveTokens(), 8, `no limit: ${e.stats.liveTokens()} live`)
  t.equal((await call(e, A100, tokens[1])).status, 200)
  e.faults.clear()
  await passwordToken(e)
  t.equal(e.stats.liveTokens(), 3, `clear() restores the option's limit: ${e.stats.liveTokens()} live`)
  const fresh = await startEmulator(t)
  for (let i = 0; i < 5; i++) await passwordToken(fresh)
  t.equal(fresh.stats.liveTokens(), 5, 'the default limit is ION\'s 100')
})

t.test('service-account login quota: 20 a minute by default, then 429 with Retry-After; refreshes are not logins', async t => {
  let now = Date.parse('2026-03-02T10:00:00Z')
  const e = await startEmulator(t, { now: () => now })
  let refresh = ''
  for (let i = 0; i < 20; i++) {
    const res = await postForm(tokenUrl(e), passwordForm(e))
    t.equal(res.status, 200, `login ${i + 1}`)
    refresh = res.json.refresh_token
  }
  now += 15_000
  const limited = await postForm(tokenUrl(e), passwordForm(e))
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '45')
  t.equal(limited.json.error, 'temporarily_unavailable')
  t.match(limited.json.error_description, /20 a minute/)
  t.notMatch(limited.text, e.ionapi.sask)
  const refreshed = await postForm(tokenUrl(e), { grant_type: 'refresh_token', refresh_token: refresh, ...bodyClient(e) })
  t.equal(refreshed.status, 200, 'the refresh grant is not a login')
  t.same(e.stats.throttled(), { calls: 0, logins: 1 })
  now += 45_000
  t.equal((await postForm(tokenUrl(e), passwordForm(e))).status, 200, 'a minute after the first login')
  e.faults.loginQuota(0)
  for (let i = 0; i < 25; i++) t.equal((await postForm(tokenUrl(e), passwordForm(e))).status, 200)
  t.equal(await control(`${e.url}/__emulator/faults`, { loginQuotaPerMinute: 1 }), 200)
  now += 60_000
  t.equal((await postForm(tokenUrl(e), passwordForm(e))).status, 200)
  t.equal((await postForm(tokenUrl(e), passwordForm(e))).status, 429, 'set through the HTTP controls')
})

t.test('tenant call quota: 429 with Retry-After once used up, then free again', async t => {
  let now = Date.parse('2026-03-02T10:00:00Z')
  const e = await startEmulator(t, { callQuotaPerMinute: 5, now: () => now })
  const { access_token: token } = await passwordToken(e)
  for (let i = 0; i < 5; i++) t.equal((await call(e, i % 2 ? ORDERS : A100, token)).status, 200)
  now += 20_500
  const limited = await call(e, A100, token)
  t.equal(limited.status, 429)
  t.equal(limited.headers['retry-after'], '40')
  t.match(limited.json, { error: { code: 'ION_429', message: String, detail: /5 a minute/ } })
  t.equal((await call(e, A100)).status, 401, 'a call without a token is refused before the quota')
  t.same(e.stats.throttled(), { calls: 1, logins: 0 })
  now += 39_500
  t.equal((await call(e, A100, token)).status, 200)
  t.equal(await control(`${e.url}/__emulator/faults`, { callQuotaPerMinute: 0 }), 200)
  for (let i = 0; i < 10; i++) t.equal((await call(e, A100, token)).status, 200)
  const stats = await request(`${e.url}/__emulator/stats`)
  t.match(await stats.body.json(), { throttled: { calls: 1, logins: 0 } })
  const unlimited = await startEmulator(t)
  const other = await passwordToken(unlimited)
  for (let i = 0; i < 50; i++) t.equal((await call(unlimited, A100, other.access_token)).status, 200)
  t.equal(unlimited.stats.throttled().calls, 0, 'no call quota by default')
})

t.test('LN answers 401 now and then to a valid token: every n-th LN call, settable and cleared', async t => {
  const e = await startEmulator(t, { lnUnauthorizedEvery: 3 })
  const { access_token: token } = await passwordToken(e)
  const statuses = []
  for (let i = 0; i < 6; i++) statuses.push((await call(e, ORDERS, token)).status)
  t.same(statuses, [200, 200, 401, 200, 200, 401])
  const spurious = await call(e, `${ORDERS}?$top=1`, token)
  t.equal(spurious.status, 200)
  e.faults.lnUnauthorizedEvery(1)
  const denied = await call(e, ORDERS, token)
  t.equal(denied.status, 401)
  t.match(denied.headers['www-authenticate'], /^Bearer realm="ION", error="invalid_token"/)
  t.match(denied.json.error_description, /OAuth \[U14\]/)
  t.equal((await call(e, A100, token)).status, 200, 'M3 is not affected, the token is good')
  t.equal(await control(`${e.url}/__emulator/faults`, { lnUnauthorizedEvery: 0 }), 200)
  t.equal((await call(e, ORDERS, token)).status, 200)
  e.faults.lnUnauthorizedEvery(2)
  e.faults.clear()
  const after = []
  for (let i = 0; i < 3; i++) after.push((await call(e, ORDERS, token)).status)
  t.same(after, [200, 200, 401], 'clear() restores the option')
})

t.test('the HTTP controls refuse bad limits and switches', async t => {
  const e = await startEmulator(t)
  const u = `${e.url}/__emulator/faults`
  for (const body of [
    { callQuotaPerMinute: -1 }, { loginQuotaPerMinute: 1.5 }, { liveTokensPerClient: 'ten' }, { lnUnauthorizedEvery: null },
    { lnErrorFormat: 'xml' }, { m3V2ErrorStatus: 500 }, { issueRefreshTokens: 'yes' }, { m3PartialFailureNext: { count: 1 } },
  ]) {
    t.equal(await control(u, body), 400, JSON.stringify(body))
  }
  t.equal(await control(u, { lnErrorFormat: 'infor', m3PartialFailureNext: { count: 1, rows: 0 } }), 200)
  const { access_token: token } = await passwordToken(e)
  t.match((await call(e, `${ORDERS}('NOPE')`, token)).json, { Code: String, InnerError: Object })
  t.throws(() => e.faults.callQuota(-1), RangeError)
  t.throws(() => e.faults.m3PartialFailureNext(1, -2), RangeError)
})
