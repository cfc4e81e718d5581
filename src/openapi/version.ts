import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The version in the project's package.json, found by walking up from this file: the build output sits one level
 * deeper than the sources (dist/src/), and the image copies package.json next to dist/.
 */
export function packageVersion (from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }
      if (typeof version === 'string') return version
    }
    if (dirname(dir) === dir) throw new Error('package.json with a version not found above ' + from)
  }
}
