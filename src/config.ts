import { readFileSync } from 'node:fs'
import envSchema from 'env-schema'
import { ConfigError } from './config-error.ts'
import { Type, type Static } from './typebox.ts'
import { parseIonApi, IonApiFileError, type IonGrant, type IonSettings } from './ion/ionapi.ts'
import { parseNoProxy, type Egress } from './proxy/egress.ts'

// Defined apart so that modules the keys CLI loads need not load this one (env-schema, ajv, undici).
export { ConfigError }

/**
 * The environment contract (README "Configuration", docs/design.md "Contracts"). This module is the only reader of
 * process.env.
 */
function StringEnum<const T extends readonly string[]> (values: T, defaultValue: T[number]) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], default: defaultValue })
}

export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  LOG_LEVEL: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
  ION_API_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ION_GRANT: StringEnum(['password', 'client_credentials'], 'password'),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_SENTINELS: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_SENTINEL_MASTER: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_TLS: Type.Boolean({ default: false }),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[^{}\\s]*$', maxLength: 64, default: 'ion-gateway:' }),
  CACHE_DRIVER: StringEnum(['memory', 'redis', 'none'], 'memory'),
  CACHE_MAX_BYTES: Type.Integer({ minimum: 1024, default: 67108864 }),
  CACHE_MAX_ENTRY_BYTES: Type.Integer({ minimum: 1, default: 1048576 }),
  CACHE_TTL_M3: Type.Integer({ minimum: 0, default: 300 }),
  CACHE_TTL_LN: Type.Integer({ minimum: 0, default: 300 }),
  CACHE_TTL_IDM: Type.Integer({ minimum: 0, default: 600 }),
  CACHE_STALE_S: Type.Integer({ minimum: 0, default: 3600 }),
  CACHE_IGNORE_PARAMS: Type.String({ default: '_rid,_' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  HTTPS_PROXY: Type.Optional(Type.String({ pattern: '^(https?://|$)' })),
  HTTP_PROXY: Type.Optional(Type.String({ pattern: '^(https?://|$)' })),
  NO_PROXY: Type.Optional(Type.String()),
  ION_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  M3_READ_TRANSACTIONS: Type.String({ minLength: 1, default: '^(Get|Lst|Sel|Search)' }),
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 1000 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1, default: 900000 }),
  RATE_LIMIT_FAIL_OPEN: Type.Boolean({ default: true }),
  CLIENT_API_KEYS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  CORS_ORIGINS: Type.Optional(Type.String()),
  TRUST_PROXY: Type.String({ default: 'false' }),
  UPSTREAM_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 30000 }),
  UPSTREAM_CONNECTIONS: Type.Integer({ minimum: 1, default: 64 }),
  UPSTREAM_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
  UPSTREAM_MAX_INFLIGHT: Type.Integer({ minimum: 1, default: 64 }),
  ION_CALLS_PER_MIN: Type.Integer({ minimum: 0, default: 0 }),
  TOKEN_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15000 }),
  TOKEN_REFRESH_BUFFER_MS: Type.Integer({ minimum: 0, default: 300000 }),
  TOKEN_CHECK_INTERVAL_MS: Type.Integer({ minimum: 100, default: 60000 }),
  RELOGIN_INTERVAL_S: Type.Integer({ minimum: 1, default: 60 }),
  ION_LOGINS_PER_MIN: Type.Integer({ minimum: 1, default: 10 }),
  ION_LOGINS_PER_DAY: Type.Integer({ minimum: 1, default: 500 }),
  SHUTDOWN_DELAY_MS: Type.Integer({ minimum: 0, default: 5000 }),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 1000 }),
  MAX_REQUEST_HEADERS: Type.Integer({ minimum: 1, default: 100 }),
  MAX_HEADER_BYTES: Type.Integer({ minimum: 1024, default: 16384 }),
  MAX_URL_BYTES: Type.Integer({ minimum: 256, default: 8192 }),
  MAX_UPLOAD_BYTES: Type.Integer({ minimum: 1, default: 33554432 }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 10000 }),
  REQUEST_BODY_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 30000 }),
  MAX_CONNECTIONS: Type.Integer({ minimum: 0, default: 0 }),
  // OpenTelemetry's standard variables (tracing is on when an OTLP endpoint is set); "" counts as unset.
  OTEL_SDK_DISABLED: Type.Boolean({ default: false }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^(https?://|$)' })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Type.String({ pattern: '^(https?://|$)' })),
  OTEL_EXPORTER_OTLP_HEADERS: Type.Optional(Type.String()),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: Type.Optional(Type.String()),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, default: 'ion-gateway' }),
  OTEL_RESOURCE_ATTRIBUTES: Type.Optional(Type.String()),
  OTEL_TRACES_SAMPLER: StringEnum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'], 'parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: Type.Number({ minimum: 0, maximum: 1, default: 1 }),
  OTEL_BSP_SCHEDULE_DELAY: Type.Integer({ minimum: 1, default: 5000 }),
  OTEL_EXPORTER_OTLP_TIMEOUT: Type.Integer({ minimum: 1, default: 10000 }),
  // Development aids (README "Developing"): never set by the image or the chart.
  NODE_ENV: Type.Optional(Type.String()),
  ION_TOKEN_DIR: Type.Optional(Type.String({ minLength: 1 })),
})

export type Env = Static<typeof EnvSchema>
export type EnvInput = Record<string, string | undefined>

export type LogLevel = Env['LOG_LEVEL']
export type CacheDriverName = Env['CACHE_DRIVER']
export type TrustProxy = boolean | string[]

export type TracesSampler = Env['OTEL_TRACES_SAMPLER']

/** Where and how spans are exported (OTLP/HTTP); absent when tracing is off. */
export interface TracingConfig {
  /** The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, or OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`. */
  url: string
  /** Sent with every export (often a collector's API key): never logged. */
  headers: Record<string, string>
  serviceName: string
  /** OTEL_RESOURCE_ATTRIBUTES (`deployment.environment.name=prd,…`); service.name is OTEL_SERVICE_NAME's. */
  resourceAttributes: Record<string, string>
  sampler: TracesSampler
  /** The ratio of the traceidratio samplers (root spans). */
  samplerRatio: number
  /** The batch processor's export interval. */
  scheduledDelayMs: number
  /** One export, its retries included; also bounds the last export at shutdown. */
  exportTimeoutMs: number
}

export interface HostPort { host: string, port: number }
interface RedisAuth { username?: string, password?: string, tls: boolean }
export type RedisConnection =
  | { mode: 'standalone', url: string }
  | ({ mode: 'cluster', nodes: HostPort[] } & RedisAuth)
  | ({ mode: 'sentinel', sentinels: HostPort[], masterName: string, sentinelPassword?: string } & RedisAuth)
export type RedisMode = RedisConnection['mode']

export interface Config {
  port: number
  host: string
  logLevel: LogLevel
  /** The `.ionapi` settings, and the way to ION (egress proxy, private CA) for token and data calls alike. */
  ion: IonSettings & { egress: Egress }
  /**
   * PUBLIC_URL without a trailing slash: the gateway's own URL, put in place of ION's in OData links. Unset: built
   * per request from its Host (X-Forwarded-Proto/Host only from TRUST_PROXY peers).
   */
  publicUrl: string | undefined
  /** Where Redis is (standalone, Cluster or Sentinel), or undefined when the gateway runs without it. */
  redis: RedisConnection | undefined
  /** Prefix of every Redis key; the tenant namespace goes below it. */
  redisKeyPrefix: string
  cache: {
    driver: CacheDriverName
    maxBytes: number
    maxEntryBytes: number
    ttlS: { m3: number, ln: number, idm: number }
    staleS: number
    /** Query parameters left out of cache keys (cache-busters); still sent to ION. */
    ignoreParams: string[]
  }
  m3ReadTransactions: RegExp
  rateLimit: { max: number, windowMs: number, failOpen: boolean }
  clientApiKeysFile: string | undefined
  corsOrigins: string[]
  trustProxy: TrustProxy
  /**
   * maxInflight: requests to ION in progress per system on this replica (more wait within their deadline).
   * ionCallsPerMinute: calls to ION per minute for the tenant, across replicas with Redis; 0 = not counted.
   */
  upstream: { timeoutMs: number, connections: number, retries: number, maxInflight: number, ionCallsPerMinute: number }
  /**
   * timeoutMs bounds one call to ION's token endpoint, whatever UPSTREAM_TIMEOUT_MS is. ION 401s cause at most one
   * login per reloginIntervalMs; logins of every kind stay within loginsPerMinute and loginsPerDay (cluster-wide with Redis).
   */
  token: { timeoutMs: number, refreshBufferMs: number, checkIntervalMs: number, reloginIntervalMs: number, loginsPerMinute: number, loginsPerDay: number }
  /** SHUTDOWN_DELAY_MS; its default is 0 with NODE_ENV=development (a watch restart must not wait for a load balancer). */
  shutdownDelayMs: number
  /**
   * ION_TOKEN_DIR: a development aid. The ION access token is kept in a file there (mode 600) so that a restarted
   * process reuses it instead of logging in again. Undefined in production (refused with NODE_ENV=production).
   */
  tokenDir: string | undefined
  /** Past this event-loop delay the gateway sheds load with SYS_004 (0 = never). */
  maxEventLoopDelayMs: number
  requestLimits: RequestLimits
  /** OpenTelemetry traces; undefined (off) unless an OTLP endpoint is set. */
  tracing: TracingConfig | undefined
}

/** What a client may send: refused at the edge, before anything reaches ION. */
export interface RequestLimits {
  maxRequestHeaders: number
  /** Header names and values, in total. */
  maxHeaderBytes: number
  /** The request target (path and query). */
  maxUrlBytes: number
  /** A request body, declared or streamed. */
  maxUploadBytes: number
  /** From a request's first byte until its headers are complete. */
  headersTimeoutMs: number
  /** From a request's first byte until its body is complete. */
  requestBodyTimeoutMs: number
  /** Open client sockets; 0 = no cap. */
  maxConnections: number
}

// env-schema sets `additionalProperties: false` on the schema it is given, so it gets a copy, not EnvSchema; always
// the same copy, because its ajv keeps the compiled validator per schema object (compiling it costs ~25 ms).
let validatedSchema: typeof EnvSchema | undefined

export function parseEnv (env: EnvInput): Env {
  try {
    validatedSchema ??= structuredClone(EnvSchema)
    // env: false — read only what we are given; ajv coerces strings, applies defaults and drops unknown variables.
    return envSchema<Env>({ schema: validatedSchema, data: { ...env }, env: false, dotenv: false })
  } catch (err) {
    throw new ConfigError(`Invalid environment: ${describeEnvErrors(err)}`)
  }
}

/** Builds the typed, frozen configuration from environment variables and an already parsed `.ionapi` object. */
export function resolveConfig (env: EnvInput, ionapi: unknown, source = '.ionapi'): Config {
  const e = parseEnv(env)
  let ion: IonSettings
  try {
    ion = parseIonApi(ionapi, e.ION_GRANT as IonGrant, source)
  } catch (err) {
    if (err instanceof IonApiFileError) throw new ConfigError(`Invalid ION_API_FILE: ${err.message}`)
    throw err
  }
  let m3ReadTransactions: RegExp
  try {
    m3ReadTransactions = new RegExp(e.M3_READ_TRANSACTIONS)
  } catch {
    throw new ConfigError('Invalid environment: M3_READ_TRANSACTIONS must be a valid regular expression')
  }
  const redis = resolveRedis(e)
  if (e.CACHE_DRIVER === 'redis' && !redis) {
    throw new ConfigError('Invalid environment: CACHE_DRIVER=redis needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS')
  }
  if (e.ION_TOKEN_DIR !== undefined && e.NODE_ENV === 'production') {
    throw new ConfigError('Invalid environment: ION_TOKEN_DIR is a development aid (it writes the ION access token to disk) and is refused with NODE_ENV=production')
  }
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_BODY_TIMEOUT_MS) {
    throw new ConfigError('Invalid environment: HEADERS_TIMEOUT_MS must not exceed REQUEST_BODY_TIMEOUT_MS (the headers are part of the request)')
  }
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    ion: { ...ion, egress: resolveEgress(e) },
    publicUrl: resolvePublicUrl(e.PUBLIC_URL),
    redis,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    cache: {
      driver: e.CACHE_DRIVER,
      maxBytes: e.CACHE_MAX_BYTES,
      maxEntryBytes: e.CACHE_MAX_ENTRY_BYTES,
      ttlS: { m3: e.CACHE_TTL_M3, ln: e.CACHE_TTL_LN, idm: e.CACHE_TTL_IDM },
      staleS: e.CACHE_STALE_S,
      ignoreParams: parseList(e.CACHE_IGNORE_PARAMS),
    },
    m3ReadTransactions,
    rateLimit: { max: e.RATE_LIMIT_MAX, windowMs: e.RATE_LIMIT_WINDOW_MS, failOpen: e.RATE_LIMIT_FAIL_OPEN },
    clientApiKeysFile: e.CLIENT_API_KEYS_FILE,
    corsOrigins: parseList(e.CORS_ORIGINS),
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    upstream: {
      timeoutMs: e.UPSTREAM_TIMEOUT_MS,
      connections: e.UPSTREAM_CONNECTIONS,
      retries: e.UPSTREAM_RETRIES,
      maxInflight: e.UPSTREAM_MAX_INFLIGHT,
      ionCallsPerMinute: e.ION_CALLS_PER_MIN,
    },
    token: {
      timeoutMs: e.TOKEN_TIMEOUT_MS,
      refreshBufferMs: e.TOKEN_REFRESH_BUFFER_MS,
      checkIntervalMs: e.TOKEN_CHECK_INTERVAL_MS,
      reloginIntervalMs: e.RELOGIN_INTERVAL_S * 1000,
      loginsPerMinute: e.ION_LOGINS_PER_MIN,
      loginsPerDay: e.ION_LOGINS_PER_DAY,
    },
    shutdownDelayMs: shutdownDelayMs(env, e),
    tokenDir: e.ION_TOKEN_DIR,
    maxEventLoopDelayMs: e.MAX_EVENT_LOOP_DELAY_MS,
    requestLimits: {
      maxRequestHeaders: e.MAX_REQUEST_HEADERS,
      maxHeaderBytes: e.MAX_HEADER_BYTES,
      maxUrlBytes: e.MAX_URL_BYTES,
      maxUploadBytes: e.MAX_UPLOAD_BYTES,
      headersTimeoutMs: e.HEADERS_TIMEOUT_MS,
      requestBodyTimeoutMs: e.REQUEST_BODY_TIMEOUT_MS,
      maxConnections: e.MAX_CONNECTIONS,
    },
    tracing: resolveTracing(e),
  }
  return deepFreeze(config)
}

/** Reads the environment (process.env by default) and the `.ionapi` file it names. */
export function loadConfig (env: EnvInput = process.env): Config {
  const file = env.ION_API_FILE
  if (!file) {
    throw new ConfigError('Invalid environment: ION_API_FILE is required (path to the .ionapi file of a Backend Service app)')
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`Invalid ION_API_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''))
  } catch {
    // JSON.parse messages quote the text around the fault, which may be a secret: say only where.
    throw new ConfigError(`Invalid ION_API_FILE: ${file} is not valid JSON`)
  }
  return resolveConfig(env, parsed, file)
}

interface AjvError { instancePath: string, message?: string, params?: { allowedValues?: unknown[] } }

// Names the variable and the rule it breaks; never echoes the value (a misplaced secret must not reach a log).
function describeEnvErrors (err: unknown): string {
  const errors = (err as { errors?: AjvError[] }).errors
  if (!errors?.length) return (err as Error).message
  const lines = errors.map(e => {
    const name = e.instancePath.replace(/^\//, '') || 'environment'
    const allowed = e.params?.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : ''
    return `${name} ${e.message ?? 'is invalid'}${allowed}`
  })
  return [...new Set(lines)].join('; ')
}

/** The demo's configuration: the environment (for PORT, LOG_LEVEL…) with an in-process emulator's `.ionapi`. */
export function loadDemoConfig (ionapi: unknown): Config {
  return resolveConfig({ PORT: '3000', HOST: '127.0.0.1', CACHE_DRIVER: 'memory', ...process.env, REDIS_URL: undefined, REDIS_CLUSTER_NODES: undefined, REDIS_SENTINELS: undefined }, ionapi, 'emulator .ionapi')
}

/** An explicit SHUTDOWN_DELAY_MS always wins; unset, it is 5000 ms, or 0 with NODE_ENV=development. */
function shutdownDelayMs (env: EnvInput, e: Env): number {
  const explicit = env.SHUTDOWN_DELAY_MS !== undefined && env.SHUTDOWN_DELAY_MS !== ''
  return !explicit && e.NODE_ENV === 'development' ? 0 : e.SHUTDOWN_DELAY_MS
}

function parseList (value: string | undefined): string[] {
  if (!value) return []
  return value.split(',').map(s => s.trim()).filter(s => s.length > 0)
}

function resolvePublicUrl (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError('Invalid environment: PUBLIC_URL must be an absolute http(s) URL')
  }
  if (url.username || url.password || url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw new ConfigError('Invalid environment: PUBLIC_URL must be the gateway\'s base URL, without credentials, query or fragment')
  }
  return url.origin + url.pathname.replace(/\/+$/, '')
}

/** HTTPS_PROXY, HTTP_PROXY, NO_PROXY and ION_CA_FILE. Messages never echo a proxy URL: it may hold credentials. */
function resolveEgress (e: Env): Egress {
  const egress: Egress = { noProxy: parseNoProxy(e.NO_PROXY) }
  for (const [name, field] of [['HTTPS_PROXY', 'httpsProxy'], ['HTTP_PROXY', 'httpProxy']] as const) {
    const value = e[name]
    if (value === undefined || value === '') continue
    try {
      const url = new URL(value)
      if (!url.hostname) throw new Error('no host')
    } catch {
      throw new ConfigError(`Invalid environment: ${name} must be an http(s) URL of a forward proxy`)
    }
    egress[field] = value
  }
  if (e.ION_CA_FILE !== undefined) {
    let pem: string
    try {
      pem = readFileSync(e.ION_CA_FILE, 'utf8')
    } catch (err) {
      throw new ConfigError(`Invalid ION_CA_FILE: cannot read ${e.ION_CA_FILE} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new ConfigError(`Invalid ION_CA_FILE: ${e.ION_CA_FILE} holds no PEM certificate`)
    }
    egress.ca = pem
  }
  return egress
}

/** OTLP endpoint, headers, service name and sampler. Messages never echo a URL or a header: either may hold a key. */
function resolveTracing (e: Env): TracingConfig | undefined {
  const specific = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined
  const general = e.OTEL_EXPORTER_OTLP_ENDPOINT || undefined
  if (e.OTEL_SDK_DISABLED || (specific === undefined && general === undefined)) return undefined
  const url = specific ?? `${(general as string).replace(/\/+$/, '')}/v1/traces`
  try {
    if (!new URL(url).hostname) throw new Error('no host')
  } catch {
    throw new ConfigError(`Invalid environment: ${specific !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT'} must be an http(s) URL`)
  }
  return {
    url,
    headers: {
      ...parseKeyValues('OTEL_EXPORTER_OTLP_HEADERS', e.OTEL_EXPORTER_OTLP_HEADERS, HEADER_NAME, true),
      ...parseKeyValues('OTEL_EXPORTER_OTLP_TRACES_HEADERS', e.OTEL_EXPORTER_OTLP_TRACES_HEADERS, HEADER_NAME, true),
    },
    serviceName: e.OTEL_SERVICE_NAME,
    resourceAttributes: parseKeyValues('OTEL_RESOURCE_ATTRIBUTES', e.OTEL_RESOURCE_ATTRIBUTES, /^[A-Za-z0-9._-]+$/, false),
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG,
    scheduledDelayMs: e.OTEL_BSP_SCHEDULE_DELAY,
    exportTimeoutMs: e.OTEL_EXPORTER_OTLP_TIMEOUT,
  }
}

const HEADER_NAME = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/

/** `name=value,name2=value2`, values percent-decoded (the OpenTelemetry format); header names lower-cased. */
function parseKeyValues (name: string, value: string | undefined, namePattern: RegExp, headers: boolean): Record<string, string> {
  const out: Record<string, string> = {}
  for (const entry of parseList(value)) {
    const eq = entry.indexOf('=')
    const key = eq > 0 ? entry.slice(0, eq).trim() : ''
    let decoded: string
    try {
      decoded = decodeURIComponent(entry.slice(eq + 1).trim())
    } catch {
      decoded = ''
    }
    if (!namePattern.test(key) || decoded === '' || /[\r\n]/.test(decoded)) {
      throw new ConfigError(`Invalid environment: ${name} must be a comma list of name=value (percent-encoded values)`)
    }
    out[headers ? key.toLowerCase() : key] = decoded
  }
  return out
}

/** The one Redis topology the environment names; more than one stops the boot. */
function resolveRedis (e: Env): RedisConnection | undefined {
  const named = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter(name => e[name] !== undefined)
  if (e.REDIS_SENTINEL_PASSWORD !== undefined && e.REDIS_SENTINELS === undefined) {
    throw new ConfigError('Invalid environment: REDIS_SENTINEL_PASSWORD is only for REDIS_SENTINELS')
  }
  if (named.length > 1) {
    throw new ConfigError(`Invalid environment: set only one of ${named.join(', ')} (standalone, Cluster or Sentinel)`)
  }
  const auth = {
    ...(e.REDIS_USERNAME !== undefined ? { username: e.REDIS_USERNAME } : {}),
    ...(e.REDIS_PASSWORD !== undefined ? { password: e.REDIS_PASSWORD } : {}),
    tls: e.REDIS_TLS,
  }
  if (e.REDIS_URL !== undefined) {
    if (e.REDIS_USERNAME !== undefined || e.REDIS_PASSWORD !== undefined) {
      throw new ConfigError('Invalid environment: with REDIS_URL, put the user and password in the URL (REDIS_USERNAME and REDIS_PASSWORD are for Cluster and Sentinel)')
    }
    return { mode: 'standalone', url: e.REDIS_URL }
  }
  if (e.REDIS_CLUSTER_NODES !== undefined) {
    return { mode: 'cluster', nodes: parseHostPorts('REDIS_CLUSTER_NODES', e.REDIS_CLUSTER_NODES), ...auth }
  }
  if (e.REDIS_SENTINELS !== undefined) {
    if (e.REDIS_SENTINEL_MASTER === undefined) {
      throw new ConfigError('Invalid environment: REDIS_SENTINELS needs REDIS_SENTINEL_MASTER (the master group name)')
    }
    return {
      mode: 'sentinel',
      sentinels: parseHostPorts('REDIS_SENTINELS', e.REDIS_SENTINELS),
      masterName: e.REDIS_SENTINEL_MASTER,
      ...(e.REDIS_SENTINEL_PASSWORD !== undefined ? { sentinelPassword: e.REDIS_SENTINEL_PASSWORD } : {}),
      ...auth,
    }
  }
  return undefined
}

function parseHostPorts (name: string, value: string): HostPort[] {
  const list = parseList(value)
  if (list.length === 0) throw new ConfigError(`Invalid environment: ${name} must be a comma list of host:port`)
  return list.map(entry => {
    // host:port, or [ipv6]:port
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(entry)
    const port = m ? Number(m[3]) : 0
    if (!m || port < 1 || port > 65535) throw new ConfigError(`Invalid environment: ${name} must be a comma list of host:port`)
    return { host: (m[1] ?? m[2]) as string, port }
  })
}

function parseTrustProxy (value: string): TrustProxy {
  const v = value.trim()
  if (v === '' || v === 'false') return false
  if (v === 'true') return true
  if (/^\d+$/.test(v)) {
    // Fastify 5.12 ignores hop counts on purpose (a direct client could forge enough hops): name the ingress instead.
    throw new ConfigError('Invalid environment: TRUST_PROXY hop counts are not trusted; give the ingress IPs/CIDRs (e.g. 10.0.0.0/8) or true')
  }
  const list = parseList(v)
  for (const entry of list) {
    if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(entry)) {
      throw new ConfigError('Invalid environment: TRUST_PROXY must be true, false or a comma list of IPs/CIDRs')
    }
  }
  return list
}

function deepFreeze<T> (value: T): T {
  if (value && typeof value === 'object' && !(value instanceof RegExp)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
