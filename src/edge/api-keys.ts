import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
// Not from config.ts: the keys CLI loads this module, and config.ts brings env-schema, ajv and undici with it.
import { ConfigError } from '../config-error.ts'
import { Type, Value, type Static } from '../typebox.ts'

const ClientSchema = Type.Object({
  id: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }),
  keySha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  admin: Type.Optional(Type.Boolean()),
  revoked: Type.Optional(Type.Boolean()),
})
const ClientsSchema = Type.Array(ClientSchema)

export type ApiClientRecord = Static<typeof ClientSchema>

export interface ApiClient {
  id: string
  admin: boolean
}

/** A bad keys file stops the boot like any other configuration error. */
export class ApiKeysFileError extends ConfigError {
  constructor (message: string) {
    super(message)
    this.name = 'ApiKeysFileError'
  }
}

export function sha256Hex (value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

/** A new random key (shown once) and the line that registers it; the file only ever holds the hash. */
export function newApiKey (clientId: string, admin = false): { key: string, record: ApiClientRecord } {
  if (!Value.Check(ClientSchema.properties.id, clientId)) throw new ApiKeysFileError('client id: 1 to 64 of A-Z a-z 0-9 . _ -')
  const key = `igw_${randomBytes(32).toString('base64url')}`
  return { key, record: { id: clientId, keySha256: sha256Hex(key), ...(admin ? { admin: true } : {}) } }
}

export interface ApiKeyRegistry {
  /** The client whose key this is, or undefined. Every registered hash is compared, in constant time. */
  identify (key: string | undefined): ApiClient | undefined
  readonly size: number
}

export function createApiKeyRegistry (records: ApiClientRecord[]): ApiKeyRegistry {
  const active = records.filter(r => !r.revoked).map(r => ({ id: r.id, admin: r.admin === true, hash: Buffer.from(r.keySha256, 'hex') }))
  return {
    size: active.length,
    identify (key) {
      if (typeof key !== 'string' || key.length === 0 || key.length > 512) return undefined
      const hash = createHash('sha256').update(key).digest()
      let found: ApiClient | undefined
      for (const client of active) {
        // No early exit: the time taken does not depend on which (or whether a) client matched.
        if (timingSafeEqual(hash, client.hash) && !found) found = { id: client.id, admin: client.admin }
      }
      return found
    },
  }
}

/** Reads and validates CLIENT_API_KEYS_FILE; errors name the file and the entry, never a hash. */
export function readApiKeyRecords (file: string): ApiClientRecord[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ApiKeysFileError(`CLIENT_API_KEYS_FILE: ${code ? `cannot read ${file} (${code})` : `${file} is not valid JSON`}`)
  }
  if (!Value.Check(ClientsSchema, parsed)) {
    const first = [...Value.Errors(ClientsSchema, parsed)][0]
    throw new ApiKeysFileError(`CLIENT_API_KEYS_FILE: ${file}: entry ${first?.path || '(root)'} ${first?.message ?? 'is invalid'} (expected [{ "id", "keySha256", "admin"?, "revoked"? }])`)
  }
  const ids = new Set<string>()
  for (const r of parsed) {
    if (ids.has(r.id)) throw new ApiKeysFileError(`CLIENT_API_KEYS_FILE: ${file}: client id "${r.id}" appears twice`)
    ids.add(r.id)
  }
  return parsed
}

export function loadApiKeysFile (file: string): ApiKeyRegistry {
  return createApiKeyRegistry(readApiKeyRecords(file))
}
