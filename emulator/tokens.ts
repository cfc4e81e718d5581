import { createHash, generateKeyPair, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { Clock } from './limits.ts'

export type Grant = 'password' | 'refresh_token' | 'client_credentials'

export interface TokenAuthorityOptions {
  tenant: string
  clientId: string
  clientSecret: string
  saak: string
  sask: string
  lifetimeS: number
  issueRefreshTokens: boolean
  /** Live access tokens one client may hold; issuing one more revokes its oldest. 0 = no limit. */
  liveTokensPerClient: number
  keys: SigningKeys
  now: Clock
}

export interface SigningKeys { privateKey: KeyObject, publicKeyPem: string, kid: string }

interface AccessRecord { expMs: number, revoked: boolean }
interface RefreshRecord { revoked: boolean, serviceAccount: string | undefined, scope: string }

export type AccessCheck = 'ok' | 'unknown' | 'expired' | 'revoked'

export interface OAuthError { status: number, error: string, description: string, basicChallenge?: boolean }

/** Issued tokens kept at most; the oldest are forgotten first (a forgotten token answers 401). */
const MAX_ACCESS_TOKENS = 50_000
const MAX_REFRESH_TOKENS = 50_000

const generateKeyPairAsync = promisify(generateKeyPair)
let sharedKeys: Promise<SigningKeys> | undefined

/** One RSA key pair per process, generated off the event loop: every emulator in a test run shares it. */
export function signingKeys (): Promise<SigningKeys> {
  sharedKeys ??= generateKeyPairAsync('rsa', { modulusLength: 2048 }).then(({ privateKey, publicKey }) => ({
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    // ION names its signing certificate this way; the suffix is made up.
    kid: `InforAccessTokenSigningCertificate-${randomBytes(4).toString('hex')}`,
  }))
  return sharedKeys
}

function b64url (data: string): string {
  return Buffer.from(data).toString('base64url')
}

/** A stable identity id per principal (ION's `Identity2` claim); the real value is opaque, so any stable id will do. */
function identity (principal: string): string {
  const h = createHash('sha256').update(principal).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

/**
 * Issues and checks tokens like ION's authorization server: RS256 JWT access tokens shaped like ION's (no `typ`,
 * no `iat`), rotating refresh tokens when the app issues them, and a cap on live access tokens per client.
 * Access tokens are checked by lookup, never by verifying the signature: cheap enough for benchmarks.
 */
export class TokenAuthority {
  private readonly access = new Map<string, AccessRecord>()
  private readonly refresh = new Map<string, RefreshRecord>()
  /** The client's access tokens that may still be live, oldest first. */
  private readonly live = new Set<string>()
  private readonly opts: TokenAuthorityOptions
  lifetimeS: number
  issueRefreshTokens: boolean
  liveTokensPerClient: number

  constructor (opts: TokenAuthorityOptions) {
    this.opts = opts
    this.lifetimeS = opts.lifetimeS
    this.issueRefreshTokens = opts.issueRefreshTokens
    this.liveTokensPerClient = opts.liveTokensPerClient
  }

  checkClient (clientId: string | undefined, clientSecret: string | undefined, viaBasic: boolean): OAuthError | undefined {
    if (clientId === undefined) {
      return { status: 401, error: 'invalid_client', description: 'Client authentication is required', basicChallenge: viaBasic }
    }
    if (clientId !== this.opts.clientId || clientSecret !== this.opts.clientSecret) {
      return { status: 401, error: 'invalid_client', description: 'Invalid client or client credentials', basicChallenge: viaBasic }
    }
    return undefined
  }

  grant (params: URLSearchParams): { body: Record<string, unknown> } | OAuthError {
    const grantType = params.get('grant_type')
    if (!grantType) return { status: 400, error: 'invalid_request', description: 'grant_type is required' }
    const scope = params.get('scope') || 'null'
    if (grantType === 'password') {
      const username = params.get('username')
      const password = params.get('password')
      if (!username || !password) return { status: 400, error: 'invalid_request', description: 'username and password are required' }
      if (username !== this.opts.saak || password !== this.opts.sask) {
        return { status: 400, error: 'invalid_grant', description: 'Invalid resource owner credentials' }
      }
      return { body: this.issue(username, scope, this.issueRefreshTokens) }
    }
    // RFC 6749 4.4.3: no refresh token for the client credentials grant.
    if (grantType === 'client_credentials') return { body: this.issue(undefined, scope, false) }
    if (grantType === 'refresh_token') {
      if (!this.issueRefreshTokens) return { status: 400, error: 'unauthorized_client', description: 'The app does not issue refresh tokens' }
      const token = params.get('refresh_token')
      if (!token) return { status: 400, error: 'invalid_request', description: 'refresh_token is required' }
      const record = this.refresh.get(token)
      if (!record || record.revoked) return { status: 400, error: 'invalid_grant', description: 'Refresh token is invalid, used or revoked' }
      // Rotation: a refresh token works once.
      this.refresh.delete(token)
      return { body: this.issue(record.serviceAccount, record.scope, true) }
    }
    return { status: 400, error: 'unsupported_grant_type', description: `Grant type ${grantType} is not supported` }
  }

  private issue (serviceAccount: string | undefined, scope: string, withRefresh: boolean): Record<string, unknown> {
    const nowMs = this.opts.now()
    const lifetimeS = this.lifetimeS
    const header = b64url(JSON.stringify({ alg: 'RS256', kid: this.opts.keys.kid }))
    const payload = b64url(JSON.stringify({
      scope,
      client_id: this.opts.clientId,
      jti: randomUUID(),
      ...(serviceAccount === undefined ? {} : { ServiceAccount: serviceAccount }),
      Identity2: identity(serviceAccount ?? this.opts.clientId),
      Tenant: this.opts.tenant,
      EnforceScopesForClient: '0',
      exp: Math.floor(nowMs / 1000) + lifetimeS,
    }))
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), this.opts.keys.privateKey).toString('base64url')
    const accessToken = `${header}.${payload}.${signature}`
    this.makeRoom(nowMs)
    remember(this.access, accessToken, { expMs: nowMs + lifetimeS * 1000, revoked: false }, MAX_ACCESS_TOKENS)
    if (this.live.size >= MAX_ACCESS_TOKENS) this.live.delete(this.live.values().next().value as string)
    this.live.add(accessToken)
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: lifetimeS }
    if (withRefresh) {
      const refreshToken = randomBytes(32).toString('base64url')
      remember(this.refresh, refreshToken, { revoked: false, serviceAccount, scope }, MAX_REFRESH_TOKENS)
      body.refresh_token = refreshToken
    }
    return body
  }

  /** Before issuing: forgets dead tokens and, at the limit, revokes the client's oldest live ones. */
  private makeRoom (nowMs: number): void {
    const limit = this.liveTokensPerClient
    if (limit <= 0 || this.live.size < limit) return
    for (const token of this.live) {
      const record = this.access.get(token)
      if (!record || record.revoked || record.expMs <= nowMs) this.live.delete(token)
    }
    for (const token of this.live) {
      if (this.live.size < limit) break
      const record = this.access.get(token)
      if (record) record.revoked = true
      this.live.delete(token)
    }
  }

  /** Access tokens of the client that are neither expired nor revoked. */
  liveTokens (): number {
    const nowMs = this.opts.now()
    let n = 0
    for (const token of this.live) {
      const record = this.access.get(token)
      if (record && !record.revoked && record.expMs > nowMs) n++
    }
    return n
  }

  checkAccess (token: string): AccessCheck {
    const record = this.access.get(token)
    if (!record) return 'unknown'
    if (record.revoked) return 'revoked'
    if (record.expMs <= this.opts.now()) return 'expired'
    return 'ok'
  }

  /** RFC 7009: an unknown token is not an error. */
  revoke (token: string): void {
    const access = this.access.get(token)
    if (access) access.revoked = true
    this.live.delete(token)
    const refresh = this.refresh.get(token)
    if (refresh) refresh.revoked = true
  }

  revokeAll (): void {
    for (const r of this.access.values()) r.revoked = true
    for (const r of this.refresh.values()) r.revoked = true
    this.live.clear()
  }

  expireAll (): void {
    for (const r of this.access.values()) r.expMs = 0
    this.live.clear()
  }
}

function remember<V> (map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max) {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  map.set(key, value)
}
