import closeWithGrace from 'close-with-grace'
import { buildApp } from '../src/app.ts'
import { loadDemoConfig } from '../src/config.ts'
import { createLogStream } from '../src/log-format.ts'
import { demoBanner } from './demo-banner.ts'
import { createEmulator } from './index.ts'

/** `npm run demo`: the ION emulator and the gateway wired to it, with the in-memory cache. */
const emulator = await createEmulator({ port: 0 })
const config = loadDemoConfig(emulator.ionapi)
const { stream } = await createLogStream({ stdout: process.stdout })
const app = await buildApp(config, stream ? { logStream: stream } : {})

closeWithGrace({ delay: 10000 }, async () => {
  await app.close()
  await emulator.close()
})

await app.listen({ port: config.port, host: config.host })
const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`

process.stdout.write(demoBanner({ base, emulatorUrl: emulator.url, tenant: emulator.tenant, keysRequired: config.clientApiKeysFile !== undefined }))
