import fp from 'fastify-plugin'
import swagger, { type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { documentSecurityHeaderOptions, securityHeaders } from '../src/edge/security-headers.ts'
import { finishDocument } from '../src/openapi/document.ts'
import { peerTrust, serversFor } from '../src/openapi/servers.ts'
import type { OpenApiDocument, OpenApiParameter } from '../src/openapi/types.ts'
import { packageVersion } from '../src/openapi/version.ts'

/**
 * OpenAPI 3 generated from the routes' TypeBox schemas and completed by src/openapi/, at /docs/json, with Swagger UI
 * at /docs.
 */
async function docs (app: FastifyInstance): Promise<void> {
  const version = packageVersion()
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ion-gateway',
        version,
        description: 'One safe, fast door to Infor ION API (M3, LN, IDM). The gateway holds the ION credentials and tokens; ' +
          'clients call it with their own x-api-key. Errors the gateway decides use the error envelope; ION\'s own answers ' +
          'are relayed unchanged on pass-through routes.',
      },
      tags: [
        { name: 'm3', description: 'Infor M3 through ION (MI programs and transactions)' },
        { name: 'ln', description: 'Infor LN through ION (OData v4)' },
        { name: 'idm', description: 'Infor Document Management through ION' },
        { name: 'admin', description: 'Operations (admin API keys only)' },
        { name: 'health', description: 'Probes, metrics and this documentation (public: no API key)' },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'Issued with `npm run keys -- add <clientId> --file <keys file>`' },
        },
      },
      security: [{ apiKey: [] }],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
    // Public routes (probes, metrics, docs) need no key: their operations say so.
    transform: ({ schema, url, route }) => ({
      schema: route.config?.public === true ? { ...schema, security: [] } : schema,
      url,
    }),
    transformObject: (document => 'openapiObject' in document
      ? finishDocument(document.openapiObject as OpenApiDocument, { version }) as ReturnType<SwaggerTransformObject>
      : document.swaggerObject) satisfies SwaggerTransformObject,
  })
  const trusted = peerTrust(app.config.trustProxy)
  // The docs are public: no API key, no rate limit.
  await app.register(async (ui) => {
    ui.addHook('onRoute', route => {
      route.config = { ...(route.config as object), public: true }
    })
    // Swagger UI's page at /docs links its assets absolutely (/docs/static/…), which misses a path-prefix ingress;
    // at /docs/ they are relative. A relative redirect reaches /docs/ below any prefix.
    const documentHeaders = securityHeaders(documentSecurityHeaderOptions)
    ui.addHook('onRequest', async (request, reply) => {
      // An HTML page: the whole of helmet's set (the security plugin's is the API answers' subset).
      reply.headers(documentHeaders)
      if (request.url === '/docs') return reply.redirect('docs/')
    })
    await ui.register(swaggerUi, {
      routePrefix: '/docs',
      uiConfig: { docExpansion: 'list', deepLinking: true },
      staticCSP: false,
      // Per request: behind a path-prefix ingress, "Try it out" and generated clients must call below the prefix.
      transformSpecification: (spec, request) => ({
        ...spec,
        servers: serversFor(request.headers['x-forwarded-prefix'], trusted(request.raw.socket.remoteAddress)),
      }),
    })
  })
}

export default fp(docs, { fastify: '5.x', name: 'docs' })

declare module 'fastify' {
  interface FastifySchema {
    /** Free-form query parameters (M3 input fields), documented as one `style: form, explode: true` object parameter. */
    'x-query-fields'?: OpenApiParameter
  }
}
