import { runFolder } from '../helpers/run-folder.ts'

// Every test/ion/*.test.ts, in this one process (test/helpers/run-folder.ts says why).
await runFolder(new URL('../ion/', import.meta.url))
