import type { IncomingHttpHeaders } from 'node:http'
import { cacheKey, keyedHeadersInput } from '../cache/keys.ts'
import { isM3Read, isStorableM3Answer, m3EndpointLabel, readM3Answer } from '../ion/m3.ts'
import type { LocationRewrite } from './headers.ts'
import { createMemo } from './memo.ts'
import { guardPath, type GuardedTarget } from './path-guard.ts'
import { SYSTEMS, type SystemId } from './systems.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** One ION system as the gateway serves it: where it lives, and what its requests are (remembered per input). */
export interface SystemTarget {
  system: SystemId
  /** `/m3` */
  routePrefix: string
  /** Origin-relative ION path of the system: `/ACME_TST/M3` */
  upstreamPrefix: string
  rewrite: LocationRewrite
  /** guardPath below this system's prefix, remembered per raw URL (refusals are thrown, never remembered). */
  guard (rawUrl: string): Readonly<GuardedTarget>
  /**
   * Whether a call may be retried and cached, and its metric endpoint candidate; remembered per method and path.
   * `path` is the path below the system prefix exactly as sent to ION.
   */
  facts (method: string, path: string): Readonly<CallFacts>
  /** The response cache key of a read, remembered per path (as sent to ION), query and keyed headers. */
  cacheKey (path: string, rawQuery: string, headers: IncomingHttpHeaders): string
  /** What the system's answer bodies say about storing them (M3 reports errors with 200); absent: HTTP's rules only. */
  storable: ((body: Buffer) => boolean) | undefined
}

export interface CallFacts {
  retryable: boolean
  /** The metric label `api` this call asks for (src/proxy/api-labels.ts bounds it): the system, or an MI read. */
  endpointCandidate: string
}

// Inputs are joined with NUL, which none of them can hold: guarded paths refuse control characters, and Node's
// HTTP parser refuses a raw NUL in a request target or a header value.
const SEP = '\u0000'

/**
 * `apiBaseUrl` is ION's `{iu}/{ti}`; `m3ReadTransactions` tells M3 reads from writes (M3_READ_TRANSACTIONS);
 * `ignoreParams` are the query parameters left out of cache keys (CACHE_IGNORE_PARAMS).
 */
export function createSystemTarget (system: SystemId, apiBaseUrl: string, m3ReadTransactions: RegExp, ignoreParams?: ReadonlySet<string>): SystemTarget {
  const base = new URL(apiBaseUrl)
  const upstreamPrefix = `${base.pathname.replace(/\/+$/, '')}/${SYSTEMS[system]}`
  const routePrefix = `/${system}`
  const guards = createMemo<GuardedTarget>()
  const facts = createMemo<CallFacts>()
  const keys = createMemo<{ key: string }>()
  return {
    system,
    routePrefix,
    upstreamPrefix,
    rewrite: { upstreamBases: [base.origin + upstreamPrefix, upstreamPrefix], routePrefix },
    guard: rawUrl => guards(rawUrl, () => guardPath(rawUrl, routePrefix, upstreamPrefix)),
    facts: (method, path) => facts(method + SEP + path, () => system === 'm3'
      ? { retryable: isM3Read(method, path, m3ReadTransactions), endpointCandidate: m3EndpointLabel(path) ?? system }
      // Safe methods only: anything else may change ION's state.
      : { retryable: SAFE_METHODS.has(method), endpointCandidate: system }),
    cacheKey (path, rawQuery, headers) {
      return keys(path + SEP + rawQuery + keyedHeadersInput(headers), () => ({ key: cacheKey({ system, path, rawQuery, headers, ignoreParams }) })).key
    },
    storable: system === 'm3' ? storableM3Body : undefined,
  }
}

function storableM3Body (body: Buffer): boolean {
  return isStorableM3Answer(readM3Answer(body))
}
