import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { checkRequestHead, hasBody, maxHeadersCount } from '../src/edge/request-limits.ts'

/**
 * What a client may send (MAX_REQUEST_HEADERS, MAX_HEADER_BYTES, MAX_URL_BYTES, a declared MAX_UPLOAD_BYTES, a Host
 * header), refused before any other work; and MAX_CONNECTIONS. The parser bound and the timeouts are server options
 * (src/app.ts), a streamed body's size is counted as it is forwarded (src/proxy/request-body.ts).
 */
async function requestLimits (app: FastifyInstance): Promise<void> {
  const limits = app.config.requestLimits
  app.server.maxHeadersCount = maxHeadersCount(limits)
  if (limits.maxConnections > 0) app.server.maxConnections = limits.maxConnections

  app.addHook('onRequest', function requestHeadLimits (request, _reply, done) {
    done(checkRequestHead(request.raw, limits))
  })

  // An answer sent before the body was read (a refusal, a limit passed mid-stream) ends the connection: Node would
  // otherwise read and discard the rest of the body to keep the connection, for as long as the client sends it.
  app.addHook('onSend', function unreadBodyConnection (request, reply, payload, done) {
    if (!request.raw.complete && hasBody(request.headers)) reply.header('connection', 'close')
    done(null, payload)
  })
}

export default fp(requestLimits, { fastify: '5.x', name: 'request-limits', dependencies: ['error-handler'] })
