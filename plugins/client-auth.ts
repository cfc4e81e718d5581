import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { IncomingHttpHeaders } from 'node:http'
import { routeOptionsOf } from '../src/route-options.ts'
import { loadApiKeysFile, type ApiClient } from '../src/edge/api-keys.ts'
import { watchApiKeysFile } from '../src/edge/api-keys-watch.ts'
import { addressIdentity } from '../src/edge/client-ip.ts'
import { GatewayError } from '../src/errors.ts'
import { calledIon } from '../src/proxy/hand-over.ts'

const CLIENT_ID_HEADER = /^[A-Za-z0-9._:-]{1,64}$/
const KEYS_RELOAD_DEBOUNCE_MS = 200

export interface ClientIdentity {
  /** Stable id for logs and rate limits: the API key's client, else (open mode) x-client-id or the address. */
  id: string
  /** The caller's address (IPv6 by /64): requests without a valid key are limited by it. */
  address: string
  /** True when proven by an API key. */
  authenticated: boolean
  admin: boolean
}

/**
 * Who is calling. With CLIENT_API_KEYS_FILE, every request but the public ones (probes, metrics, docs) needs a valid
 * `x-api-key` (AUTH_004), unknown routes and methods included, and admin routes an admin key (AUTH_005); identity
 * comes from the key, so a spoofed `x-client-id` is ignored. Without the file the gateway runs open and says so at
 * boot; admin routes are then refused to everyone (AUTH_005), as no caller can be proven an admin.
 *
 * The keys file is watched: a changed file replaces the keys without a restart; a broken one keeps the old keys and
 * logs a warning. A bad file at boot still stops the boot.
 *
 * Identification runs in onRequest, for every request (so the rate limit can key on it and throttle floods of bad
 * keys before any answer depends on the key); enforcement runs in preParsing, after the rate limit.
 */
async function clientAuth (app: FastifyInstance): Promise<void> {
  const file = app.config.clientApiKeysFile
  let registry = file ? loadApiKeysFile(file) : undefined
  if (file && registry) {
    app.log.info({ clients: registry.size }, 'client API keys loaded: x-api-key required')
    const watch = watchApiKeysFile(file, {
      debounceMs: KEYS_RELOAD_DEBOUNCE_MS,
      onReload (next) {
        registry = next
        app.log.info({ clients: next.size }, 'client API keys reloaded')
      },
      onInvalid (error) {
        app.log.warn({ reason: error.message }, 'client API keys file changed but cannot be used: the previous keys stay in force')
      },
    })
    app.addHook('onClose', async () => watch.close())
  } else {
    app.log.warn('CLIENT_API_KEYS_FILE is not set: OPEN MODE — any caller may use the gateway\'s ION service account; admin routes (DELETE /admin/cache) are disabled; clients are told apart by x-client-id or address only')
  }

  app.decorateRequest('client', null)

  app.addHook('onRequest', function identifyClient (request, _reply, done) {
    request.client = identify(request.ip, request.headers)
    done()
  })

  function identify (ip: string, headers: IncomingHttpHeaders): ClientIdentity {
    const address = `ip:${addressIdentity(ip)}`
    if (registry) {
      const key = headers['x-api-key']
      const client: ApiClient | undefined = registry.identify(typeof key === 'string' ? key : undefined)
      return client ? { id: client.id, address, authenticated: true, admin: client.admin } : { id: address, address, authenticated: false, admin: false }
    }
    const claimed = headers['x-client-id']
    const id = typeof claimed === 'string' && CLIENT_ID_HEADER.test(claimed) ? `client:${claimed}` : address
    return { id, address, authenticated: false, admin: false }
  }

  // The read lane takes both steps too (src/proxy/read-lane.ts).
  app.decorate('clientIdentity', { identify, keysRequired: file !== undefined })

  app.addHook('preParsing', function requireKey (request, _reply, payload, done) {
    const config = routeOptionsOf(request).config
    // A request the read lane handed over with ION's answer had its key checked when it arrived.
    if (config.public === true || calledIon(request.raw)) return done(null, payload)
    if (!file) {
      if (config.admin === true) return done(new GatewayError('AUTH_005', 'Admin routes are disabled in open mode: set CLIENT_API_KEYS_FILE and call them with an admin API key'))
      return done(null, payload)
    }
    const client = request.client
    if (!client?.authenticated) {
      return done(new GatewayError('AUTH_004', request.headers['x-api-key'] === undefined ? 'An x-api-key header is required' : 'The x-api-key is not valid'))
    }
    if (config.admin === true && !client.admin) return done(new GatewayError('AUTH_005', 'This route needs an admin API key'))
    done(null, payload)
  })
}

export default fp(clientAuth, { fastify: '5.x', name: 'client-auth' })

declare module 'fastify' {
  interface FastifyInstance {
    clientIdentity: { identify: (ip: string, headers: IncomingHttpHeaders) => ClientIdentity, keysRequired: boolean }
  }
  interface FastifyRequest {
    client: ClientIdentity | null
  }
  interface FastifyContextConfig {
    /** Open to everyone: no API key, no rate limit (health, readiness, metrics, docs). */
    public?: boolean
  }
}
