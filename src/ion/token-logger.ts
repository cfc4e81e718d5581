/** pino-like. The token manager never passes a token, a refresh token or a secret to it. */
export interface TokenLogger {
  debug (obj: object, msg: string): void
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

const noop = (): void => {}
export const noopLogger: TokenLogger = { debug: noop, info: noop, warn: noop, error: noop }
