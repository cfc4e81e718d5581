import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig, resolveConfig } from '../src/config.ts'
import { sampleIonApi } from './fixtures/ionapi.ts'

const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-config-'))
function writeIonApi (name: string, content: string): string {
  const file = join(dir, name)
  writeFileSync(file, content)
  return file
}
const goodFile = writeIonApi('good.ionapi', JSON.stringify(sampleIonApi))
const secrets = [sampleIonApi.cs, sampleIonApi.sask, sampleIonApi.saak, sampleIonApi.ci]

function configErrorOf (fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

function assertNoSecret (t: Test, message: string): void {
  for (const s of secrets) t.notOk(message.includes(s), 'message does not leak a credential')
}

t.test('defaults follow the documented contract (README "Configuration")', async t => {
  const config = loadConfig({ ION_API_FILE: goodFile })
  t.equal(config.port, 3000)
  t.equal(config.host, '0.0.0.0')
  t.equal(config.ion.grant, 'password')
  t.equal(config.cache.driver, 'memory')
  t.same(config.cache.ttlS, { m3: 300, ln: 300, idm: 600 })
  t.equal(config.cache.maxBytes, 67108864)
  t.equal(config.upstream.timeoutMs, 30000)
  t.equal(config.rateLimit.failOpen, true)
  t.equal(config.trustProxy, false)
  t.same(config.corsOrigins, [])
  t.same(config.cache.ignoreParams, ['_rid', '_'], 'cache-busters of the M3 client library and jQuery')
  t.equal(config.publicUrl, undefined)
  t.same(config.ion.egress, { noProxy: [] }, 'ION is reached directly, Node\'s CAs only')
  t.ok(config.m3ReadTransactions.test('GetItmBasic'))
  t.notOk(config.m3ReadTransactions.test('ChgBasicData'))
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.cache), 'config is frozen')
  t.same(config.requestLimits, {
    maxRequestHeaders: 100,
    maxHeaderBytes: 16384,
    maxUrlBytes: 8192,
    maxUploadBytes: 33554432,
    headersTimeoutMs: 10000,
    requestBodyTimeoutMs: 30000,
    maxConnections: 0,
  })
})

t.test('derives ION endpoints from the .ionapi file', async t => {
  const config = loadConfig({ ION_API_FILE: goodFile })
  t.equal(config.ion.apiBaseUrl, 'https://mingle-ionapi.example.com/ACME_TST')
  t.equal(config.ion.tokenUrl, 'https://mingle-sso.example.com:443/ACME_TST/as/token.oauth2')
  t.equal(config.ion.revokeUrl, 'https://mingle-sso.example.com:443/ACME_TST/as/revoke_token.oauth2')
  t.equal(config.ion.credentials.serviceAccountAccessKey, sampleIonApi.saak)
})

t.test('coerces and validates typed variables', async t => {
  const config = loadConfig({
    ION_API_FILE: goodFile,
    PORT: '8080',
    RATE_LIMIT_FAIL_OPEN: 'false',
    CORS_ORIGINS: 'https://a.example, https://b.example',
    TRUST_PROXY: '10.0.0.0/8,127.0.0.1',
    CACHE_DRIVER: 'redis',
    REDIS_URL: 'redis://127.0.0.1:6379',
    UNRELATED_VARIABLE: 'ignored',
  })
  t.equal(config.port, 8080)
  t.equal(config.rateLimit.failOpen, false)
  t.same(config.corsOrigins, ['https://a.example', 'https://b.example'])
  t.same(config.trustProxy, ['10.0.0.0/8', '127.0.0.1'])
  t.same(config.redis, { mode: 'standalone', url: 'redis://127.0.0.1:6379' })
})

t.test('a missing ION_API_FILE variable names it', async t => {
  const err = configErrorOf(() => loadConfig({}))
  t.match(err.message, /ION_API_FILE is required/)
})

t.test('a file that does not exist names the variable', async t => {
  const err = configErrorOf(() => loadConfig({ ION_API_FILE: join(dir, 'nope.ionapi') }))
  t.match(err.message, /ION_API_FILE: cannot read .*nope\.ionapi \(ENOENT\)/)
})

t.test('a file that is not JSON says so without quoting its content', async t => {
  const file = writeIonApi('broken.ionapi', `{"cs": "${sampleIonApi.cs}", broken`)
  const err = configErrorOf(() => loadConfig({ ION_API_FILE: file }))
  t.match(err.message, /is not valid JSON/)
  assertNoSecret(t, err.message)
})

t.test('a JSON file that is not an object is refused', async t => {
  const err = configErrorOf(() => loadConfig({ ION_API_FILE: writeIonApi('array.ionapi', '[1,2]') }))
  t.match(err.message, /must be a JSON object/)
})

t.test('missing fields are named, never their neighbours\' values', async t => {
  for (const field of ['ti', 'ci', 'cs', 'iu', 'pu', 'ot']) {
    const { [field as keyof typeof sampleIonApi]: _dropped, ...rest } = sampleIonApi
    const err = configErrorOf(() => resolveConfig({}, rest))
    t.match(err.message, new RegExp(`field "${field}" is required`), `names ${field}`)
    assertNoSecret(t, err.message)
  }
})

t.test('the password grant needs saak and sask; client_credentials does not', async t => {
  const { saak: _a, sask: _b, ...noServiceAccount } = sampleIonApi
  const err = configErrorOf(() => resolveConfig({}, noServiceAccount))
  t.match(err.message, /"saak" and "sask" are required for ION_GRANT=password/)
  const config = resolveConfig({ ION_GRANT: 'client_credentials' }, noServiceAccount)
  t.equal(config.ion.grant, 'client_credentials')
})

t.test('a bad URL field is named without its value', async t => {
  const err = configErrorOf(() => resolveConfig({}, { ...sampleIonApi, iu: 'not a url' }))
  t.match(err.message, /field "iu" must be an http\(s\) URL/)
  t.notOk(err.message.includes('not a url'))
})

t.test('a bad number names the variable', async t => {
  const err = configErrorOf(() => resolveConfig({ PORT: 'eighty' }, sampleIonApi))
  t.match(err.message, /PORT/)
  t.match(err.message, /integer/)
  const err2 = configErrorOf(() => resolveConfig({ UPSTREAM_TIMEOUT_MS: '0' }, sampleIonApi))
  t.match(err2.message, /UPSTREAM_TIMEOUT_MS/)
})

t.test('a bad enum names the variable', async t => {
  const err = configErrorOf(() => resolveConfig({ CACHE_DRIVER: 'memcached' }, sampleIonApi))
  t.equal(err.message, 'Invalid environment: CACHE_DRIVER must be equal to one of the allowed values (memory, redis, none)')
  const err2 = configErrorOf(() => resolveConfig({ ION_GRANT: 'implicit' }, sampleIonApi))
  t.match(err2.message, /ION_GRANT/)
})

t.test('a bad regular expression names M3_READ_TRANSACTIONS', async t => {
  const err = configErrorOf(() => resolveConfig({ M3_READ_TRANSACTIONS: '^(Get' }, sampleIonApi))
  t.match(err.message, /M3_READ_TRANSACTIONS/)
})

t.test('CACHE_DRIVER=redis without REDIS_URL is refused', async t => {
  const err = configErrorOf(() => resolveConfig({ CACHE_DRIVER: 'redis' }, sampleIonApi))
  t.match(err.message, /REDIS_URL/)
})

t.test('request limits: bad values name the variable; the headers timeout cannot exceed the request timeout', async t => {
  t.match(configErrorOf(() => resolveConfig({ MAX_REQUEST_HEADERS: '0' }, sampleIonApi)).message, /MAX_REQUEST_HEADERS/)
  t.match(configErrorOf(() => resolveConfig({ MAX_UPLOAD_BYTES: 'lots' }, sampleIonApi)).message, /MAX_UPLOAD_BYTES/)
  t.match(configErrorOf(() => resolveConfig({ MAX_CONNECTIONS: '-1' }, sampleIonApi)).message, /MAX_CONNECTIONS/)
  const err = configErrorOf(() => resolveConfig({ HEADERS_TIMEOUT_MS: '40000' }, sampleIonApi))
  t.match(err.message, /HEADERS_TIMEOUT_MS must not exceed REQUEST_BODY_TIMEOUT_MS/)
  t.equal(resolveConfig({ HEADERS_TIMEOUT_MS: '300', REQUEST_BODY_TIMEOUT_MS: '300' }, sampleIonApi).requestLimits.headersTimeoutMs, 300)
})

t.test('TRUST_PROXY refuses hop counts and garbage', async t => {
  t.match(configErrorOf(() => resolveConfig({ TRUST_PROXY: '2' }, sampleIonApi)).message, /TRUST_PROXY/)
  t.match(configErrorOf(() => resolveConfig({ TRUST_PROXY: 'the ingress' }, sampleIonApi)).message, /TRUST_PROXY/)
  t.equal(resolveConfig({ TRUST_PROXY: 'true' }, sampleIonApi).trustProxy, true)
})

t.test('Redis topologies: standalone, Cluster or Sentinel, never two at once', async t => {
  t.equal(resolveConfig({}, sampleIonApi).redis, undefined, 'no Redis by default')
  t.equal(resolveConfig({}, sampleIonApi).redisKeyPrefix, 'ion-gateway:')
  t.same(resolveConfig({ REDIS_URL: 'rediss://gw:pw@redis:6380/2' }, sampleIonApi).redis, { mode: 'standalone', url: 'rediss://gw:pw@redis:6380/2' })
  t.same(resolveConfig({ REDIS_CLUSTER_NODES: 'r1:7000, r2:7001,[::1]:7002', REDIS_USERNAME: 'gw', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' }, sampleIonApi).redis, {
    mode: 'cluster', nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7001 }, { host: '::1', port: 7002 }], username: 'gw', password: 'pw', tls: true,
  })
  t.same(resolveConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_MASTER: 'mymaster' }, sampleIonApi).redis, {
    mode: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], masterName: 'mymaster', tls: false,
  })
  const two = configErrorOf(() => resolveConfig({ REDIS_URL: 'redis://r:6379', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' }, sampleIonApi))
  t.match(two.message, /only one of REDIS_URL, REDIS_SENTINELS/)
  const three = configErrorOf(() => resolveConfig({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 's:26379' }, sampleIonApi))
  t.match(three.message, /REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS/)
  t.match(configErrorOf(() => resolveConfig({ REDIS_SENTINELS: 's:26379' }, sampleIonApi)).message, /REDIS_SENTINEL_MASTER/)
  t.match(configErrorOf(() => resolveConfig({ REDIS_CLUSTER_NODES: 'no-port' }, sampleIonApi)).message, /REDIS_CLUSTER_NODES must be/)
  t.match(configErrorOf(() => resolveConfig({ REDIS_CLUSTER_NODES: 'a:99999' }, sampleIonApi)).message, /REDIS_CLUSTER_NODES must be/)
  const mixed = configErrorOf(() => resolveConfig({ REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'hunter2' }, sampleIonApi))
  t.match(mixed.message, /in the URL/)
  t.notMatch(mixed.message, /hunter2/, 'the password is never echoed')
  t.match(configErrorOf(() => resolveConfig({ REDIS_KEY_PREFIX: 'a{b}' }, sampleIonApi)).message, /REDIS_KEY_PREFIX/)
  t.match(configErrorOf(() => resolveConfig({ CACHE_DRIVER: 'redis' }, sampleIonApi)).message, /REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS/)
  t.ok(resolveConfig({ CACHE_DRIVER: 'redis', REDIS_CLUSTER_NODES: 'a:1' }, sampleIonApi), 'any topology serves the Redis cache')
})

t.test('TOKEN_TIMEOUT_MS is its own deadline', async t => {
  t.equal(resolveConfig({}, sampleIonApi).token.timeoutMs, 15000)
  t.equal(resolveConfig({ UPSTREAM_TIMEOUT_MS: '100', TOKEN_TIMEOUT_MS: '20000' }, sampleIonApi).token.timeoutMs, 20000)
})

t.test('RELOGIN_INTERVAL_S and ION_LOGINS_PER_MIN: the login budget, 60 s and 10 by default, at least 1', async t => {
  const defaults = resolveConfig({}, sampleIonApi).token
  t.equal(defaults.reloginIntervalMs, 60000)
  t.equal(defaults.loginsPerMinute, 10)
  const set = resolveConfig({ RELOGIN_INTERVAL_S: '300', ION_LOGINS_PER_MIN: '4' }, sampleIonApi).token
  t.same([set.reloginIntervalMs, set.loginsPerMinute], [300000, 4])
  t.match(configErrorOf(() => resolveConfig({ RELOGIN_INTERVAL_S: '0' }, sampleIonApi)).message, /RELOGIN_INTERVAL_S/)
  t.match(configErrorOf(() => resolveConfig({ ION_LOGINS_PER_MIN: '0' }, sampleIonApi)).message, /ION_LOGINS_PER_MIN/)
  t.equal(defaults.loginsPerDay, 500, 'ION_LOGINS_PER_DAY: 500 by default')
  t.equal(resolveConfig({ ION_LOGINS_PER_DAY: '40' }, sampleIonApi).token.loginsPerDay, 40)
  t.match(configErrorOf(() => resolveConfig({ ION_LOGINS_PER_DAY: '0' }, sampleIonApi)).message, /ION_LOGINS_PER_DAY/)
})

t.test('REDIS_SENTINEL_PASSWORD goes with Sentinel only', async t => {
  t.same(resolveConfig({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_PASSWORD: 'spw' }, sampleIonApi).redis,
    { mode: 'sentinel', sentinels: [{ host: 's', port: 26379 }], masterName: 'm', sentinelPassword: 'spw', tls: false })
  const err = configErrorOf(() => resolveConfig({ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_PASSWORD: 'spw' }, sampleIonApi))
  t.match(err.message, /REDIS_SENTINEL_PASSWORD is only for REDIS_SENTINELS/)
  t.notMatch(err.message, /spw/)
})

t.test('PUBLIC_URL: an http(s) base URL, kept without its trailing slash; anything else is refused without echoing it', async t => {
  const cfg = (env: Record<string, string>) => resolveConfig(env, sampleIonApi)
  t.equal(cfg({ PUBLIC_URL: 'https://api.example.com/' }).publicUrl, 'https://api.example.com')
  t.equal(cfg({ PUBLIC_URL: 'https://API.example.com:8443/ion/' }).publicUrl, 'https://api.example.com:8443/ion')
  for (const bad of ['ftp://x', 'api.example.com', 'https://u:p4ss@api.example.com', 'https://api.example.com/?a=1', 'https://api.example.com/#x']) {
    const err = configErrorOf(() => cfg({ PUBLIC_URL: bad }))
    t.match(err.message, /PUBLIC_URL/, `${bad}: names the variable`)
    t.notOk(err.message.includes('p4ss'), 'never the value')
  }
})

t.test('egress: HTTPS_PROXY, HTTP_PROXY, NO_PROXY and ION_CA_FILE', async t => {
  const cfg = (env: Record<string, string>) => resolveConfig(env, sampleIonApi)
  const egress = cfg({ HTTPS_PROXY: 'http://user:s3cret@proxy.corp:3128', HTTP_PROXY: 'http://proxy.corp:3128', NO_PROXY: 'localhost, .corp.example  127.0.0.1:8080' }).ion.egress
  t.same(egress, { httpsProxy: 'http://user:s3cret@proxy.corp:3128', httpProxy: 'http://proxy.corp:3128', noProxy: ['localhost', '.corp.example', '127.0.0.1:8080'] })
  t.same(cfg({ HTTPS_PROXY: '', HTTP_PROXY: '' }).ion.egress, { noProxy: [] }, 'empty means none')
  for (const bad of ['socks5://user:s3cret@proxy:1080', 'proxy.corp:3128', 'http://']) {
    const err = configErrorOf(() => cfg({ HTTPS_PROXY: bad }))
    t.match(err.message, /HTTPS_PROXY/, `${bad}: names the variable`)
    t.notOk(err.message.includes('s3cret'), 'never the value (proxy URLs carry credentials)')
  }
  const pem = writeIonApi('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
  t.match(cfg({ ION_CA_FILE: pem }).ion.egress.ca, /BEGIN CERTIFICATE/)
  t.match(configErrorOf(() => cfg({ ION_CA_FILE: join(dir, 'missing.pem') })).message, /ION_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/)
  t.match(configErrorOf(() => cfg({ ION_CA_FILE: goodFile })).message, /ION_CA_FILE: .* holds no PEM certificate/)
})
