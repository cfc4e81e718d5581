import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createTokenClient } from '../src/ion/token-client.ts'
import { RedisLoginBudgetStore } from '../src/ion/login-budget.ts'
import { createTokenManager, type TokenManager } from '../src/ion/token-manager.ts'
import { FileTokenStore } from '../src/ion/token-file-store.ts'
import { RedisTokenStore, type TokenStore } from '../src/ion/token-store.ts'

/** Holds the ION token: obtained at start, refreshed ahead of expiry, shared through Redis when configured. */
async function ionAuth (app: FastifyInstance): Promise<void> {
  const { config, gatewayMetrics: metrics } = app
  // Its own deadline: a token endpoint slower than UPSTREAM_TIMEOUT_MS must still be able to hand out a token.
  const client = createTokenClient({ ion: config.ion, timeoutMs: config.token.timeoutMs, tracer: app.tracing })
  const keys = { keyPrefix: app.redisNamespace.token, clientId: config.ion.credentials.clientId }
  // Redis shares the token between replicas (and across restarts); without it, ION_TOKEN_DIR (development only)
  // keeps it for the next run; else it lives and dies with the process.
  let store: TokenStore | undefined
  if (app.redis) store = new RedisTokenStore(app.redis, keys)
  else if (config.tokenDir !== undefined) {
    const { tenant, tokenUrl, grant, credentials } = config.ion
    store = new FileTokenStore(config.tokenDir, {
      tenant,
      tokenUrl,
      grant,
      clientId: credentials.clientId,
      ...(grant === 'password' && credentials.serviceAccountAccessKey ? { serviceAccount: credentials.serviceAccountAccessKey } : {}),
    })
    app.log.info({ tokenDir: config.tokenDir }, 'ION_TOKEN_DIR set: the ION access token is kept on disk for the next run (development only)')
  }
  const loginBudgetStore = app.redis ? new RedisLoginBudgetStore(app.redis, keys) : undefined
  // For ion_gateway_ion_login_budget_used_ratio: this process's logins of the last minute (the budget itself is
  // enforced across replicas by the manager).
  const recentLogins: number[] = []
  const manager = createTokenManager({
    client,
    store,
    refreshBufferMs: config.token.refreshBufferMs,
    checkIntervalMs: config.token.checkIntervalMs,
    reloginIntervalMs: config.token.reloginIntervalMs,
    loginsPerMinute: config.token.loginsPerMinute,
    loginsPerDay: config.token.loginsPerDay,
    ...(loginBudgetStore ? { loginBudgetStore } : {}),
    // Held no longer than a token call may take, plus a margin: a replica that died holding it is replaced soon.
    lockTtlMs: config.token.timeoutMs + 5000,
    logger: app.log.child({ component: 'ion-token' }),
    onRefresh: ({ success, trigger }) => metrics.tokenRefreshes.inc({ success: String(success), trigger }),
    onLogin: reason => {
      metrics.ionLogins.inc({ reason })
      recentLogins.push(Date.now())
    },
  })
  metrics.sources.loginBudgetUsedRatio = () => {
    const since = Date.now() - 60_000
    while (recentLogins.length > 0 && (recentLogins[0] as number) < since) recentLogins.shift()
    return recentLogins.length / config.token.loginsPerMinute
  }
  metrics.sources.tokenExpiresAtMs = () => manager.state().expiresAtMs
  metrics.sources.tokenRefreshFailing = () => manager.state().lastError !== undefined

  app.decorate('ionTokens', manager)
  app.addHook('onReady', async () => { manager.start() })
  app.addHook('onClose', async () => {
    await manager.close()
    await client.close()
  })
}

export default fp(ionAuth, { fastify: '5.x', name: 'ion-auth', dependencies: ['redis'] })

declare module 'fastify' {
  interface FastifyInstance {
    ionTokens: TokenManager
  }
}
