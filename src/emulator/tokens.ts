import { generateKeyPair, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'

export type Grant = 'password' | 'refresh_token' | 'client_credentials'

export interface TokenAuthorityOptions {
  tenant: string
  clientId: string
  clientSecret: string
  saak: string
  sask: string
  lifetimeS: number
  issueRefreshTokens: boolean
  keys: SigningKeys
}

export interface SigningKeys { privateKey: KeyObject, publicKeyPem: string, kid: string }

interface AccessRecord { expMs: number, revoked: boolean }
interface RefreshRecord { revoked: boolean, serviceAccount: string | undefined }

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
    kid: randomBytes(8).toString('hex'),
  }))
  return sharedKeys
}

function b64url (data: string): string {
  return Buffer.from(data).toString('base64url')
}

/**
 * Issues and checks tokens like ION's authorization server: RS256 JWT access tokens, rotating refresh tokens.
 * Access tokens are checked by lookup, never by verifying the signature: cheap enough for benchmarks.
 */
export class TokenAuthority {
  private readonly access = new Map<string, AccessRecord>()
  private readonly refresh = new Map<string, RefreshRecord>()
  private readonly opts: TokenAuthorityOptions
  lifetimeS: number

  constructor (opts: TokenAuthorityOptions) {
    this.opts = opts
    this.lifetimeS = opts.lifetimeS
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
    if (grantType === 'password') {
      const username = params.get('username')
      const password = params.get('password')
      if (!username || !password) return { status: 400, error: 'invalid_request', description: 'username and password are required' }
      if (username !== this.opts.saak || password !== this.opts.sask) {
        return { status: 400, error: 'invalid_grant', description: 'Invalid resource owner credentials' }
      }
      return { body: this.issue(username) }
    }
    if (grantType === 'client_credentials') return { body: this.issue(undefined) }
    if (grantType === 'refresh_token') {
      const token = params.get('refresh_token')
      if (!token) return { status: 400, error: 'invalid_request', description: 'refresh_token is required' }
      const record = this.refresh.get(token)
      if (!record || record.revoked) return { status: 400, error: 'invalid_grant', description: 'Refresh token is invalid, used or revoked' }
      // Rotation: a refresh token works once.
      this.refresh.delete(token)
      return { body: this.issue(record.serviceAccount) }
    }
    return { status: 400, error: 'unsupported_grant_type', description: `Grant type ${grantType} is not supported` }
  }

  private issue (serviceAccount: string | undefined): Record<string, unknown> {
    const nowMs = Date.now()
    const nowS = Math.floor(nowMs / 1000)
    const lifetimeS = this.lifetimeS
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: this.opts.keys.kid }))
    const payload = b64url(JSON.stringify({
      Tenant: this.opts.tenant,
      client_id: this.opts.clientId,
      ...(serviceAccount === undefined ? {} : { ServiceAccount: serviceAccount }),
      jti: randomUUID(),
      iat: nowS,
      exp: nowS + lifetimeS,
    }))
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), this.opts.keys.privateKey).toString('base64url')
    const accessToken = `${header}.${payload}.${signature}`
    remember(this.access, accessToken, { expMs: nowMs + lifetimeS * 1000, revoked: false }, MAX_ACCESS_TOKENS)
    const body: Record<string, unknown> = { access_token: accessToken, token_type: 'Bearer', expires_in: lifetimeS }
    if (this.opts.issueRefreshTokens) {
      const refreshToken = randomBytes(32).toString('base64url')
      remember(this.refresh, refreshToken, { revoked: false, serviceAccount }, MAX_REFRESH_TOKENS)
      body.refresh_token = refreshToken
    }
    return body
  }

  checkAccess (token: string): AccessCheck {
    const record = this.access.get(token)
    if (!record) return 'unknown'
    if (record.revoked) return 'revoked'
    if (record.expMs <= Date.now()) return 'expired'
    return 'ok'
  }

  /** RFC 7009: an unknown token is not an error. */
  revoke (token: string): void {
    const access = this.access.get(token)
    if (access) access.revoked = true
    const refresh = this.refresh.get(token)
    if (refresh) refresh.revoked = true
  }

  revokeAll (): void {
    for (const r of this.access.values()) r.revoked = true
    for (const r of this.refresh.values()) r.revoked = true
  }

  expireAll (): void {
    for (const r of this.access.values()) r.expMs = 0
  }
}

function remember<V> (map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max) {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  map.set(key, value)
}
