import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { Pool } from 'undici'
import { EventEmitter } from 'node:events'
import { createUpstream } from '../../src/proxy/upstream.ts'
import { upstreamRequestHeaders } from '../../src/proxy/headers.ts'

const [variant, port, ionapiFile, token] = process.argv.slice(2)
const ion = JSON.parse(readFileSync(ionapiFile!, 'utf8'))
const origin = new URL(ion.iu).origin
const app = Fastify({ logger: false })
const pool = new Pool(origin, { connections: 64, pipelining: 1 })
const upstream = createUpstream({ origin, connections: 64, timeoutMs: 30000, retries: 2, tokens: { getAccessToken: async () => token!, invalidate: async () => {} } })
app.get('/m3/*', async (request, reply) => {
  const path = `/${ion.ti}/M3${request.url.slice(3)}`
  if (variant === 'pool') {
    const res = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } })
    return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(res.body)
  }
  if (variant === 'signal') {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 30000)
    try {
      const res = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
      return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(res.body)
    } finally { clearTimeout(timer) }
  }
  if (variant === 'emitter') {
    const ee = new EventEmitter()
    const timer = setTimeout(() => ee.emit('abort'), 30000)
    try {
      const res = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` }, signal: ee })
      return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(res.body)
    } finally { clearTimeout(timer) }
  }
  if (variant === 'timeronly') {
    const timer = setTimeout(() => {}, 30000)
    try {
      const res = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } })
      return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(res.body)
    } finally { clearTimeout(timer) }
  }
  if (variant === 'headers') {
    const res = await pool.request({ method: 'GET', path, headers: upstreamRequestHeaders(request.headers, { token: token!, requestId: request.id, clientIp: request.ip }) })
    return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(res.body)
  }
  if (variant === 'poolbuf') {
    const res = await pool.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } })
    const body = Buffer.from(await res.body.arrayBuffer())
    return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(body)
  }
  const res = await upstream.forward({ system: 'm3', method: 'GET', path, headers: request.headers, requestId: request.id, clientIp: request.ip, retryable: true })
  return reply.code(res.statusCode).headers(res.headers as Record<string, string>).send(res.body)
})
await app.listen({ port: Number(port), host: '127.0.0.1' })
process.stdout.write('READY\n')
