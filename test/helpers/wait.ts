import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Waits for a state the test cannot observe as an event (a counter, a readiness answer, a Redis role) by polling
 * `check` every `intervalMs` (10 ms). `check` answers true when done, or false or a description of what it saw; after `timeoutMs`
 * the wait fails with `what` and the last thing seen. Never a fixed sleep: the wait ends as soon as the state holds.
 */
export async function eventually (what: string, check: () => boolean | string | Promise<boolean | string>, timeoutMs = 10000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: boolean | string = false
  for (;;) {
    try {
      last = await check()
    } catch (err) {
      last = (err as Error).message
    }
    if (last === true) return
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last seen: ${String(last)})`)
    await sleep(intervalMs)
  }
}

/** A port nobody listens on right now (the OS picks it); another process may still take it: callers retry. */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}
