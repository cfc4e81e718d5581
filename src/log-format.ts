export type LogFormat = 'pretty' | 'json'

/** Pretty lines for a person at a terminal; JSON lines for everything else (containers, pipes, log collectors). */
export function chooseLogFormat (stdout: { isTTY?: boolean }): LogFormat {
  return stdout.isTTY === true ? 'pretty' : 'json'
}

export interface LogLineStream { write (line: string): unknown }

/** pino-pretty's factory, as far as it is used here. */
export type PrettyFactory = (options: {
  colorize: boolean
  translateTime: string
  ignore: string
  singleLine: boolean
  sync: boolean
  destination: number | { write (text: string): unknown }
}) => LogLineStream

async function importPinoPretty (): Promise<PrettyFactory> {
  const mod = await import('pino-pretty')
  return mod.default as unknown as PrettyFactory
}

export interface LogStreamOptions {
  /** The process's stdout (or a stand-in): its isTTY decides the format. */
  stdout: { isTTY?: boolean }
  /** Where pretty lines go; stdout's file descriptor by default. */
  destination?: number | { write (text: string): unknown }
  /** How pino-pretty is loaded (tests pass a loader that fails, as in the production image). */
  loadPretty?: () => Promise<PrettyFactory>
}

/**
 * The stream the gateway's log lines go to: undefined means pino's own JSON to stdout. At a terminal the lines are
 * pretty-printed by pino-pretty, a devDependency: the production image lacks it (and is no terminal anyway), so it
 * is imported only when wanted, and its absence means JSON. Pretty printing reads the lines pino has already
 * written: redaction (paths and URLs) has happened by then.
 */
export async function createLogStream (options: LogStreamOptions): Promise<{ format: LogFormat, stream?: LogLineStream }> {
  if (chooseLogFormat(options.stdout) === 'json') return { format: 'json' }
  let pretty: PrettyFactory
  try {
    pretty = await (options.loadPretty ?? importPinoPretty)()
  } catch {
    return { format: 'json' }
  }
  return {
    format: 'pretty',
    stream: pretty({
      colorize: true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      // One line per request, its fields after the message.
      singleLine: true,
      // Lines are written before the process exits (a watch restart), not lost in a buffer.
      sync: true,
      destination: options.destination ?? 1,
    }),
  }
}
