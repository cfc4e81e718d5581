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
 * and never remembered. Answers are shared between callers, so they are frozen.
 */
export function memoize<T extends object> (compute: (input: string) => T, { max = 2048, maxKeyLength = 2048 }: MemoOptions = {}): (input: string) => Readonly<T> {
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
