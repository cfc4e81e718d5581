import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { LabelledCounter, LabelledHistogram } from './metric-series.ts'
import { SYSTEM_IDS, type SystemId } from './proxy/systems.ts'

/**
 * The gateway's own metrics (docs/design.md "Metrics": names are a contract for the Grafana dashboard and the chart's
 * alerts), on a private registry per app instance. Every name starts with `ion_gateway_`, so a Prometheus shared with
 * other applications never mixes their series into the gateway's. Labels are bounded: a system, a route template, a
 * status code, an API label from a bounded set (src/proxy/api-labels.ts).
 */
export const METRIC_PREFIX = 'ion_gateway_'

/** Values read at scrape time, supplied by whoever owns them (e.g. the token manager). */
export interface MetricSources {
  tokenExpiresAtMs?: () => number | undefined
  /** True while the last token refresh failed and none has succeeded since. */
  tokenRefreshFailing?: () => boolean
  /** Logins in the last minute as a share of ION_LOGINS_PER_MIN, as this process saw them. */
  loginBudgetUsedRatio?: () => number
  /** Redis' topology and whether its client is ready; undefined when no Redis is configured. */
  redis?: () => { mode: string, ready: boolean } | undefined
  /** Requests to ION of a system in progress and waiting for a place (UPSTREAM_MAX_INFLIGHT), on this process. */
  upstreamLoad?: (system: SystemId) => { inflight: number, queued: number }
  /** Share of ION_CALLS_PER_MIN spent in the current minute, as this process last saw it (0 when off). */
  callBudgetUsedRatio?: () => number
}

export function createGatewayMetrics (registry: Registry = new Registry()) {
  const registers = [registry]
  const sources: MetricSources = {}
  const name = (suffix: string): string => METRIC_PREFIX + suffix
  const metrics = {
    registry,
    sources,
    // Observed for every request: label sets found without hashing (src/metric-series.ts).
    httpDuration: new LabelledHistogram({
      name: name('http_request_duration_seconds'),
      help: 'Duration of HTTP requests in seconds, by route template',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamDuration: new LabelledHistogram({
      name: name('upstream_request_duration_seconds'),
      help: 'Duration of requests to ION until response headers, by system and status code',
      labelNames: ['system', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamRetries: new Counter({
      name: name('upstream_retries_total'),
      help: 'Retries of idempotent reads to ION',
      labelNames: ['system'] as const,
      registers,
    }),
    upstreamInflight: new Gauge({
      name: name('upstream_inflight_requests'),
      help: 'Requests to ION in progress on this process (until the answer is read), by system; at most UPSTREAM_MAX_INFLIGHT',
      labelNames: ['system'] as const,
      registers,
      collect () {
        for (const system of SYSTEM_IDS) this.set({ system }, sources.upstreamLoad?.(system).inflight ?? 0)
      },
    }),
    upstreamQueueLength: new Gauge({
      name: name('upstream_queue_length'),
      help: 'Requests waiting for a place among UPSTREAM_MAX_INFLIGHT, by system',
      labelNames: ['system'] as const,
      registers,
      collect () {
        for (const system of SYSTEM_IDS) this.set({ system }, sources.upstreamLoad?.(system).queued ?? 0)
      },
    }),
    upstreamQueueWait: new Histogram({
      name: name('upstream_queue_wait_seconds'),
      help: 'Time requests waited for a place among UPSTREAM_MAX_INFLIGHT (given one or not), by system; _count is the requests that waited',
      labelNames: ['system'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    callBudgetUsedRatio: new Gauge({
      name: name('ion_call_budget_used_ratio'),
      help: 'Share of ION_CALLS_PER_MIN spent in the current minute by the cluster, as this process last saw it, 0..1 (0 when off)',
      registers,
      collect () {
        this.set(Math.min(1, sources.callBudgetUsedRatio?.() ?? 0))
      },
    }),
    ionHolds: new Counter({
      name: name('ion_holds_total'),
      help: 'Calls not sent to ION (answered API_005 or stale) because ION held the system after a 429 or ION_CALLS_PER_MIN was spent',
      labelNames: ['system'] as const,
      registers,
    }),
    loginBudgetUsedRatio: new Gauge({
      name: name('ion_login_budget_used_ratio'),
      help: 'Share of ION_LOGINS_PER_MIN spent in the last minute by this process\'s logins, 0..1',
      registers,
      collect () {
        this.set(Math.min(1, sources.loginBudgetUsedRatio?.() ?? 0))
      },
    }),
    tokenRefreshes: new Counter({
      name: name('token_refreshes_total'),
      help: 'ION token refreshes by outcome and trigger',
      labelNames: ['success', 'trigger'] as const,
      registers,
    }),
    ionLogins: new Counter({
      name: name('ion_logins_total'),
      help: 'ION logins (token requests; a refused refresh token and its fallback grant count once), by what caused them',
      labelNames: ['reason'] as const,
      registers,
    }),
    tokenExpiresIn: new Gauge({
      name: name('token_expires_in_seconds'),
      help: 'Seconds until the current ION access token expires (0 when none is held)',
      registers,
      collect () {
        const expiresAtMs = sources.tokenExpiresAtMs?.()
        this.set(expiresAtMs === undefined ? 0 : Math.max(0, (expiresAtMs - Date.now()) / 1000))
      },
    }),
    tokenRefreshFailing: new Gauge({
      name: name('token_refresh_failing'),
      help: '1 while the last ION token refresh failed and none has succeeded since, else 0',
      registers,
      collect () {
        this.set(sources.tokenRefreshFailing?.() === true ? 1 : 0)
      },
    }),
    redisUp: new Gauge({
      name: name('redis_up'),
      help: '1 when the Redis client is ready, 0 while Redis is unreachable (degraded mode); absent without Redis',
      labelNames: ['mode'] as const,
      registers,
      collect () {
        this.reset()
        const redis = sources.redis?.()
        if (redis) this.set({ mode: redis.mode }, redis.ready ? 1 : 0)
      },
    }),
    cacheHits: new LabelledCounter({ name: name('cache_hits_total'), help: 'Cache hits', labelNames: ['api'] as const, registers }),
    cacheMisses: new LabelledCounter({ name: name('cache_misses_total'), help: 'Cache misses', labelNames: ['api'] as const, registers }),
    cacheStaleServed: new Counter({
      name: name('cache_stale_served_total'),
      help: 'Stale entries served because ION failed',
      labelNames: ['api'] as const,
      registers,
    }),
    cacheErrors: new Counter({ name: name('cache_errors_total'), help: 'Cache driver failures (SYS_001)', registers }),
    rateLimitExceeded: new Counter({ name: name('rate_limit_exceeded_total'), help: 'Requests refused by the rate limit', registers }),
    activeConnections: new Gauge({ name: name('active_connections'), help: 'Open client connections', registers }),
  }
  // Present from the first scrape, so rate() and the alerts on them have a series before the first hold.
  for (const system of SYSTEM_IDS) {
    metrics.ionHolds.inc({ system }, 0)
    metrics.upstreamQueueWait.zero({ system })
  }
  return metrics
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>
