import closeWithGrace from 'close-with-grace'
import { buildApp } from '../src/app.ts'
import { loadDemoConfig } from '../src/config.ts'
import { createEmulator } from './index.ts'

/** `npm run demo`: the ION emulator and the gateway wired to it, with the in-memory cache. */
const emulator = await createEmulator({ port: 0 })
const config = loadDemoConfig(emulator.ionapi)
const app = await buildApp(config)

closeWithGrace({ delay: 10000 }, async () => {
  await app.close()
  await emulator.close()
})

await app.listen({ port: config.port, host: config.host })
const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`

process.stdout.write(`
ion-gateway demo
  gateway        ${base}
  ION emulator   ${emulator.url}  (tenant ${emulator.tenant})

Try:
  curl -s '${base}/m3/mi/MMS200MI/GetItmBasic?ITNO=A100'
  curl -s '${base}/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber?maxrecs=3'
  curl -s '${base}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=2'
  curl -s '${base}/health'

Ctrl+C to stop.
`)
