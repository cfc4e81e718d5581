import fp from 'fastify-plugin'
import compress from '@fastify/compress'
import cors from '@fastify/cors'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { constants as zlib } from 'node:zlib'
import { securityHeaders } from '../src/edge/security-headers.ts'

const CORS_ALLOWED_HEADERS = [
  'accept', 'accept-language', 'content-type', 'content-language', 'cache-control', 'if-match', 'if-none-match',
  'x-api-key', 'x-client-id', 'x-request-id', 'x-infor-lncompany',
]
const CORS_EXPOSED_HEADERS = ['x-request-id', 'x-cache', 'age', 'etag', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']

/** Security headers, CORS (only for CORS_ORIGINS) and response compression. */
async function security (app: FastifyInstance): Promise<void> {
  // helmet's headers, computed once (src/edge/security-headers.ts) and set like any other reply header: not
  // @fastify/helmet, which builds a new helmet middleware on every request (docs/design.md says why, bench/README.md
  // how much).
  const headers = securityHeaders()
  const origins = app.config.corsOrigins
  // A browser preflight the CORS plugin did not answer (origin not allowed, or CORS off) ends here, without CORS
  // headers, so the browser blocks the call and ION never sees it.
  const endPreflight = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (request.method !== 'OPTIONS' || request.headers.origin === undefined || request.headers['access-control-request-method'] === undefined) return false
    reply.code(204).header('vary', 'Origin').send()
    return true
  }
  if (origins.length === 0) {
    // Without CORS nothing runs between the two steps: one hook instead of two (it runs on every request).
    app.addHook('onRequest', function setSecurityHeaders (request, reply, done) {
      reply.headers(headers)
      if (!endPreflight(request, reply)) done()
    })
  } else {
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers)
      done()
    })
    await app.register(cors, {
      origin: origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
      strictPreflight: true,
    })
    app.addHook('onRequest', (request, reply, done) => {
      if (!endPreflight(request, reply)) done()
    })
  }

  await app.register(compress, {
    global: true,
    // Answers only. Request bodies are never decoded: pass-through bodies go to ION as the client encoded them (ION
    // decides), and without it no Content-Encoding is refused with 415 and no request pays a preParsing hook.
    globalDecompression: false,
    threshold: 1024,
    encodings: ['br', 'gzip', 'deflate'],
    // Brotli's default quality (11) costs far more CPU than it saves on JSON.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  })
}

export default fp(security, { fastify: '5.x', name: 'security' })
