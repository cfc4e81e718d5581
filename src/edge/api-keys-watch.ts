import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import { loadApiKeysFile, type ApiKeyRegistry } from './api-keys.ts'

export interface ApiKeysWatchOptions {
  /** Quiet time after the last change before the file is read again: one editor save or Secret swap is several events. */
  debounceMs: number
  /** A changed file that loaded: its registry replaces the old one. */
  onReload: (registry: ApiKeyRegistry) => void
  /** A changed file that cannot be used (unreadable, not JSON, a bad entry), or a watch that failed: the old keys stay. */
  onInvalid: (error: Error) => void
}

export interface ApiKeysWatch {
  close: () => void
}

function readText (file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/**
 * Reloads CLIENT_API_KEYS_FILE when it changes. The directory is watched, not the file: Kubernetes updates a mounted
 * Secret by renaming a symlink (`..data`) in the mount directory, and `npm run keys` renames a temp file over the
 * file; a watch on the file itself would stay on the old inode and see neither. Events without a content change are
 * ignored.
 */
export function watchApiKeysFile (file: string, options: ApiKeysWatchOptions): ApiKeysWatch {
  let lastText = readText(file)
  let timer: NodeJS.Timeout | undefined
  let closed = false

  function reload (): void {
    timer = undefined
    if (closed) return
    const text = readText(file)
    if (text !== undefined && text === lastText) return
    lastText = text
    try {
      options.onReload(loadApiKeysFile(file))
    } catch (err) {
      options.onInvalid(err as Error)
    }
  }

  let watcher: FSWatcher | undefined
  try {
    watcher = watch(dirname(file), { persistent: false }, () => {
      if (timer) clearTimeout(timer)
      timer = setTimeout(reload, options.debounceMs)
      timer.unref()
    })
    watcher.on('error', err => options.onInvalid(err))
  } catch (err) {
    options.onInvalid(err as Error)
  }

  return {
    close () {
      closed = true
      if (timer) clearTimeout(timer)
      watcher?.close()
    },
  }
}
