import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ErrorEnvelope, envelope, isGatewayError, type ErrorCode } from '../src/errors.ts'

/**
 * The one root error handler: every error the gateway answers goes out as the envelope
 * `{ error: { code, message, requestId } }`. Errors not raised on purpose are masked (SYS_003).
 */
async function errorHandler (app: FastifyInstance): Promise<void> {
  app.addSchema(ErrorEnvelope)

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })

  app.setErrorHandler((err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (isGatewayError(err)) {
      if (err.statusCode >= 500) request.log.warn({ code: err.code, err: err.cause ?? err }, err.message)
      if (err.retryAfterS !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))))
      return reply.code(err.statusCode).type('application/json; charset=utf-8')
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
      return sendCode(reply, request, status === 429 ? 'SYS_002' : 'API_003', status, fe.message)
    }
    request.log.error({ err }, 'unexpected error')
    return sendCode(reply, request, 'SYS_003', 500, 'Internal error')
  })

  app.setNotFoundHandler((request, reply) => {
    return sendCode(reply, request, 'API_003', 404, `No route for ${request.method} ${pathOnly(request.url)}`)
  })
}

function sendCode (reply: FastifyReply, request: FastifyRequest, code: ErrorCode, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send(envelope(code, message, request.id))
}

function pathOnly (url: string): string {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  return path.length > 200 ? `${path.slice(0, 200)}…` : path
}

export default fp(errorHandler, { fastify: '5.x', name: 'error-handler' })
