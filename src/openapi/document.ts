import {
  DOOR_STATUSES, HEADERS, KEYED_STATUSES, RATE_LIMIT_HEADERS, UPSTREAM_STATUSES, errorResponse, errorResponseName, headerRef,
} from './error-responses.ts'
import { PASS_THROUGH_TEMPLATES } from './pass-through.ts'
import { HTTP_METHODS, type OpenApiDocument, type OpenApiOperation, type OpenApiParameter, type OpenApiResponse } from './types.ts'

/** Operation extension a route schema uses for free-form query parameters (FastifySchema['x-query-fields']). */
export const QUERY_FIELDS = 'x-query-fields'

/** Tags of the operations that call ION: they can answer 502/503/504, and their reads carry x-cache and age. */
const ION_TAGS = new Set(['m3', 'ln', 'idm'])

const ENVELOPE_REF = '#/components/schemas/ErrorEnvelope'

export interface FinishOptions {
  /** package.json's version. */
  version: string
}

/**
 * Completes the document @fastify/swagger generates from the route schemas: the pass-through templates and the
 * docs routes (document-only), free-form query fields, one error response per status with its codes, the headers
 * every answer carries, and an operationId everywhere. Public operations carry `security: []` already (their routes
 * are marked `public`). Pure: returns a new document.
 */
export function finishDocument (generated: OpenApiDocument, options: FinishOptions): OpenApiDocument {
  const doc = structuredClone(generated)
  doc.info = { ...doc.info, version: options.version }
  doc.paths = { ...withTemplates(doc.paths), ...docsPaths() }

  const statuses = new Set<number>()
  const operationIds = new Map<string, string>()
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      if (!item[method]) continue
      // @fastify/swagger shares one operation object among the methods of a route.
      const operation = item[method] = structuredClone(item[method])
      operation.operationId ??= derivedOperationId(method, path)
      const seen = operationIds.get(operation.operationId)
      if (seen) throw new Error(`OpenAPI: operationId ${operation.operationId} of ${method} ${path} is already used by ${seen}`)
      operationIds.set(operation.operationId, `${method} ${path}`)
      moveQueryFields(operation)
      for (const status of completeResponses(operation, method)) statuses.add(status)
    }
  }

  const components = doc.components ?? {}
  components.headers = { ...components.headers, ...HEADERS }
  components.responses = { ...components.responses }
  for (const status of [...statuses].sort((a, b) => a - b)) components.responses[errorResponseName(status)] = errorResponse(status)
  doc.components = components
  return doc
}

/** Each system's templates, listed just before its `{*}` catch-all (the catch-all stays for every other path). */
function withTemplates (paths: OpenApiDocument['paths']): OpenApiDocument['paths'] {
  const out: OpenApiDocument['paths'] = {}
  for (const [path, item] of Object.entries(paths)) {
    for (const template of PASS_THROUGH_TEMPLATES) {
      if (path === `/${template.system}/{*}`) out[template.path] = { ...out[template.path], [template.method]: structuredClone(template.operation) }
    }
    out[path] = item
  }
  return out
}

/** `get /m3/{*}` → `getM3Any`: for operations whose route serves several methods with one schema. */
export function derivedOperationId (method: string, path: string): string {
  const words = path.split('/').filter(Boolean).map(segment => segment === '{*}' ? 'any' : segment.replace(/[^A-Za-z0-9]+/g, ''))
  return method + words.map(w => w.charAt(0).toUpperCase() + w.slice(1)).join('')
}

function moveQueryFields (operation: OpenApiOperation): void {
  const fields = operation[QUERY_FIELDS] as OpenApiParameter | undefined
  if (!fields) return
  delete operation[QUERY_FIELDS]
  operation.parameters = [...(operation.parameters ?? []).filter(p => p.name !== fields.name), fields]
}

/** Fills the operation's responses; returns the error statuses it refers to. */
function completeResponses (operation: OpenApiOperation, method: string): number[] {
  const isPublic = Array.isArray(operation.security) && operation.security.length === 0
  const callsIon = (operation.tags ?? []).some(tag => ION_TAGS.has(tag))
  const responses: Record<string, OpenApiResponse> = { ...operation.responses }
  if (callsIon && (!responses['200'] || responses['200'].description === 'Default Response')) {
    responses['200'] = { description: 'ION\'s answer, relayed unchanged (status, body, and headers less those the gateway filters)' }
  }

  const wanted = new Set<number>([...DOOR_STATUSES, ...(isPublic ? [] : KEYED_STATUSES), ...(callsIon ? UPSTREAM_STATUSES : [])])
  for (const [status, response] of Object.entries(responses)) {
    if (isEnvelope(response)) wanted.add(Number(status))
  }
  const used: number[] = []
  for (const status of wanted) {
    const own = responses[String(status)]
    // A route's own non-envelope answer for the status (/ready's 503 body) stays.
    if (own && !isEnvelope(own)) continue
    responses[String(status)] = { $ref: `#/components/responses/${errorResponseName(status)}` }
    used.push(status)
  }

  for (const [status, response] of Object.entries(responses)) {
    if (response.$ref) continue
    const headers: Record<string, unknown> = { 'x-request-id': headerRef('XRequestId') }
    if (!isPublic) Object.assign(headers, RATE_LIMIT_HEADERS)
    if (callsIon && status === '200' && (method === 'get' || method === 'head')) {
      Object.assign(headers, { 'x-cache': headerRef('XCache'), age: headerRef('Age') })
    }
    response.headers = { ...headers, ...response.headers } as OpenApiResponse['headers']
  }
  operation.responses = responses
  return used
}

function isEnvelope (response: OpenApiResponse): boolean {
  const schema = response.content?.['application/json']?.schema as { $ref?: string } | undefined
  return schema?.$ref === ENVELOPE_REF
}

function docsPaths (): OpenApiDocument['paths'] {
  return {
    '/docs': {
      get: {
        operationId: 'getDocsUi',
        tags: ['health'],
        summary: 'Swagger UI',
        security: [],
        responses: { 200: { description: 'The Swagger UI page for this document', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/docs/json': {
      get: {
        operationId: 'getOpenApiDocument',
        tags: ['health'],
        summary: 'This OpenAPI document',
        security: [],
        responses: { 200: { description: 'OpenAPI 3 document, generated from the route schemas', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  }
}
