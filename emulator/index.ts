import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { pipeline } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { handleControl } from './control.ts'
import { applyFault, failure, FaultState, rateLimited, type CannedAnswer } from './faults.ts'
import { bearerToken, clientCredentials, destroyHard, readBody, sendJson, sendRaw, type HeaderMap } from './http.ts'
import { binaryStream, handleIdm } from './idm.ts'
import { checkLimit, MINUTE_MS, SlidingWindowQuota, type Clock } from './limits.ts'
import { LnData, type LnErrorFormat } from './ln.ts'
import { M3Data } from './m3-data.ts'
import { handleM3 } from './m3.ts'
import { signingKeys, TokenAuthority, type Grant } from './tokens.ts'
import { toXml, wantsXml } from './xml.ts'

export type { CannedAnswer } from './faults.ts'
export type { FaultsBody } from './control.ts'
export type { Grant } from './tokens.ts'
export type { LnErrorFormat } from './ln.ts'
export type { Clock } from './limits.ts'
export { COMPANY_200_ITEM_NUMBERS, CUSTOMER_NUMBERS, DEFAULT_M3_USER, ITEM_NUMBERS } from './m3-data.ts'
export { LN_ORDER_IDS } from './ln.ts'
export { IDM_PIDS } from './idm.ts'

export interface EmulatorOptions {
  /** Default 'ACME_TST'. */
  tenant?: string
  /** Default '127.0.0.1'. */
  host?: string
  /** Default 0 (a random free port). */
  port?: number
  /** Access token lifetime, seconds; default 7200, like ION. */
  tokenLifetimeS?: number
  /** Whether the app has "Issue Refresh Tokens" ticked. Default true. */
  issueRefreshTokens?: boolean
  clientId?: string
  clientSecret?: string
  saak?: string
  sask?: string
  /** Size of each IDM item's binary resource; streamed, never buffered. Default 1 MiB. */
  idmBinarySizeBytes?: number
  /** Service-account logins (password grants) allowed in any minute, then 429. Default 20, ION's smallest tier; 0 = no limit. */
  loginQuotaPerMinute?: number
  /** Live access tokens per client; one more revokes the client's oldest. Default 100, like ION; 0 = no limit. */
  liveTokensPerClient?: number
  /**
   * Resource calls allowed in any minute for the tenant, then 429 with Retry-After. Default 0 (no limit), so that
   * benchmarks can saturate the emulator; ION's smallest tier allows 3000.
   */
  callQuotaPerMinute?: number
  /** Every n-th LN call with a valid token answers 401, as LN now and then does. Default 0 (never). */
  lnUnauthorizedEvery?: number
  /** The form of LN errors: OData v4 `{ error: { code, message, details } }` (default) or Infor's documented `{ Code, Message, Details, InnerError }`. */
  lnErrorFormat?: LnErrorFormat
  /** HTTP status of a failed M3 v2 single call: 400 (default, as Infor's SDK says) or 200 (as XtendM3 and H5 scripts expect). */
  m3V2ErrorStatus?: 200 | 400
  /** The clock for token expiry, quotas and M3 change dates. Default Date.now. */
  now?: Clock
  /** Serve https with this key and certificate (PEM) instead of http; `url` and the `.ionapi` then say https. */
  tls?: { key: string | Buffer, cert: string | Buffer }
}

/** The `.ionapi` file ION API hands out for a backend service (ION API > Authorized Apps, "Backend Service"). */
export interface IonApiFile {
  ti: string
  cn: string
  ci: string
  cs: string
  iu: string
  pu: string
  oa: string
  ot: string
  or: string
  ev: string
  v: string
  dt: string
  saak: string
  sask: string
}

export interface RecordedRequest {
  method: string
  /** The request target exactly as received. */
  url: string
  headers: Record<string, string | string[] | undefined>
  rawHeaders: string[]
  body: string
}

export interface Emulator {
  /** 'http://127.0.0.1:PORT', the same as ionapi.iu */
  url: string
  tenant: string
  ionapi: IonApiFile
  /** PEM (SPKI) of the key that signs access tokens, for tests that verify them. */
  publicKeyPem: string
  stats: {
    /** Token endpoint requests received, failed ones included; no argument = all (unknown grant types too). */
    tokenRequests (grant?: Grant): number
    /** Revoke endpoint requests received. */
    revocations (): number
    /** Resource requests received (anything under /{ti}/M3|LN|IDM, 401s and faults included), by prefix of the raw path. */
    calls (pathPrefix?: string): number
    inFlight (): number
    /** The most resource requests in progress at once since the last reset. */
    peakInFlight (): number
    /** Binary downloads in progress whose reader is not keeping up: the emulator waits for it (backpressure). */
    downloadsHeldBack (): number
    /** The last 200 resource requests, oldest first, whose raw target starts with the prefix. */
    requests (pathPrefix?: string): RecordedRequest[]
    /** Calls and logins refused by the quotas since the last reset. */
    throttled (): { calls: number, logins: number }
    /** Access tokens of the client that are neither expired nor revoked. */
    liveTokens (): number
    reset (): void
  }
  faults: {
    latency (ms: number, pathPrefix?: string): void
    respondNext (count: number, answer: CannedAnswer, pathPrefix?: string): void
    failNext (count: number, status: number, pathPrefix?: string): void
    resetNext (count: number, pathPrefix?: string): void
    badFramingNext (count: number, pathPrefix?: string): void
    truncateNext (count: number, pathPrefix?: string): void
    rateLimitNext (count: number, retryAfterS: number, pathPrefix?: string): void
    /** Also delays the revoke endpoint: both belong to the authorization server. */
    tokenLatency (ms: number): void
    /** Also takes the revoke endpoint down. */
    tokenDown (mode: number | 'reset' | false): void
    revokeAll (): void
    expireAll (): void
    /** Tenant call quota per minute (0 = none); clear() restores the option's value. */
    callQuota (perMinute: number): void
    /** Service-account logins per minute (0 = none); clear() restores the option's value. */
    loginQuota (perMinute: number): void
    /** Live access tokens per client (0 = none); clear() restores the option's value. */
    liveTokenLimit (perClient: number): void
    /** Every n-th LN call with a valid token answers 401 (0 = never); clear() restores the option's value. */
    lnUnauthorizedEvery (n: number): void
    /** The next `count` M3 v1 calls under the prefix answer `rows` rows, then an `ErrorMessage` object (a partial failure). */
    m3PartialFailureNext (count: number, rows: number, pathPrefix?: string): void
    clear (): void
  }
  setTokenLifetime (seconds: number): void
  /** Whether the app issues refresh tokens; off also refuses the refresh grant. */
  setIssueRefreshTokens (issue: boolean): void
  setLnErrorFormat (format: LnErrorFormat): void
  setM3V2ErrorStatus (status: 200 | 400): void
  close (): Promise<void>
}

const RECORDED_MAX = 200
/** Distinct paths counted one by one; calls to paths beyond this only count in `calls()` without a prefix. */
const COUNTED_PATHS_MAX = 100_000
const SYSTEMS = new Set(['M3', 'LN', 'IDM'])

function checkOptions (opts: EmulatorOptions): void {
  if (opts.tenant !== undefined && !/^[A-Za-z0-9_.-]+$/.test(opts.tenant)) throw new TypeError(`tenant must be a plain path segment, got ${JSON.stringify(opts.tenant)}`)
  for (const key of ['tokenLifetimeS', 'idmBinarySizeBytes', 'port', 'loginQuotaPerMinute', 'liveTokensPerClient', 'callQuotaPerMinute', 'lnUnauthorizedEvery'] as const) {
    const v = opts[key]
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`${key} must be a non-negative integer, got ${v}`)
  }
  checkLnErrorFormat(opts.lnErrorFormat ?? 'odata')
  checkV2ErrorStatus(opts.m3V2ErrorStatus ?? 400)
}

function checkLnErrorFormat (format: string): LnErrorFormat {
  if (format !== 'odata' && format !== 'infor') throw new RangeError(`lnErrorFormat must be 'odata' or 'infor', got ${JSON.stringify(format)}`)
  return format
}

function checkV2ErrorStatus (status: number): 200 | 400 {
  if (status !== 200 && status !== 400) throw new RangeError(`m3V2ErrorStatus must be 200 or 400, got ${status}`)
  return status
}

/** yyyyMMdd (UTC) of a clock reading. */
function ymd8 (ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, '')
}

/** Plays Infor ION API Gateway over real HTTP: token endpoint, M3, LN and IDM, with counters and faults for tests. */
export async function createEmulator (opts: EmulatorOptions = {}): Promise<Emulator> {
  checkOptions(opts)
  const tenant = opts.tenant ?? 'ACME_TST'
  const creds = {
    clientId: opts.clientId ?? `${tenant}~emulator-client`,
    clientSecret: opts.clientSecret ?? 'emulator-client-secret',
    saak: opts.saak ?? `${tenant}#emulator-service-account`,
    sask: opts.sask ?? 'emulator-service-secret',
  }
  const now = opts.now ?? Date.now
  const keys = await signingKeys()
  const limits = {
    logins: opts.loginQuotaPerMinute ?? 20,
    liveTokens: opts.liveTokensPerClient ?? 100,
    calls: opts.callQuotaPerMinute ?? 0,
  }
  const authority = new TokenAuthority({
    tenant,
    ...creds,
    keys,
    lifetimeS: opts.tokenLifetimeS ?? 7200,
    issueRefreshTokens: opts.issueRefreshTokens ?? true,
    liveTokensPerClient: limits.liveTokens,
    now,
  })
  const loginQuota = new SlidingWindowQuota(limits.logins, MINUTE_MS, now)
  const callQuota = new SlidingWindowQuota(limits.calls, MINUTE_MS, now)
  const throttled = { calls: 0, logins: 0 }
  const m3 = new M3Data()
  let m3V2ErrorStatus = opts.m3V2ErrorStatus ?? 400
  const ln = new LnData(tenant, opts.lnErrorFormat ?? 'odata')
  const binarySize = opts.idmBinarySizeBytes ?? 1024 * 1024
  const faults = new FaultState(opts.lnUnauthorizedEvery ?? 0)
  const closing = new AbortController()

  const tokenPath = `/${tenant}/as/token.oauth2`
  const revokePath = `/${tenant}/as/revoke_token.oauth2`
  const resourcePrefix = `/${tenant}/`

  const tokenCounts = { password: 0, refresh_token: 0, client_credentials: 0, other: 0 }
  let revocations = 0
  const callCounts = new Map<string, number>()
  let uncountedCalls = 0
  let inFlight = 0
  let peakInFlight = 0
  const downloads = new Set<ServerResponse>()
  let recorded: RecordedRequest[] = []

  /** Waits for the token faults; false when the connection was taken care of (reset, down, closing). */
  async function authorizationServerUp (req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (faults.tokenLatencyMs > 0) await sleep(faults.tokenLatencyMs, undefined, { signal: closing.signal })
    const down = faults.tokenDown
    if (down === false) return true
    if (down === 'reset') destroyHard(req.socket)
    else sendJson(res, down, { error: 'temporarily_unavailable', error_description: 'The authorization server is unavailable' }, { 'cache-control': 'no-store' })
    return false
  }

  function oauthError (res: ServerResponse, e: { status: number, error: string, description: string, basicChallenge?: boolean }): void {
    const headers: HeaderMap = { 'cache-control': 'no-store', pragma: 'no-cache' }
    if (e.basicChallenge) headers['www-authenticate'] = 'Basic realm="ION"'
    sendJson(res, e.status, { error: e.error, error_description: e.description }, headers)
  }

  function formParams (req: IncomingMessage, res: ServerResponse, body: string): URLSearchParams | undefined {
    if (req.method !== 'POST') {
      oauthError(res, { status: 405, error: 'invalid_request', description: 'Use POST' })
      return undefined
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/x-www-form-urlencoded') {
      oauthError(res, { status: 400, error: 'invalid_request', description: 'The body must be application/x-www-form-urlencoded' })
      return undefined
    }
    return new URLSearchParams(body)
  }

  async function handleToken (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    const grant = new URLSearchParams(body).get('grant_type')
    if (grant === 'password' || grant === 'refresh_token' || grant === 'client_credentials') tokenCounts[grant]++
    else tokenCounts.other++
    if (!await authorizationServerUp(req, res)) return
    const params = formParams(req, res, body)
    if (!params) return
    const client = clientCredentials(req, params)
    const clientError = authority.checkClient(client.id, client.secret, client.viaBasic)
    if (clientError) return oauthError(res, clientError)
    if (grant === 'password') {
      const retryAfterS = loginQuota.take()
      if (retryAfterS !== undefined) {
        throttled.logins++
        return sendJson(res, 429, {
          error: 'temporarily_unavailable',
          error_description: `The service-account login quota (${loginQuota.limit} a minute) is used up`,
        }, { 'cache-control': 'no-store', 'retry-after': String(retryAfterS) })
      }
    }
    const outcome = authority.grant(params)
    if ('error' in outcome) return oauthError(res, outcome)
    sendJson(res, 200, outcome.body, { 'cache-control': 'no-store', pragma: 'no-cache' })
  }

  function unauthorized (res: ServerResponse, description: string): void {
    sendJson(res, 401, { error: 'invalid_token', error_description: description }, {
      'www-authenticate': `Bearer realm="ION", error="invalid_token", error_description="${description}"`,
    })
  }

  async function handleRevoke (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    revocations++
    if (!await authorizationServerUp(req, res)) return
    const params = formParams(req, res, body)
    if (!params) return
    const client = clientCredentials(req, params)
    const err = authority.checkClient(client.id, client.secret, client.viaBasic)
    if (err) return oauthError(res, err)
    const token = params.get('token')
    if (!token) return oauthError(res, { status: 400, error: 'invalid_request', description: 'token is required' })
    authority.revoke(token)
    sendJson(res, 200, {}, { 'cache-control': 'no-store' })
  }

  function count (rawPath: string): void {
    const n = callCounts.get(rawPath)
    if (n !== undefined) callCounts.set(rawPath, n + 1)
    else if (callCounts.size < COUNTED_PATHS_MAX) callCounts.set(rawPath, 1)
    else uncountedCalls++
  }

  async function handleResource (req: IncomingMessage, res: ServerResponse, rawPath: string, rawQuery: string, system: string): Promise<void> {
    count(rawPath)
    inFlight++
    if (inFlight > peakInFlight) peakInFlight = inFlight
    res.once('close', () => { inFlight-- })
    const body = await readBody(req)
    recorded.push({ method: req.method ?? 'GET', url: req.url ?? '', headers: { ...req.headers }, rawHeaders: [...req.rawHeaders], body })
    if (recorded.length > RECORDED_MAX) recorded.shift()

    const latency = faults.latencyFor(rawPath)
    if (latency > 0) await sleep(latency, undefined, { signal: closing.signal })
    const fault = faults.take(rawPath)
    if (fault) return applyFault(fault, req, res)

    const token = bearerToken(req)
    const check = token === undefined ? 'missing' : authority.checkAccess(token)
    if (check !== 'ok') {
      return unauthorized(res, check === 'missing' ? 'The request has no bearer token' : `The access token is ${check === 'unknown' ? 'invalid' : check}`)
    }
    const retryAfterS = callQuota.take()
    if (retryAfterS !== undefined) {
      throttled.calls++
      const answer = rateLimited(retryAfterS, `The tenant's call quota (${callQuota.limit} a minute) is used up`)
      return sendRaw(res, answer.status, answer.body, answer.headers)
    }
    if (system === 'LN' && faults.lnUnauthorized()) return unauthorized(res, 'OAuth [U14]: the access token was not accepted')

    const below = rawPath.slice(resourcePrefix.length + system.length + 1)
    const method = req.method ?? 'GET'
    const query = new URLSearchParams(rawQuery)
    if (system === 'M3') {
      const partialRows = below.startsWith('m3api-rest/execute/') ? faults.takePartial(rawPath) : undefined
      const answer = handleM3(m3, method, below, query, body, { v2ErrorStatus: m3V2ErrorStatus, today: ymd8(now()), partialRows })
      return sendJson(res, answer.status, answer.body)
    }
    if (system === 'LN') {
      const answer = ln.handle(method, below, query, req.headers, body, `${api.url}/${tenant}/LN`)
      if (answer.text !== undefined) return sendRaw(res, answer.status, answer.text, answer.headers)
      return sendJson(res, answer.status, answer.body, answer.headers)
    }
    const answer = handleIdm(method, below, query, binarySize)
    if (!('binary' in answer)) {
      if (!wantsXml(req.headers.accept)) return sendJson(res, answer.status, answer.body)
      return sendRaw(res, answer.status, toXml(answer.body), { 'content-type': 'application/xml; charset=utf-8' })
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.binary })
    if (method === 'HEAD') {
      res.end()
      return
    }
    downloads.add(res)
    pipeline(binaryStream(answer.binary), res, () => { downloads.delete(res) })
  }

  const listener: RequestListener = (req, res) => {
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const rawPath = q === -1 ? target : target.slice(0, q)
    const rawQuery = q === -1 ? '' : target.slice(q + 1)
    let work: Promise<void>
    if (rawPath === tokenPath) work = handleToken(req, res)
    else if (rawPath === revokePath) work = handleRevoke(req, res)
    else if (rawPath.startsWith('/__emulator/')) work = handleControl(req, res, rawPath, new URLSearchParams(rawQuery), api)
    else {
      const system = rawPath.startsWith(resourcePrefix) ? rawPath.slice(resourcePrefix.length).split('/', 1)[0] ?? '' : ''
      if (SYSTEMS.has(system) && rawPath.length > resourcePrefix.length + system.length) {
        work = handleResource(req, res, rawPath, rawQuery, system)
      } else {
        req.resume()
        return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `No route for ${req.method} ${rawPath}` } })
      }
    }
    work.catch(() => {
      if (closing.signal.aborted || res.headersSent) res.destroy()
      else sendJson(res, 500, { error: { code: 'EMULATOR_FAILURE', message: 'The ION emulator failed' } })
    })
  }
  const server = opts.tls
    ? createTlsServer({ keepAliveTimeout: 65_000, key: opts.tls.key, cert: opts.tls.cert }, listener)
    : createServer({ keepAliveTimeout: 65_000 }, listener)
  server.on('clientError', (_err, socket) => { socket.destroy() })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const host = opts.host ?? '127.0.0.1'
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const url = `${opts.tls ? 'https' : 'http'}://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
  let closed: Promise<void> | undefined

  const api: Emulator = {
    url,
    tenant,
    ionapi: {
      ti: tenant,
      cn: 'ion-gateway-emulator',
      ci: creds.clientId,
      cs: creds.clientSecret,
      iu: url,
      pu: `${url}/${tenant}/as/`,
      oa: 'authorization.oauth2',
      ot: 'token.oauth2',
      or: 'revoke_token.oauth2',
      ev: 'U000000001',
      v: '1.0',
      dt: '12',
      saak: creds.saak,
      sask: creds.sask,
    },
    publicKeyPem: keys.publicKeyPem,
    stats: {
      tokenRequests: grant => grant
        ? tokenCounts[grant]
        : tokenCounts.password + tokenCounts.refresh_token + tokenCounts.client_credentials + tokenCounts.other,
      revocations: () => revocations,
      calls: (pathPrefix = '') => {
        let n = pathPrefix === '' ? uncountedCalls : 0
        for (const [path, c] of callCounts) if (path.startsWith(pathPrefix)) n += c
        return n
      },
      inFlight: () => inFlight,
      peakInFlight: () => peakInFlight,
      downloadsHeldBack: () => [...downloads].filter(res => res.writableNeedDrain).length,
      requests: (pathPrefix = '') => recorded.filter(r => r.url.startsWith(pathPrefix)),
      throttled: () => ({ ...throttled }),
      liveTokens: () => authority.liveTokens(),
      reset: () => {
        tokenCounts.password = tokenCounts.refresh_token = tokenCounts.client_credentials = tokenCounts.other = 0
        revocations = 0
        callCounts.clear()
        uncountedCalls = 0
        recorded = []
        peakInFlight = inFlight
        throttled.calls = throttled.logins = 0
      },
    },
    faults: {
      latency: (ms, pathPrefix = '') => {
        if (!(ms >= 0)) throw new RangeError(`latency must be >= 0 ms, got ${ms}`)
        faults.latencyMs = ms
        faults.latencyPrefix = pathPrefix
      },
      respondNext: (count, answer, pathPrefix) => faults.add(count, { kind: 'respond', answer }, pathPrefix),
      failNext: (count, status, pathPrefix) => faults.add(count, { kind: 'respond', answer: failure(status) }, pathPrefix),
      resetNext: (count, pathPrefix) => faults.add(count, { kind: 'reset' }, pathPrefix),
      badFramingNext: (count, pathPrefix) => faults.add(count, { kind: 'badFraming' }, pathPrefix),
      truncateNext: (count, pathPrefix) => faults.add(count, { kind: 'truncate' }, pathPrefix),
      rateLimitNext: (count, retryAfterS, pathPrefix) => faults.add(count, { kind: 'respond', answer: rateLimited(retryAfterS) }, pathPrefix),
      tokenLatency: ms => {
        if (!(ms >= 0)) throw new RangeError(`token latency must be >= 0 ms, got ${ms}`)
        faults.tokenLatencyMs = ms
      },
      tokenDown: mode => { faults.tokenDown = mode },
      revokeAll: () => authority.revokeAll(),
      expireAll: () => authority.expireAll(),
      callQuota: perMinute => { callQuota.limit = checkLimit(perMinute, 'callQuota') },
      loginQuota: perMinute => { loginQuota.limit = checkLimit(perMinute, 'loginQuota') },
      liveTokenLimit: perClient => { authority.liveTokensPerClient = checkLimit(perClient, 'liveTokenLimit') },
      lnUnauthorizedEvery: n => faults.setLnUnauthorizedEvery(checkLimit(n, 'lnUnauthorizedEvery')),
      m3PartialFailureNext: (count, rows, pathPrefix) => faults.addPartial(count, rows, pathPrefix),
      clear: () => {
        faults.clear()
        callQuota.limit = limits.calls
        loginQuota.limit = limits.logins
        authority.liveTokensPerClient = limits.liveTokens
      },
    },
    setTokenLifetime: seconds => {
      if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError(`token lifetime must be a non-negative integer, got ${seconds}`)
      authority.lifetimeS = seconds
    },
    setIssueRefreshTokens: issue => { authority.issueRefreshTokens = issue === true },
    setLnErrorFormat: format => { ln.errorFormat = checkLnErrorFormat(format) },
    setM3V2ErrorStatus: status => { m3V2ErrorStatus = checkV2ErrorStatus(status) },
    close: () => {
      closed ??= new Promise<void>(resolve => {
        closing.abort()
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
  return api
}
