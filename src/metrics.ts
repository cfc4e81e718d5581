import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The gateway's own metrics (docs/design.md "Metrics": names are a contract for the Grafana dashboard), on a private
 * registry per app instance. Labels are bounded: a system, an M3 program/transaction that succeeded, a status code.
 */
/** Values read at scrape time, supplied by whoever owns them (e.g. the token manager). */
export interface MetricSources {
  tokenExpiresAtMs?: () => number | undefined
}

export function createGatewayMetrics (registry: Registry = new Registry()) {
  const registers = [registry]
  const sources: MetricSources = {}
  return {
    registry,
    sources,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Duration of HTTP requests in seconds, by route template',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'upstream_request_duration_seconds',
      help: 'Duration of requests to ION until response headers, by system and status code',
      labelNames: ['system', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'upstream_retries_total',
      help: 'Retries of idempotent reads to ION',
      labelNames: ['system'] as const,
      registers,
    }),
    tokenRefreshes: new Counter({
      name: 'token_refreshes_total',
      help: 'ION token refreshes by outcome and trigger',
      labelNames: ['success', 'trigger'] as const,
      registers,
    }),
    ionLogins: new Counter({
      name: 'ion_gateway_ion_logins_total',
      help: 'ION logins (token requests; a refused refresh token and its fallback grant count once), by what caused them',
      labelNames: ['reason'] as const,
      registers,
    }),
    tokenExpiresIn: new Gauge({
      name: 'token_expires_in_seconds',
      help: 'Seconds until the current ION access token expires (0 when none is held)',
      registers,
      collect () {
        const expiresAtMs = sources.tokenExpiresAtMs?.()
        this.set(expiresAtMs === undefined ? 0 : Math.max(0, (expiresAtMs - Date.now()) / 1000))
      },
    }),
    cacheHits: new Counter({ name: 'cache_hits_total', help: 'Cache hits', labelNames: ['endpoint'] as const, registers }),
    cacheMisses: new Counter({ name: 'cache_misses_total', help: 'Cache misses', labelNames: ['endpoint'] as const, registers }),
    cacheStaleServed: new Counter({
      name: 'cache_stale_served_total',
      help: 'Stale entries served because ION failed',
      labelNames: ['endpoint'] as const,
      registers,
    }),
    cacheErrors: new Counter({ name: 'cache_errors_total', help: 'Cache driver failures (SYS_001)', registers }),
    rateLimitExceeded: new Counter({ name: 'rate_limit_exceeded_total', help: 'Requests refused by the rate limit', registers }),
    activeConnections: new Gauge({ name: 'active_connections', help: 'Open client connections', registers }),
  }
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
