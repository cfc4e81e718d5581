/** Distinct M3 MI labels one process gives out; later transactions share `m3:other`. */
export const API_LABELS_MAX = 500

export type ApiLabeler = (system: string, candidate: string) => string

/**
 * The `api` label of the cache metrics: the system, or `m3:PROGRAM/TRANSACTION` for a well-formed M3 MI read. A
 * call's label is decided the first time the call is seen and never changes afterwards, so its first miss, later
 * misses, hits and stale answers all count under the same label (per-call hit ratios stay true). At most `max`
 * distinct labels are handed out per process: once they are taken, every new transaction is `<system>:other`.
 */
export function createApiLabeler (max = API_LABELS_MAX): ApiLabeler {
  const known = new Set<string>()
  return (system, candidate) => {
    if (candidate === system || known.has(candidate)) return candidate
    if (known.size < max) {
      known.add(candidate)
      return candidate
    }
    return `${system}:other`
  }
}
