import { pino } from 'pino'

export interface BufferedLogOptions {
  /** A file descriptor (stdout: 1) or a file path. */
  dest?: number | string
  /** Lines are held in memory until this many bytes wait, then written in one system call. */
  minLength?: number
  /** Whatever waits is written at least this often, however few lines arrived. */
  flushIntervalMs?: number
}

/** A log destination whose lines may wait in memory: write them all now (on close, before exit). */
export interface BufferedLogDestination {
  /** For the logger's `stream` option. */
  stream: { write (line: string): unknown }
  flushSync (): void
  /** Writes what waits and stops the interval: later lines wait for minLength or exit (pino's exit handler). */
  close (): void
}

/**
 * The access log buffered the way nginx's `access_log … buffer=4k flush=1s` is: lines wait until 4 KiB are pending
 * (one write instead of one per request), and at most a second. The caller flushes on graceful shutdown (the app's
 * onClose hook); pino's own exit handler flushes on `process.exit` and after a fatal error. A SIGKILL (or an OOM
 * kill) loses what waits: up to a second of lines, or one buffer.
 */
export function bufferedLogDestination ({ dest = 1, minLength = 4096, flushIntervalMs = 1000 }: BufferedLogOptions = {}): BufferedLogDestination {
  // Buffer mode: sonic-boom counts a Buffer's bytes by its length. Given strings, it measures the whole pending buffer
  // (up to 16 KiB) again on every line it is given, which cost more than serializing the line (bench/README.md).
  const sink = pino.destination({ dest, sync: false, minLength, contentMode: 'buffer' })
  // (sonic-boom's types know only its string mode.)
  const stream = { write: (line: string) => sink.write(Buffer.from(line) as unknown as string) }
  const timer = setInterval(() => {
    // Not open yet (a path is opened asynchronously), or destroyed: nothing to do now.
    try {
      sink.flush()
    } catch {}
  }, flushIntervalMs)
  timer.unref()
  sink.once('close', () => clearInterval(timer))
  const flushSync = (): void => {
    try {
      sink.flushSync()
    } catch {
      // not open yet: nothing was written to it; or closed: nothing is left
    }
  }
  return {
    stream,
    flushSync,
    close () {
      clearInterval(timer)
      flushSync()
    },
  }
}
