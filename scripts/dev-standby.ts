// A gateway process kept warm by scripts/dev-runner.ts: it loads every dependency now, then waits. Only on 'go' does
// it import the gateway's own sources (so it runs the code as saved), build the app while the previous process is
// still closing, and listen once the runner says the port is free. See "Development loop" in docs/design.md.
import { readFileSync } from 'node:fs'
import module from 'node:module'
import type { ServeOptions } from '../src/serve.ts'

export type RunnerMessage = { type: 'go', portFree: boolean } | { type: 'port-free' }
export type StandbyMessage = { type: 'warm' } | { type: 'listening' }

// The runner starts this process in its own process group and forwards one signal. Should the runner die without
// one, the closed channel stops this process the usual graceful way.
process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))

// Node 22.1+: V8's compiled code is kept on disk between processes (only the gateway's changed files recompile).
;(module as { enableCompileCache?: () => unknown }).enableCompileCache?.()

let portFree = false
let onPortFree: (() => void) | undefined
const go = new Promise<void>(resolve => {
  process.on('message', (message: RunnerMessage) => {
    if (message.type === 'go') {
      portFree = message.portFree
      resolve()
    }
    if (message.type === 'port-free') {
      portFree = true
      onPortFree?.()
    }
  })
})

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { dependencies?: Record<string, string> }
// A dependency that fails to load here fails again, with its real error, when the gateway imports it.
await Promise.all(Object.keys(pkg.dependencies ?? {}).map(name => import(name).catch(() => undefined)))
process.send?.({ type: 'warm' } satisfies StandbyMessage)
await go
// From here the gateway's own handles decide when the process ends, not the channel.
process.channel?.unref()

const options: ServeOptions = {
  beforeListen: async () => {
    if (!portFree) await new Promise<void>(resolve => { onPortFree = resolve })
    process.send?.({ type: 'listening' } satisfies StandbyMessage)
  },
}
const { serve } = await import('../src/serve.ts')
await serve(options)
