import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { M3_PROGRAM_PATTERN, M3_TRANSACTION_PATTERN } from '../src/ion/m3.ts'
import { clientGone } from '../src/proxy/client-gone.ts'
import type { Gateway } from '../src/proxy/gateway.ts'
import { m3InputFields } from '../src/openapi/pass-through.ts'
import { Type } from '../src/typebox.ts'

const Params = Type.Object({
  program: Type.String({ pattern: M3_PROGRAM_PATTERN, description: 'M3 MI program', examples: ['MMS200MI'] }),
  transaction: Type.String({ pattern: M3_TRANSACTION_PATTERN, description: 'M3 MI transaction', examples: ['GetItmBasic'] }),
})

const Query = Type.Object({
  maxrecs: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000, description: 'Maximum records (0 = all)' })),
  returncols: Type.Optional(Type.String({ pattern: '^[A-Z0-9]{1,10}(,[A-Z0-9]{1,10})*$', description: 'Comma list of fields to return', examples: ['ITNO,ITDS'] })),
}, {
  additionalProperties: Type.String({ maxLength: 1024 }),
  description: 'Transaction input fields as query parameters (e.g. ITNO=A100); every value is a string',
})

const Answer = Type.Object({
  program: Type.String(),
  transaction: Type.String(),
  records: Type.Array(Type.Record(Type.String(), Type.String()), { description: 'One object per M3 record, values with trailing blanks trimmed' }),
}, {
  description: 'The flattened M3 answer',
  examples: [{ program: 'MMS200MI', transaction: 'GetItmBasic', records: [{ ITNO: 'A100', ITDS: 'Bolt M8', STAT: '20' }] }],
})

const errorRef = Type.Ref('ErrorEnvelope')

/** `GET /m3/mi/:program/:transaction`: a validated M3 MI call answered as flat records, M3 errors as API_004. */
export default async function m3Typed (app: FastifyInstance, opts: { gateway: Gateway }): Promise<void> {
  const { gateway } = opts
  const typed = app.withTypeProvider<TypeBoxTypeProvider>()

  typed.get('/mi/:program/:transaction', {
    schema: {
      operationId: 'm3MiCall',
      tags: ['m3'],
      summary: 'Typed M3 MI call',
      description: 'Calls M3 MI v2 `execute/{program}/{transaction}` through ION and flattens the answer. Reads (transactions ' +
        'matching M3_READ_TRANSACTIONS) are retried on transient failures; writes are sent exactly once. ' +
        'An M3 business error becomes API_004 (422) with M3\'s code, field and message.',
      params: Params,
      querystring: Query,
      'x-query-fields': m3InputFields(),
      response: { 200: Answer, 400: errorRef, 401: errorRef, 422: errorRef, 429: errorRef, 502: errorRef, 503: errorRef, 504: errorRef },
    },
  }, async (request, reply) => {
    const { program, transaction } = request.params
    const search = new URLSearchParams()
    for (const [key, value] of Object.entries(request.query)) {
      if (value !== undefined) search.append(key, String(value))
    }
    const res = await gateway.m3Execute({
      program,
      transaction,
      rawQuery: search.toString(),
      requestId: request.id,
      clientIp: request.ip,
      trace: (request.upstreamTrace = {}),
      onClientGone: clientGone(reply.raw),
      tracer: request.serverSpan ?? undefined,
    })
    if (res.cacheStatus) reply.header('x-cache', res.cacheStatus)
    if (res.ageS !== undefined) reply.header('age', String(res.ageS))
    return { program, transaction, records: res.records }
  })
}
