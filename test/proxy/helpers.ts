import type { Emulator } from '../../emulator/index.ts'
import type { ResponseCache } from '../../src/cache/manager.ts'
import { createGateway, type Gateway } from '../../src/proxy/gateway.ts'
import type { Upstream } from '../../src/proxy/upstream.ts'

/** The gateway core over the emulator as the framework-free tests use it: 60 s TTLs, a 5 s deadline, 1 MiB uploads. */
export function gatewayOver (emulator: Emulator, upstream: Upstream, cache: ResponseCache | null): Gateway {
  return createGateway({
    apiBaseUrl: `${emulator.ionapi.iu}/${emulator.ionapi.ti}`,
    upstream,
    cache,
    cacheTtlS: { m3: 60, ln: 60, idm: 60 },
    timeoutMs: 5000,
    m3ReadTransactions: /^(Get|Lst|Sel|Search)/,
    maxUploadBytes: 1 << 20,
  })
}
