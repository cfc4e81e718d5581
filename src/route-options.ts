import type { FastifyRequest } from 'fastify'

/**
 * `request.routeOptions`, read once per request: Fastify 5 builds a new object on every read of it, and the hooks of
 * one request (client identity, rate limit, metrics, the log line) read it several times.
 */
export function routeOptionsOf (request: FastifyRequest): FastifyRequest['routeOptions'] {
  return (request.routeOptionsRead ??= request.routeOptions)
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by routeOptionsOf; decorated as null by the app (one shape for every request). */
    routeOptionsRead: FastifyRequest['routeOptions'] | null
  }
}
