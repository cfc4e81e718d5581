import { createHash } from 'node:crypto'

/**
 * Where one gateway release keeps its state in a shared Redis: `<prefix><tenant>:<hash>:` with the tenant `ti`
 * and 8 hex digits of SHA-256 over the ION API base URL (`iu` and the tenant), so a TST and a PRD gateway on one
 * Redis database never read, purge or count each other's keys, while replicas of one release (same `.ionapi`, same
 * prefix) share everything. The namespace holds no hash tag: cache entries spread over a Cluster's slots.
 */
export interface RedisNamespace {
  /** `ion-gateway:ACME_TST:1a2b3c4d:` */
  readonly root: string
  /** Prefix of cached answers. */
  readonly cache: string
  /** Prefix of rate-limit counters. */
  readonly rateLimit: string
  /** Prefix of the ION token and its refresh lock. */
  readonly token: string
  /** Prefix of ION's holds after a 429, one key per system (`hold:M3`). */
  readonly hold: string
  /** Prefix of the ION_CALLS_PER_MIN counts, one key per minute (`calls:<window start, ms>`). */
  readonly calls: string
}

/** Characters that could end the tenant part early or open a Cluster hash tag are percent-encoded. */
function tenantPart (tenant: string): string {
  return tenant.replace(/[^A-Za-z0-9_-]/g, c => encodeURIComponent(c).replace(/[^%A-Za-z0-9]/g, x => `%${x.charCodeAt(0).toString(16).toUpperCase()}`))
}

export function redisNamespace (keyPrefix: string, ion: { tenant: string, apiBaseUrl: string }): RedisNamespace {
  if (/[{}]/.test(keyPrefix)) throw new Error('the Redis key prefix may not contain { or } (Cluster hash tags)')
  const urlHash = createHash('sha256').update(ion.apiBaseUrl).digest('hex').slice(0, 8)
  const root = `${keyPrefix}${tenantPart(ion.tenant)}:${urlHash}:`
  return { root, cache: `${root}cache:`, rateLimit: `${root}ratelimit:`, token: `${root}token:`, hold: `${root}hold:`, calls: `${root}calls:` }
}
