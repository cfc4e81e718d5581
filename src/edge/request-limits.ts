import type { IncomingHttpHeaders, ServerOptions } from 'node:http'
import type { RequestLimits } from '../config.ts'
import { GatewayError } from '../errors.ts'

/** What checkRequestHead reads of a request: Node's IncomingMessage has it all. */
export interface RequestHead {
  url?: string
  httpVersion: string
  /** Alternating names and values, as received. */
  rawHeaders: string[]
  headers: IncomingHttpHeaders
}

/**
 * Node's HTTP server options for the limits. The parser's own header bound covers the request target and the header
 * lines together, so it is set to both limits added up: each limit is then answered with its own code by
 * checkRequestHead, and only a request beyond both together is cut off by the parser (431).
 */
export function httpServerOptions (limits: RequestLimits): ServerOptions {
  return {
    maxHeaderSize: limits.maxUrlBytes + limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestBodyTimeoutMs,
    connectionsCheckingInterval: connectionsCheckingInterval(limits),
    // Node answers a missing Host with a bare 400; checkRequestHead refuses it in the error envelope instead.
    requireHostHeader: false,
  }
}

/**
 * Node enforces both timeouts only when it sweeps its connections (every 30 s by default): sweep often enough that
 * a timeout is late by a tenth of itself at most, and at least once a second.
 */
export function connectionsCheckingInterval (limits: RequestLimits): number {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestBodyTimeoutMs)
  return Math.min(1000, Math.max(10, Math.floor(shortest / 10)))
}

/**
 * Node's `maxHeadersCount` keeps the first N headers and silently drops the rest: it is set one above the limit so
 * that a request over it still shows one header too many here.
 */
export function maxHeadersCount (limits: RequestLimits): number {
  return limits.maxRequestHeaders + 1
}

/** The refusal for a request whose head breaks a limit (or has no Host), else undefined. */
export function checkRequestHead (head: RequestHead, limits: RequestLimits): GatewayError | undefined {
  const headerCount = head.rawHeaders.length / 2
  if (headerCount > limits.maxRequestHeaders) {
    return new GatewayError('API_008', `The request has more than ${limits.maxRequestHeaders} headers`)
  }
  let headerBytes = 0
  // Node decodes header lines as latin1: one character is one byte.
  for (const part of head.rawHeaders) headerBytes += part.length
  if (headerBytes > limits.maxHeaderBytes) {
    return new GatewayError('API_008', `The request headers take ${headerBytes} bytes; at most ${limits.maxHeaderBytes} are accepted`)
  }
  const urlBytes = head.url?.length ?? 0
  if (urlBytes > limits.maxUrlBytes) {
    return new GatewayError('API_003', `The request URL is ${urlBytes} bytes long; at most ${limits.maxUrlBytes} are accepted`, { statusCode: 414 })
  }
  if (head.httpVersion === '1.1' && head.headers.host === undefined) {
    return new GatewayError('API_003', 'The Host header is required')
  }
  const declared = head.headers['content-length']
  if (declared !== undefined && Number(declared) > limits.maxUploadBytes) {
    return new GatewayError('API_006', `The request body is ${declared} bytes; at most ${limits.maxUploadBytes} are accepted`)
  }
  return undefined
}

/** Whether the request announced a body (Content-Length above 0, or chunked). */
export function hasBody (headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}
