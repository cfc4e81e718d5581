import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * `dist/<file>` exists and is newer than every source file it is built from: `npm test` builds before the suite, so
 * tests of the built code use it as it is (nobody writes dist/ then) and build only when it is stale.
 */
export function buildIsCurrent (file = 'src/server.js'): boolean {
  const built = statSync(join(root, 'dist', file), { throwIfNoEntry: false })
  if (!built) return false
  const sources = ['src', 'plugins'].flatMap(dir => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map(f => join(root, dir, f)))
  return sources.every(f => statSync(f).mtimeMs <= built.mtimeMs)
}
