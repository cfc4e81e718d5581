import { resolveConfig, type Config, type EnvInput } from '../../src/config.ts'
import { sampleIonApi } from '../fixtures/ionapi.ts'

/** A Config for tests: environment defaults plus `env`, with the given (or a sample) `.ionapi` object. */
export function testConfig (env: EnvInput = {}, ionapi: unknown = sampleIonApi): Config {
  return resolveConfig({ LOG_LEVEL: 'silent', ...env }, ionapi)
}
