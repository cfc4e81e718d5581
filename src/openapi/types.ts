/** The parts of an OpenAPI 3.0 document the gateway edits; everything else passes through untouched. */

export type JsonObject = Record<string, unknown>

export interface OpenApiParameter {
  name: string
  in: 'query' | 'header' | 'path' | 'cookie'
  required?: boolean
  description?: string
  style?: string
  explode?: boolean
  schema?: JsonObject
  example?: unknown
}

export interface OpenApiResponse {
  description?: string
  headers?: Record<string, JsonObject>
  content?: Record<string, JsonObject>
  $ref?: string
}

export interface OpenApiOperation {
  operationId?: string
  tags?: string[]
  summary?: string
  description?: string
  parameters?: OpenApiParameter[]
  responses?: Record<string, OpenApiResponse>
  security?: Array<Record<string, string[]>>
  [extension: `x-${string}`]: unknown
}

export const HTTP_METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'] as const
export type HttpMethod = typeof HTTP_METHODS[number]

export type OpenApiPathItem = Partial<Record<HttpMethod, OpenApiOperation>>

export interface OpenApiDocument {
  openapi: string
  info: JsonObject
  servers?: Array<{ url: string, description?: string }>
  paths: Record<string, OpenApiPathItem>
  components?: JsonObject & { responses?: Record<string, OpenApiResponse>, headers?: Record<string, JsonObject> }
  [key: string]: unknown
}
