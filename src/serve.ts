import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { createLogStream } from './log-format.ts'

/** Past the readiness delay, in-flight requests get this long to finish before the process is stopped anyway. */
const DRAIN_BUDGET_MS = 25000

/**
 * Reads the configuration, builds the app, listens. On SIGTERM/SIGINT: readiness turns 503 at once, the gateway
 * keeps serving for SHUTDOWN_DELAY_MS (load balancers stop sending), then stops accepting, lets in-flight requests
 * finish (new ones get SYS_004), closes pools, Redis and timers, revokes its own token and exits 0.
 */
export interface ServeOptions {
  /** Awaited once the app is ready, just before it listens: `npm run dev` builds the next process while the old one still holds the port. */
  beforeListen?: () => Promise<void>
}

export async function serve (options: ServeOptions = {}): Promise<void> {
  let config: Config
  let app: FastifyInstance
  try {
    // A bad variable, .ionapi or keys file stops the boot with one line naming it.
    config = loadConfig()
    // Pretty lines at a terminal (npm run dev), JSON otherwise.
    const { stream } = await createLogStream({ stdout: process.stdout })
    app = await buildApp(config, stream ? { logStream: stream } : {})
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ion-gateway: ${err.message}\n`)
      process.exitCode = 1
      return
    }
    throw err
  }

  closeWithGrace({ delay: config.shutdownDelayMs + DRAIN_BUDGET_MS }, async ({ signal, err }) => {
    if (err) {
      app.log.error({ err }, 'fatal error, closing')
    } else {
      app.log.info({ signal, delayMs: config.shutdownDelayMs }, 'shutting down: readiness off, still serving')
      app.lifecycle.draining = true
      // 0 in development (NODE_ENV=development, as `npm run dev` sets): a watch restart is not a rollout.
      if (config.shutdownDelayMs > 0) await sleep(config.shutdownDelayMs)
    }
    app.log.info('draining in-flight requests')
    await app.close()
    app.log.info('closed')
  })

  if (options.beforeListen) {
    await app.ready()
    await options.beforeListen()
  }
  await app.listen({ port: config.port, host: config.host })
}
