/**
 * One benchmark target per process (so load generator and servers do not share an event loop). Plain JavaScript on
 * the built gateway (`dist/`, from `npm run build`): the way the image runs it. Through tsx the same gateway costs
 * ~5 µs more per request (its loader hooks and the names it gives every closure).
 *   node bench/targets.mjs emulator <port>
 *   node bench/targets.mjs gateway <port> <ionapiFile> <cacheDriver> [<env JSON>]
 *   node bench/targets.mjs bare-proxy <port> <upstreamBase> <token>
 *   node bench/targets.mjs bare-route <port> <bodyFile> <contentType> [<headersFile>]
 *   node bench/targets.mjs express-proxy <port> <upstreamBase> <token>
 * Prints `READY <port>` once listening. Started with an IPC channel, it answers the message `memory` with its
 * `process.memoryUsage()` after a full GC (when node runs with --expose-gc).
 */
import { readFileSync } from 'node:fs'
import { Agent } from 'node:http'
import Fastify from 'fastify'
import httpProxy from '@fastify/http-proxy'
import express from 'express'
import { createProxyMiddleware } from 'http-proxy-middleware'
import { buildApp } from '../dist/src/app.js'
import { resolveConfig } from '../dist/src/config.js'
import { createEmulator } from '../dist-emulator/emulator/index.js'

const [kind, portArg, arg1, arg2, arg3] = process.argv.slice(2)
// A clean exit on SIGTERM lets `node --cpu-prof` write its profile.
process.once('SIGTERM', () => process.exit(0))
process.on('message', message => {
  if (message !== 'memory') return
  globalThis.gc?.()
  process.send?.(process.memoryUsage())
})
const port = Number(portArg)

if (kind === 'emulator') {
  const emulator = await createEmulator({ port })
  process.stdout.write(`READY ${port} ${JSON.stringify(emulator.ionapi)}\n`)
} else if (kind === 'gateway') {
  const ionapi = JSON.parse(readFileSync(arg1, 'utf8'))
  const config = resolveConfig({
    PORT: String(port),
    // Production logging: one JSON line per request, through the shipped buffered destination (4 KiB, 1 s), to /dev/null.
    LOG_LEVEL: 'info',
    CACHE_DRIVER: arg2 ?? 'memory',
    RATE_LIMIT_MAX: '100000000',
    // Saturating the gateway is the point here: load shedding would answer 503s instead.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    // Experiments: pass gateway variables through, e.g. BENCH_UPSTREAM_CONNECTIONS=128.
    ...(process.env.BENCH_UPSTREAM_CONNECTIONS ? { UPSTREAM_CONNECTIONS: process.env.BENCH_UPSTREAM_CONNECTIONS } : {}),
    // What a mode sets: REDIS_URL, CACHE_MAX_BYTES, TRUST_PROXY…
    ...(arg3 ? JSON.parse(arg3) : {}),
  }, ionapi)
  // BENCH_READ_LANE=off: every request through Fastify's pipeline, to measure what the read lane saves.
  const app = await buildApp(config, { logDestination: '/dev/null', ...(process.env.BENCH_READ_LANE === 'off' ? { readLane: false } : {}) })
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
} else if (kind === 'bare-route') {
  // The framework floor of a HIT: one Fastify route answering the gateway's HIT body, bytes and content-type.
  // With a headers file (JSON), it also sends those headers: the HIT's own, for the same answer byte for byte.
  const [body, contentType, headers] = [readFileSync(arg1), arg2, arg3 ? JSON.parse(readFileSync(arg3, 'utf8')) : undefined]
  const app = Fastify({ logger: false })
  app.get('/m3/*', headers
    ? (_request, reply) => { reply.headers(headers).header('content-type', contentType).send(body) }
    : (_request, reply) => { reply.header('content-type', contentType).send(body) })
  await app.listen({ port, host: '127.0.0.1' })
  process.stdout.write(`READY ${port}\n`)
} else if (kind === 'express-proxy') {
  // The stack this project replaces: Express 5 and http-proxy-middleware with a fixed token, keep-alive upstream.
  const [upstream, token] = [arg1, arg2]
  const app = express()
  app.use('/m3', createProxyMiddleware({
    target: `${upstream}/M3`,
    agent: new Agent({ keepAlive: true, maxSockets: 64 }),
    headers: { authorization: `Bearer ${token}` },
  }))
  await new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1', err => (err ? reject(err) : resolve(server)))
  })
  process.stdout.write(`READY ${port}\n`)
} else {
  process.stderr.write(`unknown target ${kind}\n`)
  process.exit(2)
}
