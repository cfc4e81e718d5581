import fp from 'fastify-plugin'
import compress from '@fastify/compress'
import cors from '@fastify/cors'
import helmet from 'helmet'
import type { FastifyInstance } from 'fastify'
import { constants as zlib } from 'node:zlib'

/** The seed's helmet configuration (adjusted per route only where /docs needs it). */
export const securityHeaders = {
  contentSecurityPolicy: {
    // Exactly the seed's directives, not merged with helmet's defaults.
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      scriptSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'https:'],
    },
  },
  hsts: { maxAge: 31536000, includeSubDomains: true, preload: true },
  noSniff: true,
  xssFilter: true,
  referrerPolicy: { policy: 'same-origin' as const },
}

const CORS_ALLOWED_HEADERS = [
  'accept', 'accept-language', 'content-type', 'content-language', 'cache-control', 'if-match', 'if-none-match',
  'x-api-key', 'x-client-id', 'x-request-id', 'x-infor-lncompany',
]
const CORS_EXPOSED_HEADERS = ['x-request-id', 'x-cache', 'age', 'etag', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset']

/** Security headers, CORS (only for CORS_ORIGINS) and response compression. */
async function security (app: FastifyInstance): Promise<void> {
  // helmet itself, not @fastify/helmet: the wrapper builds a new helmet middleware on every request (7–11 % of a
  // cache hit's CPU), and even with `global: false` it adds two onRequest hooks per request. No route needs other
  // headers, so the middleware is built once here.
  const applySecurityHeaders = helmet(securityHeaders)
  app.addHook('onRequest', (request, reply, done) => {
    applySecurityHeaders(request.raw, reply.raw, err => { done(err as Error | undefined) })
  })

  const origins = app.config.corsOrigins
  if (origins.length > 0) {
    await app.register(cors, {
      origin: origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
      strictPreflight: true,
    })
  }
  // A browser preflight the CORS plugin did not answer (origin not allowed, or CORS off) ends here, without CORS
  // headers, so the browser blocks the call and ION never sees it.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS' && request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined) {
      return reply.code(204).header('vary', 'Origin').send()
    }
  })

  await app.register(compress, {
    global: true,
    threshold: 1024,
    encodings: ['br', 'gzip', 'deflate'],
    // Brotli's default quality (11) costs far more CPU than it saves on JSON.
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: 4 } },
  })
}

export default fp(security, { fastify: '5.x', name: 'security' })
