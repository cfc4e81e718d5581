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
  /** When the lane took the request (`performance.now()`): its duration counts from there, not from the hand-over. */
  startMs?: number
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

/**
 * ION was already called for this request: what was decided when it arrived (closing, load shedding, its key)
 * stands, as it does for a request the pipeline took from the start and that is past those hooks when ION answers.
 */
export function calledIon (req: IncomingMessage): boolean {
  return handed.get(req)?.outcome !== undefined
}

/** A request's duration in ms: Fastify's `elapsedTime`, or from when the lane took it when it was handed over. */
export function elapsedMs (req: IncomingMessage, fastifyElapsedMs: number): number {
  const startMs = handed.get(req)?.startMs
  return startMs === undefined ? fastifyElapsedMs : performance.now() - startMs
}
