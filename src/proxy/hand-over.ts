import type { IncomingMessage } from 'node:http'
import type { LimitVerdict } from '../edge/client-limits.ts'
import type { UpstreamTrace } from '../request-log.ts'
import type { GatewayAnswer } from './gateway.ts'

/**
 * What the read lane (src/proxy/read-lane.ts) already did for a request it hands to Fastify's pipeline, so that the
 * pipeline does not do it again: the request id it used (sent to ION), the rate limit's verdict (counted once), and
 * ION's outcome (called once).
 */
export interface HandedOver {
  requestId?: string
  verdict?: LimitVerdict | Promise<LimitVerdict>
  /** The pass-through's answer, or the error it failed with, and what happened upstream (for the log line). */
  outcome?: { answer: GatewayAnswer, trace: UpstreamTrace } | { error: unknown, trace: UpstreamTrace }
}

const handed = new WeakMap<IncomingMessage, HandedOver>()

export function handOver (req: IncomingMessage, what: HandedOver): void {
  handed.set(req, what)
}

export function handedOver (req: IncomingMessage): HandedOver | undefined {
  return handed.get(req)
}
