import { runFolder } from '../helpers/run-folder.ts'

// Every test/edge/*.test.ts, in this one process (test/helpers/run-folder.ts says why).
await runFolder(new URL('../edge/', import.meta.url))
