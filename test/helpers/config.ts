import { resolveConfig, type Config, type EnvInput } from '../../src/config.ts'
import { sampleIonApi } from '../fixtures/ionapi.ts'

/**
 * A Config for tests: environment defaults plus `env`, with the given (or a sample) `.ionapi` object. Load shedding
 * is off unless a test asks for it: on a loaded 2-core machine, module compilation alone can stall the event loop
 * past the default limit, and a test about something else would then get SYS_004.
 */
export function testConfig (env: EnvInput = {}, ionapi: unknown = sampleIonApi): Config {
  return resolveConfig({ LOG_LEVEL: 'silent', MAX_EVENT_LOOP_DELAY_MS: '0', ...env }, ionapi)
}
