import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export interface Part {
  /** 1-based: this process runs files part, part + of, part + 2·of… of the folder's files in name order. */
  part: number
  of: number
}

/**
 * Runs `*.test.ts` files of `folder` in this one process, in name order, each registering its tests on the same
 * root as it would alone: all of them, or one part of them (a folder of heavy files is split so that no single process
 * runs for long). A tap file is a process of its own, and starting one costs 2–3 s of CPU before its first test (tap
 * and its processinfo loader, tsx, the gateway's modules): for folders of small files that was most of their cost.
 * `.taprc` leaves these folders out of the default run and runs test/grouped/ instead; every file still runs alone
 * as well (`npx tap test/proxy/gateway.test.ts`).
 */
export async function runFolder (folder: URL, { part, of }: Part = { part: 1, of: 1 }): Promise<void> {
  const files = readdirSync(fileURLToPath(folder)).filter(name => name.endsWith('.test.ts')).sort()
  for (const [i, name] of files.entries()) {
    if (i % of === part - 1) await import(new URL(name, folder).href)
  }
}
