import { M3_PROGRAM_PATTERN, M3_TRANSACTION_PATTERN } from '../ion/m3.ts'
import type { SystemId } from '../proxy/systems.ts'
import type { OpenApiOperation, OpenApiParameter } from './types.ts'

/**
 * The pass-through surfaces, documented as real path templates. They are document-only: the `/{system}/*` catch-all
 * answers them like any other path, so routing, the path guard (on the raw URL) and the metrics route label stay
 * as they are. A `{*}` template does not work from Swagger UI, which percent-encodes the slashes of a path value;
 * the path guard refuses encoded slashes.
 */
export interface PassThroughTemplate {
  system: SystemId
  path: string
  method: 'get'
  operation: OpenApiOperation
}

/** M3 MI input fields (ITNO, CUNO…): free-form query parameters, sent as `ITNO=A100&CUNO=C1`. */
export function m3InputFields (): OpenApiParameter {
  return {
    name: 'fields',
    in: 'query',
    required: false,
    style: 'form',
    explode: true,
    description: 'The transaction\'s input fields, each sent as its own query parameter (`ITNO=A100`). ' +
      'Any field name the transaction accepts; every value is a string.',
    schema: { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 } },
    example: { ITNO: 'A100' },
  }
}

const m3PathParams: OpenApiParameter[] = [
  { name: 'program', in: 'path', required: true, description: 'M3 MI program', schema: { type: 'string', pattern: M3_PROGRAM_PATTERN }, example: 'MMS200MI' },
  { name: 'transaction', in: 'path', required: true, description: 'M3 MI transaction', schema: { type: 'string', pattern: M3_TRANSACTION_PATTERN }, example: 'GetItmBasic' },
]

const m3Options: OpenApiParameter[] = [
  { name: 'maxrecs', in: 'query', required: false, description: 'Maximum records (0 = all)', schema: { type: 'integer', minimum: 0 } },
  { name: 'returncols', in: 'query', required: false, description: 'Comma list of fields to return', schema: { type: 'string' }, example: 'ITNO,ITDS' },
]

function m3Execute (version: 'v1' | 'v2'): OpenApiOperation {
  return {
    operationId: version === 'v2' ? 'm3ExecuteV2' : 'm3Execute',
    tags: ['m3'],
    summary: `M3 MI ${version} execute (pass-through)`,
    description: `M3's own MI ${version} answer for \`execute/{program}/{transaction}\`, relayed unchanged. A read ` +
      '(GET of a transaction matching M3_READ_TRANSACTIONS) is cached and retried; anything else is sent exactly once.',
    parameters: [...m3PathParams, ...m3Options, m3InputFields()],
  }
}

const lnQueryOptions: OpenApiParameter[] = [
  ['$filter', 'OData filter, e.g. `SalesOrder eq \'SO1001\'`'],
  ['$select', 'Comma list of properties'],
  ['$orderby', 'Sort order, e.g. `OrderDate desc`'],
  ['$expand', 'Navigation properties to include'],
  ['$top', 'Maximum rows'],
  ['$skip', 'Rows to skip'],
  ['$count', '`true` adds @odata.count'],
].map(([name, description]) => ({ name: name as string, in: 'query' as const, required: false, description, schema: { type: 'string' } }))

const ln: OpenApiOperation = {
  operationId: 'lnODataQuery',
  tags: ['ln'],
  summary: 'LN OData entity set (pass-through)',
  description: 'LN\'s own OData v4 answer for `lnapi/odata/{service}/{entitySet}`, relayed unchanged (a 404 from LN stays a 404).',
  parameters: [
    { name: 'service', in: 'path', required: true, description: 'LN OData service', schema: { type: 'string' }, example: 'tdapi.slsSalesOrder' },
    { name: 'entitySet', in: 'path', required: true, description: 'Entity set of the service', schema: { type: 'string' }, example: 'Orders' },
    ...lnQueryOptions,
    { name: 'X-Infor-LnCompany', in: 'header', required: false, description: 'LN company number', schema: { type: 'string' } },
  ],
}

const idm: OpenApiOperation = {
  operationId: 'idmItemsSearch',
  tags: ['idm'],
  summary: 'IDM item search (pass-through)',
  description: 'IDM\'s own answer for `api/items/search`, relayed unchanged.',
  parameters: [
    { name: '$query', in: 'query', required: true, description: 'IDM XQuery', schema: { type: 'string' }, example: '/MDS_File[@MDS_Category = "Manual"]' },
    { name: '$offset', in: 'query', required: false, description: 'First hit to return', schema: { type: 'integer', minimum: 0 } },
    { name: '$limit', in: 'query', required: false, description: 'Maximum hits', schema: { type: 'integer', minimum: 1 } },
    { name: '$language', in: 'query', required: false, description: 'Language of the attribute names', schema: { type: 'string' } },
  ],
}

export const PASS_THROUGH_TEMPLATES: readonly PassThroughTemplate[] = [
  { system: 'm3', path: '/m3/m3api-rest/v2/execute/{program}/{transaction}', method: 'get', operation: m3Execute('v2') },
  { system: 'm3', path: '/m3/m3api-rest/execute/{program}/{transaction}', method: 'get', operation: m3Execute('v1') },
  { system: 'ln', path: '/ln/lnapi/odata/{service}/{entitySet}', method: 'get', operation: ln },
  { system: 'idm', path: '/idm/api/items/search', method: 'get', operation: idm },
]
