import fp from 'fastify-plugin'
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { rawErrorResponse, socketErrorAnswer } from '../src/edge/client-error.ts'
import { clientErrorCode, ErrorEnvelope, envelope, isGatewayError, type ErrorCode } from '../src/errors.ts'
import { requestIdFor } from '../src/request-id.ts'

/**
 * The one root error handler: every error the gateway answers goes out as the envelope
 * `{ error: { code, message, requestId } }`. Errors not raised on purpose are masked (SYS_003).
 */
async function errorHandler (app: FastifyInstance): Promise<void> {
  app.addSchema(ErrorEnvelope)

  app.addHook('onRequest', function requestIdHeader (request, reply, done) {
    reply.header('x-request-id', request.id)
    done()
  })

  app.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (isGatewayError(err)) {
      if (err.statusCode >= 500) request.log.warn({ code: err.code, err: err.cause ?? err }, err.message)
      if (err.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))))
      return reply.code(err.statusCode).type('application/json; charset=utf-8').header('x-request-id', request.id)
        .send(envelope(err.code, err.message, request.id, err.details))
    }
    const fe = err as FastifyError
    if (fe.validation) {
      const where = fe.validationContext ?? 'request'
      return sendCode(reply, request, 'API_003', 400, `Invalid ${where}: ${fe.message}`)
    }
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500
    if (status >= 400 && status < 500) {
      // Fastify's own client errors (bad JSON, body too large, unsupported media type…): their messages are safe.
      request.log.info({ code: fe.code, statusCode: status }, 'client error')
      return sendCode(reply, request, clientErrorCode(status), status, fe.message)
    }
    request.log.error({ err }, 'unexpected error')
    return sendCode(reply, request, 'SYS_003', 500, 'Internal error')
  })

  app.setNotFoundHandler((request, reply) => {
    return sendCode(reply, request, 'API_003', 404, `No route for ${request.method} ${pathOnly(request.url)}`)
  })

  // Node answers an Expect other than 100-continue with a bare 417 unless someone listens; the route never runs.
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const requestId = requestIdFor(req)
    app.log.info({ requestId, statusCode: 417 }, 'client error: unsupported Expect')
    const body = JSON.stringify(envelope('API_003', 'Only "Expect: 100-continue" is supported', requestId))
    res.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      connection: 'close',
    })
    res.end(body)
  })
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP server calls it for bytes it cannot parse, a request line and headers
 * past its bound, and request timeouts (also of a request whose body is still arriving, its route already running).
 * The answer is the envelope, written whole to the socket, which is then closed.
 */
export function clientErrorHandler (this: FastifyInstance, err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const answer = socketErrorAnswer(err.code)
  const inFlight = inFlightResponse(socket)
  // A request whose body timed out keeps the id its caller gave (x-request-id), as its other answers would.
  const requestId = inFlight?.req ? requestIdFor(inFlight.req) : randomUUID()
  // Only what identifies the failure: the error also carries the bytes received, which may hold credentials.
  this.log.info({ requestId, code: err.code, statusCode: answer.status }, 'client error')
  // Node's own rule: an in-flight response that already sent its head (ION answered before the client finished
  // its upload) cannot be followed by another answer.
  if (socket.writable && inFlight?.headersSent !== true) socket.end(rawErrorResponse(answer, requestId))
  socket.destroySoon()
}

/**
 * Fastify's `frameworkErrors`: the router's refusals (bad percent-encoding, a path parameter past its bound), which
 * happen before the route's hooks run.
 */
export function frameworkErrorHandler (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500
  if (status >= 500) {
    request.log.error({ err }, 'unexpected framework error')
    sendCode(reply, request, 'SYS_003', 500, 'Internal error')
    return
  }
  request.log.info({ code: err.code, statusCode: status }, 'client error')
  // Fixed messages: Fastify's quote the whole path back.
  const message = err.code === 'FST_ERR_BAD_URL'
    ? 'The URL has an invalid percent-encoding'
    : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path segment is too long' : 'The request is invalid'
  sendCode(reply, request, clientErrorCode(status), status, message)
}

/** The response Node's HTTP server has under way on this socket (its internal `_httpMessage`), if any. */
function inFlightResponse (socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined
}

function sendCode (reply: FastifyReply, request: FastifyRequest, code: ErrorCode, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').header('x-request-id', request.id)
    .send(envelope(code, message, request.id))
}

function pathOnly (url: string): string {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  return path.length > 200 ? `${path.slice(0, 200)}…` : path
}

export default fp(errorHandler, { fastify: '5.x', name: 'error-handler' })
