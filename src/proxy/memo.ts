import { LRUCache } from 'lru-cache'

export interface MemoOptions {
  /** Most recent inputs remembered. */
  max?: number
  /** Longer inputs are always computed (and never held). */
  maxKeyLength?: number
}

/**
 * Remembers a pure function's answers for its most recent inputs: a gateway's traffic is mostly the same few
 * hundred URLs, and parsing, guarding and hashing each of them again costs more than a lookup. Failures are thrown
 * and never remembered. Answers are shared between callers, so they are frozen. The defaults bound one memo to
 * ~1 MB of keys however many distinct URLs arrive (the proxy keeps three per system).
 */
export function memoize<T extends object> (compute: (input: string) => T, { max = 1024, maxKeyLength = 512 }: MemoOptions = {}): (input: string) => Readonly<T> {
  const remembered = new LRUCache<string, Readonly<T>>({ max })
  return input => {
    if (input.length > maxKeyLength) return Object.freeze(compute(input))
    let answer = remembered.get(input)
    if (answer === undefined) {
      answer = Object.freeze(compute(input))
      remembered.set(input, answer)
    }
    return answer
  }
}
