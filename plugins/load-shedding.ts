import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import { routeOptionsOf } from '../src/route-options.ts'
import { GatewayError } from '../src/errors.ts'
import { calledIon } from '../src/proxy/hand-over.ts'

/** Past MAX_EVENT_LOOP_DELAY_MS the gateway answers SYS_004 503 instead of queueing more work; probes still answer. */
async function loadShedding (app: FastifyInstance): Promise<void> {
  const maxEventLoopDelay = app.config.maxEventLoopDelayMs
  await app.register(underPressure, {
    maxEventLoopDelay,
    sampleInterval: 500,
    retryAfter: 5,
    pressureHandler: async (request, _reply, type, value) => {
      // Probes answer; so does a request the read lane handed over with ION's answer (it arrived before the pressure).
      if (routeOptionsOf(request).config.public === true || calledIon(request.raw)) return
      request.log.warn({ type, value }, 'under pressure: shedding load')
      throw new GatewayError('SYS_004', 'The gateway is overloaded; try again shortly', { retryAfterS: 5 })
    },
  })
}

export default fp(loadShedding, { fastify: '5.x', name: 'load-shedding' })
