import { request, type Dispatcher } from 'undici'
import { GatewayError } from '../errors.ts'
import { createEgressDispatchers, DIRECT, type Egress } from '../proxy/egress.ts'
import type { TokenCallTracer } from '../telemetry/spans.ts'
import type { IonSettings } from './ionapi.ts'

export type TokenGrant = 'password' | 'client_credentials' | 'refresh_token'

export interface IssuedToken {
  accessToken: string
  refreshToken?: string
  /** Epoch ms. */
  expiresAtMs: number
  /** Epoch ms when it was requested (its lifetime is expiresAtMs - obtainedAtMs). */
  obtainedAtMs: number
  grant: TokenGrant
}

export interface TokenClient {
  /** A new token: the refresh_token grant when one is given (falling back to the configured grant), else that grant. */
  fetchToken (refreshToken?: string): Promise<IssuedToken>
  /** RFC 7009 revocation with HTTP Basic client credentials. Best effort: never throws. */
  revoke (token: string, hint: 'access_token' | 'refresh_token'): Promise<void>
  close (): Promise<void>
}

export interface TokenClientOptions {
  /** With `egress` (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, ION_CA_FILE), token calls take the same way to ION as data calls. */
  ion: IonSettings & { egress?: Egress }
  /** One deadline per token endpoint call (connect, headers and body). Default 15000. */
  timeoutMs?: number
  /** Borrowed (never closed here); by default the client owns its dispatchers (one per origin, through `ion.egress`). */
  dispatcher?: Dispatcher
  now?: () => number
  /** Present when tracing is on: one span per token request (a login). */
  tracer?: TokenCallTracer | undefined
}

/** Retry-After when the token endpoint does not say. */
const DEFAULT_RETRY_AFTER_S = 5
const MAX_RETRY_AFTER_S = 300
/** Used when ION omits expires_in (it never does in practice). */
const DEFAULT_LIFETIME_S = 3600

/**
 * ION answered with an HTTP status. Carries only the status and ION's RFC 6749 `error` code (never the description,
 * which may echo what was sent).
 */
export class TokenEndpointError extends Error {
  readonly status: number
  readonly oauthError: string | undefined
  readonly retryAfterS: number

  constructor (status: number, oauthError: string | undefined, retryAfterS: number) {
    super(`token endpoint answered HTTP ${status}${oauthError ? ` (${oauthError})` : ''}`)
    this.name = 'TokenEndpointError'
    this.status = status
    this.oauthError = oauthError
    this.retryAfterS = retryAfterS
  }

  /** 5xx, 429, 408 and malformed 200s: the endpoint is failing, not refusing us. */
  get transient (): boolean {
    return this.status === 200 || this.status === 408 || this.status === 429 || this.status >= 500
  }
}

/** Seconds from a Retry-After header (delta-seconds or HTTP-date), bounded; the default when absent or invalid. */
export function parseRetryAfter (value: string | string[] | undefined, nowMs = Date.now()): number {
  const v = (Array.isArray(value) ? value[0] : value)?.trim()
  if (!v) return DEFAULT_RETRY_AFTER_S
  let s = /^\d+$/.test(v) ? Number(v) : Math.ceil((Date.parse(v) - nowMs) / 1000)
  if (!Number.isFinite(s)) return DEFAULT_RETRY_AFTER_S
  s = Math.max(1, s)
  return Math.min(s, MAX_RETRY_AFTER_S)
}

/** ION's `error` code only when it looks like an RFC 6749 code: anything else may be an echo of the request. */
function oauthErrorCode (body: unknown): string | undefined {
  const error = (body as { error?: unknown } | undefined)?.error
  return typeof error === 'string' && /^[a-z_]{1,64}$/i.test(error) ? error : undefined
}

function transportCode (err: unknown): string {
  const e = err as { code?: unknown, name?: unknown }
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error'
  return /^[A-Za-z0-9_]{1,40}$/.test(code) ? code : 'Error'
}

/**
 * Talks to ION's authorization server (`pu + ot`, `pu + or`). Messages and causes carry an HTTP status, ION's
 * error code or a transport error code: never a secret, a service-account key or a token.
 */
export function createTokenClient (options: TokenClientOptions): TokenClient {
  const { ion } = options
  const timeoutMs = options.timeoutMs ?? 15000
  const now = options.now ?? Date.now
  const own = options.dispatcher
    ? undefined
    : createEgressDispatchers(ion.egress ?? DIRECT, { connectTimeoutMs: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
  const dispatcherFor = (url: string): Dispatcher => options.dispatcher ?? (own as NonNullable<typeof own>).for(url)
  const { clientId, clientSecret } = ion.credentials
  // RFC 6749 2.3.1: form-encode, then Basic.
  const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')
  let closed = false

  /** POSTs a form and reads the whole answer within one deadline; transport failures become AUTH_003. */
  async function post (url: string, form: URLSearchParams, headers: Record<string, string> = {}): Promise<{ status: number, headers: Dispatcher.ResponseData['headers'], text: string }> {
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: dispatcherFor(url),
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
        body: form.toString(),
        signal: AbortSignal.timeout(timeoutMs),
      })
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
    } catch (err) {
      // Node and undici transport errors name the host and port at most; the message here names only the code.
      const code = transportCode(err)
      const why = code === 'TimeoutError' || code === 'AbortError' ? `no answer within ${timeoutMs} ms` : `unreachable (${code})`
      throw new GatewayError('AUTH_003', `ION token endpoint ${why}`, { retryAfterS: DEFAULT_RETRY_AFTER_S, cause: err })
    }
  }

  async function grant (form: URLSearchParams, grantType: TokenGrant): Promise<IssuedToken> {
    form.set('client_id', clientId)
    form.set('client_secret', clientSecret)
    const sentAtMs = now()
    const span = options.tracer?.tokenCall(grantType, ion.tokenUrl)
    let res: Awaited<ReturnType<typeof post>>
    try {
      res = await post(ion.tokenUrl, form)
    } catch (err) {
      span?.fail((err as GatewayError).code)
      throw err
    }
    span?.end(res.status)
    let body: Record<string, unknown> | undefined
    try {
      const parsed: unknown = JSON.parse(res.text)
      body = parsed !== null && typeof parsed === 'object' ? parsed as Record<string, unknown> : undefined
    } catch {
      body = undefined
    }
    if (res.status === 200 && body && typeof body.access_token === 'string' && body.access_token.length > 0) {
      const expiresIn = Number(body.expires_in)
      const lifetimeS = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_LIFETIME_S
      const token: IssuedToken = {
        accessToken: body.access_token,
        expiresAtMs: sentAtMs + lifetimeS * 1000,
        obtainedAtMs: sentAtMs,
        grant: grantType,
      }
      if (typeof body.refresh_token === 'string' && body.refresh_token.length > 0) token.refreshToken = body.refresh_token
      return token
    }
    throw new TokenEndpointError(res.status, oauthErrorCode(body), parseRetryAfter(res.headers['retry-after'], now()))
  }

  function toGatewayError (err: unknown): GatewayError {
    if (err instanceof GatewayError) return err
    if (err instanceof TokenEndpointError) {
      if (err.transient) {
        const why = err.status === 200 ? 'a malformed answer' : `HTTP ${err.status}`
        return new GatewayError('AUTH_003', `ION token endpoint failing (${why})`, { retryAfterS: err.retryAfterS, cause: err })
      }
      return new GatewayError('AUTH_001', `ION rejected the gateway credentials (HTTP ${err.status}${err.oauthError ? `, ${err.oauthError}` : ''})`, { cause: err })
    }
    return new GatewayError('AUTH_003', 'ION token endpoint failing', { retryAfterS: DEFAULT_RETRY_AFTER_S })
  }

  function configuredGrant (): Promise<IssuedToken> {
    if (ion.grant === 'client_credentials') {
      return grant(new URLSearchParams({ grant_type: 'client_credentials' }), 'client_credentials')
    }
    return grant(new URLSearchParams({
      grant_type: 'password',
      username: ion.credentials.serviceAccountAccessKey ?? '',
      password: ion.credentials.serviceAccountSecretKey ?? '',
    }), 'password')
  }

  return {
    async fetchToken (refreshToken) {
      if (closed) throw new GatewayError('AUTH_003', 'ION token client is closed', { retryAfterS: DEFAULT_RETRY_AFTER_S })
      if (refreshToken) {
        try {
          return await grant(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }), 'refresh_token')
        } catch (err) {
          // A refused refresh token (used, revoked, expired: a 4xx) falls back to the full grant; an outage does not,
          // it would only fail the same way and cost a service-account login.
          if (!(err instanceof TokenEndpointError) || err.transient) throw toGatewayError(err)
        }
      }
      try {
        return await configuredGrant()
      } catch (err) {
        throw toGatewayError(err)
      }
    },

    async revoke (token, hint) {
      if (!ion.revokeUrl || closed) return
      try {
        await post(ion.revokeUrl, new URLSearchParams({ token, token_type_hint: hint }), { authorization: basic })
      } catch {
        // Best effort: the token expires anyway.
      }
    },

    async close () {
      if (closed) return
      closed = true
      await own?.close()
    },
  }
}
