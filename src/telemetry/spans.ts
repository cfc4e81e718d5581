import type { SystemId } from '../proxy/systems.ts'

/**
 * What the request path knows of tracing: nothing of OpenTelemetry itself. A request carries one of these only when
 * tracing is on; otherwise the field is absent and the path makes no span and no header.
 */
export interface IonCallTracer {
  /** Opens the CLIENT span of one attempt of an ION call (retries and the replay after a 401 each get their own). */
  ionAttempt (attempt: IonAttempt): IonAttemptSpan
}

export interface IonAttempt {
  system: SystemId
  method: string
  /** Origin-relative path and query as sent to ION (secret query values are redacted before recording). */
  path: string
  /** Requests already sent for this call (0 on the first attempt). */
  resendCount: number
}

export interface IonAttemptSpan {
  /** Sets `traceparent` (and `tracestate`, replacing the client's) so ION's side of the call joins the trace. */
  inject (headers: Record<string, string | string[]>): void
  /** ION answered (its response headers arrived). */
  end (statusCode: number): void
  /** No answer: the gateway's error code (API_001, API_002…). */
  fail (errorType: string): void
}

/** The token client's side: one span per token request to ION (a login), a trace of its own. */
export interface TokenCallTracer {
  /** `url` is the token endpoint (`pu` + `ot` of the .ionapi file: no secret in it). */
  tokenCall (grant: string, url: string): TokenCallSpan
}

export interface TokenCallSpan {
  end (statusCode: number): void
  fail (errorType: string): void
}
