/**
 * One benchmark target per process (so load generator and servers do not share an event loop). Plain JavaScript on
 * the built gateway (`dist/`, from `npm run build`): the way the image runs it. Through tsx the same gateway costs
 * ~5 µs more per request (its loader hooks and the names it gives every closure).
 *   node bench/targets.mjs emulator <port>
 *   node bench/targets.mjs gateway <port> <ionapiFile> <cacheDriver>
 *   node bench/targets.mjs bare-proxy <port> <upstreamBase> <token>
 * Prints `READY <port>` once listening.
 */
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'
import { pino } from 'pino'
import { buildApp } from '../dist/src/app.js'
import { resolveConfig } from '../dist/src/config.js'
import { createEmulator } from '../dist-emulator/emulator/index.js'

const [kind, portArg, arg1, arg2] = process.argv.slice(2)
// A clean exit on SIGTERM lets `node --cpu-prof` write its profile.
process.once('SIGTERM', () => process.exit(0))
const port = Number(portArg)

if (kind === 'emulator') {
  const emulator = await createEmulator({ port })
  process.stdout.write(`READY ${port} ${JSON.stringify(emulator.ionapi)}\n`)
} else if (kind === 'gateway') {
  const ionapi = JSON.parse(readFileSync(arg1, 'utf8'))
  const config = resolveConfig({
    PORT: String(port),
    // Production logging: one JSON line per request, written synchronously (pino's stdout default) to /dev/null.
    LOG_LEVEL: 'info',
    CACHE_DRIVER: arg2 ?? 'memory',
    RATE_LIMIT_MAX: '100000000',
    // Saturating the gateway is the point here: load shedding would answer 503s instead.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    // Experiments: pass gateway variables through, e.g. BENCH_UPSTREAM_CONNECTIONS=128.
    ...(process.env.BENCH_UPSTREAM_CONNECTIONS ? { UPSTREAM_CONNECTIONS: process.env.BENCH_UPSTREAM_CONNECTIONS } : {}),
  }, ionapi)
  const app = await buildApp(config, { logStream: pino.destination({ dest: '/dev/null', sync: true }) })
  await app.listen({ port, host: '127.0.0.1' })
  process.stdout.write(`READY ${port}\n`)
} else if (kind === 'bare-proxy') {
  // The library floor: @fastify/http-proxy alone, same upstream, a fixed bearer token, nothing else.
  const [upstream, token] = [arg1, arg2]
  const app = Fastify({ logger: false })
  await app.register(httpProxy, {
    upstream: new URL(upstream).origin,
    prefix: '/m3',
    rewritePrefix: `${new URL(upstream).pathname}/M3`,
    replyOptions: { rewriteRequestHeaders: (_req, headers) => ({ ...headers, authorization: `Bearer ${token}` }) },
  })
  await app.listen({ port, host: '127.0.0.1' })
  process.stdout.write(`READY ${port}\n`)
} else {
  process.stderr.write(`unknown target ${kind}\n`)
  process.exit(2)
}
