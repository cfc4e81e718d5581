import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** OpenAPI 3 generated from the routes' TypeBox schemas, at /docs/json, with Swagger UI at /docs. */
async function docs (app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ion-gateway',
        version: '0.1.0',
        description: 'One safe, fast door to Infor ION API (M3, LN, IDM). The gateway holds the ION credentials and tokens; ' +
          'clients call it with their own x-api-key. Errors the gateway decides use the error envelope; ION\'s own answers ' +
          'are relayed unchanged on pass-through routes.',
      },
      tags: [
        { name: 'm3', description: 'Infor M3 through ION (MI programs and transactions)' },
        { name: 'ln', description: 'Infor LN through ION (OData v4)' },
        { name: 'idm', description: 'Infor Document Management through ION' },
        { name: 'admin', description: 'Operations (admin API keys only)' },
        { name: 'health', description: 'Probes and metrics' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'Issued with `npm run keys -- add <clientId>`' },
        },
      },
      security: [{ apiKey: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  })
  // The docs are public: no API key, no rate limit.
  await app.register(async (ui) => {
    ui.addHook('onRoute', route => {
      route.config = { ...(route.config as object), public: true }
    })
    await ui.register(swaggerUi, {
      routePrefix: '/docs',
      uiConfig: { docExpansion: 'list', deepLinking: true },
      staticCSP: false,
    })
  })
}

export default fp(docs, { fastify: '5.x', name: 'docs' })
