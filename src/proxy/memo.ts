import { LRUCache } from 'lru-cache'

export interface MemoOptions {
  /** Most recent inputs remembered. */
  max?: number
  /** Longer inputs are always computed (and never held). */
  maxKeyLength?: number
}

/** Answers `compute()` for `input`, from memory when `input` was seen recently. */
export type Memo<T> = (input: string, compute: () => T) => Readonly<T>

/**
 * Remembers a pure computation's answers for its most recent inputs: a gateway's traffic is mostly the same few
 * hundred URLs, and parsing, guarding and hashing each of them again costs more than a lookup. `input` must say
 * everything `compute` depends on. Failures are thrown and never remembered. Answers are shared between callers,
 * so they are frozen. The defaults bound one memo to ~1 MB of keys however many distinct URLs arrive (the proxy
 * keeps three per system).
 */
export function createMemo<T extends object> ({ max = 1024, maxKeyLength = 512 }: MemoOptions = {}): Memo<T> {
  const remembered = new LRUCache<string, Readonly<T>>({ max })
  return (input, compute) => {
    if (input.length > maxKeyLength) return Object.freeze(compute())
    let answer = remembered.get(input)
    if (answer === undefined) {
      answer = Object.freeze(compute())
      remembered.set(input, answer)
    }
    return answer
  }
}
