import { runFolder } from '../helpers/run-folder.ts'

// Every test/proxy/*.test.ts, in this one process (test/helpers/run-folder.ts says why).
await runFolder(new URL('../proxy/', import.meta.url))
