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
 * The access log buffered the way nginx's `access_log … buffer=12k flush=1s` is: lines wait until 12 KiB are pending
 * (one write instead of one per request), and at most a second. The caller flushes on graceful shutdown (the app's
 * onClose hook); on `process.exit` (and after a fatal error, which exits) what waits is written. A SIGKILL (or an
 * OOM kill) loses what waits: up to a second of lines, or one buffer.
 *
 * Lines wait here, in an array, and sonic-boom (pino.destination) is handed 12 KiB at a time: handed single lines, it
 * measures the whole string it holds again on each one (bench/README.md, "Where the rest goes"). sonic-boom does the
 * writing, synchronously as nginx does (and pino by default): a write to a pipe that is full waits for its reader,
 * so a log collector that falls behind slows the gateway down instead of filling its memory. It is also cheaper:
 * 0.4 µs per line, against 2.1 asynchronously (3.4 with 4 KiB batches): `npx tsx bench/log-writes.ts`.
 */
export function bufferedLogDestination ({ dest = 1, minLength = 12288, flushIntervalMs = 1000 }: BufferedLogOptions = {}): BufferedLogDestination {
  // Its own minLength is ours (below its 16 KiB maxWrite): a full batch is written at once, and what `pass` hands it
  // below that (on the interval) stays with it until flushed.
  const sink = pino.destination({ dest, sync: true, minLength })
  let pending: string[] = []
  let pendingLength = 0
  const pass = (): void => {
    if (pendingLength === 0) return
    const batch = pending.length === 1 ? pending[0] as string : pending.join('')
    pending = []
    pendingLength = 0
    sink.write(batch)
  }
  // After close (the app still logs a line or two), each line is written at once: nothing is left to flush at exit.
  let closed = false
  const stream = {
    write (line: string): boolean {
      if (closed) {
        sink.write(line)
        flushSync()
        return true
      }
      pending.push(line)
      pendingLength += line.length
      if (pendingLength >= minLength) pass()
      return true
    },
  }
  const flushSync = (): void => {
    pass()
    try {
      sink.flushSync()
    } catch {
      // closed: nothing is left
    }
  }
  // What waits here and in sonic-boom (pino registers no exit flush for a synchronous destination).
  const onExit = (): void => flushSync()
  process.once('exit', onExit)
  const timer = setInterval(() => {
    // Destroyed: nothing to do now.
    try {
      pass()
      sink.flush()
    } catch {}
  }, flushIntervalMs)
  timer.unref()
  sink.once('close', () => clearInterval(timer))
  return {
    stream,
    flushSync,
    close () {
      clearInterval(timer)
      process.removeListener('exit', onExit)
      flushSync()
      closed = true
    },
  }
}
