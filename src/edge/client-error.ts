import { STATUS_CODES } from 'node:http'
import { envelope, type ErrorCode } from '../errors.ts'

export interface SocketErrorAnswer {
  status: number
  code: ErrorCode
  message: string
}

/**
 * What the gateway answers when Node's HTTP server refuses a connection's bytes before any route sees them: a parse
 * error (its code names the llhttp error), a header section past the parser's bound, or a request timeout.
 */
export function socketErrorAnswer (errorCode: string | undefined): SocketErrorAnswer {
  switch (errorCode) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'API_007', message: 'The request did not arrive in time' }
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'API_008', message: 'The request line and headers are too large' }
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'API_006', message: 'The request body\'s chunk extensions are too large' }
    default:
      return { status: 400, code: 'API_003', message: 'The request is not valid HTTP/1.1' }
  }
}

/** A complete HTTP/1.1 answer carrying the error envelope, for writing straight to a socket that is then closed. */
export function rawErrorResponse (answer: SocketErrorAnswer, requestId: string): string {
  const body = JSON.stringify(envelope(answer.code, answer.message, requestId))
  return `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    'connection: close\r\n' +
    '\r\n' + body
}
