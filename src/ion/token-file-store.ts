import { createHash, randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { validToken, type StoredToken, type TokenStore } from './token-store.ts'

export interface TokenFileIdentity {
  /** The tenant (`ti`): readable in the file name. */
  tenant: string
  /** The token endpoint (`pu` + `ot`): the emulator on another port is another authority. */
  tokenUrl: string
  clientId: string
  grant: string
  /** The service-account access key (`saak`), when the grant uses one: another account is another token. */
  serviceAccount?: string
}

/**
 * `<tenant>-<16 hex digits>.json`: the digits are a SHA-256 of everything that decides which token ION would give
 * (authority, client, grant, service account), so two tenants or two emulators never read each other's token.
 * Nothing secret goes into the hash input, and the hash reveals none of it anyway.
 */
export function tokenFileName (id: TokenFileIdentity): string {
  const hash = createHash('sha256')
    .update([id.tokenUrl, id.tenant, id.clientId, id.grant, id.serviceAccount ?? ''].join('\n'))
    .digest('hex')
    .slice(0, 16)
  const tenant = id.tenant.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)
  return `${tenant}-${hash}.json`
}

/**
 * A development aid (ION_TOKEN_DIR): the ION access token in a file, so a process restarted by `npm run dev` takes
 * the token its predecessor obtained instead of logging in again. Only the access token and its times are written
 * (never the refresh token, the client secret or the service-account keys), to a file of mode 600 in a directory of
 * mode 700, replaced atomically. `shared`: the manager leaves the token unrevoked on close, for the next run.
 *
 * One process at a time is expected: the lock is this process's own (two processes started together may both log
 * in, nothing worse).
 */
export class FileTokenStore implements TokenStore {
  readonly kind = 'file'
  readonly shared = true
  readonly path: string
  private readonly dir: string
  private readonly now: () => number

  constructor (dir: string, identity: TokenFileIdentity, options: { now?: () => number } = {}) {
    this.dir = dir
    this.path = join(dir, tokenFileName(identity))
    this.now = options.now ?? Date.now
  }

  async get (): Promise<StoredToken | undefined> {
    let raw: string
    try {
      raw = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      return undefined
    }
    if (!validToken(parsed) || parsed.expiresAtMs <= this.now()) return undefined
    return { accessToken: parsed.accessToken, expiresAtMs: parsed.expiresAtMs, obtainedAtMs: parsed.obtainedAtMs }
  }

  async set (token: StoredToken): Promise<void> {
    if (token.expiresAtMs <= this.now()) return
    const { accessToken, expiresAtMs, obtainedAtMs } = token
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const temp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`
    try {
      await writeFile(temp, JSON.stringify({ accessToken, expiresAtMs, obtainedAtMs }), { mode: 0o600, flag: 'wx' })
      // The umask may have narrowed the mode, never widened it; make it exactly 600 anyway.
      await chmod(temp, 0o600)
      await rename(temp, this.path)
    } catch (err) {
      await unlink(temp).catch(() => {})
      throw err
    }
  }

  async clear (ifAccessToken?: string): Promise<void> {
    if (ifAccessToken !== undefined && (await this.get())?.accessToken !== ifAccessToken) return
    await unlink(this.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }

  async tryLock (_owner: string, _ttlMs: number): Promise<boolean> {
    return true
  }

  async unlock (_owner: string): Promise<void> {}

  /** The file stays: it is there for the next run. */
  async close (): Promise<void> {}
}
