import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Writable } from 'node:stream'
import { buildApp, type BuildOptions } from '../../src/app.ts'
import type { EnvInput } from '../../src/config.ts'
import { createEmulator, type Emulator, type EmulatorOptions } from '../../emulator/index.ts'
import { testConfig } from './config.ts'

export interface GatewayUnderTest {
  app: FastifyInstance
  emulator: Emulator
  /** The gateway's base URL (it listens on 127.0.0.1, port 0). */
  url: string
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>
  /** The raw log text, for "no secret anywhere" assertions. */
  logText: () => string
}

export interface GatewayOptions {
  env?: EnvInput
  emulator?: Emulator
  emulatorOptions?: EmulatorOptions
  listen?: boolean
  /** The clock of ION holds and ION_CALLS_PER_MIN (BuildOptions.callBudgetClock). */
  callBudgetClock?: () => number
  /** BuildOptions.readLane: false sends M3 reads through the pipeline too. */
  readLane?: BuildOptions['readLane']
}

/** The real app against a real ION emulator over HTTP, both on port 0, closed in teardown. */
export async function startGateway (t: Test, options: GatewayOptions = {}): Promise<GatewayUnderTest> {
  const emulator = options.emulator ?? await createEmulator({ port: 0, ...options.emulatorOptions })
  if (!options.emulator) t.teardown(() => emulator.close())
  const lines: string[] = []
  const logs: Array<Record<string, unknown>> = []
  const logStream = new Writable({
    write (chunk: Buffer, _enc, done) {
      const text = chunk.toString()
      lines.push(text)
      for (const line of text.split('\n')) {
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>)
      }
      done()
    },
  })
  const config = testConfig({ LOG_LEVEL: 'info', CACHE_DRIVER: 'none', ...options.env }, emulator.ionapi)
  const app = await buildApp(config, {
    logStream,
    ...(options.callBudgetClock ? { callBudgetClock: options.callBudgetClock } : {}),
    ...(options.readLane !== undefined ? { readLane: options.readLane } : {}),
  })
  t.teardown(() => app.close())
  let url = ''
  if (options.listen !== false) {
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    if (address && typeof address === 'object') url = `http://127.0.0.1:${address.port}`
  } else {
    await app.ready()
  }
  return { app, emulator, url, logs, logText: () => lines.join('') }
}
