import { runFolder } from '../helpers/run-folder.ts'

// Every test/cache/*.test.ts, in this one process (test/helpers/run-folder.ts says why).
await runFolder(new URL('../cache/', import.meta.url))
