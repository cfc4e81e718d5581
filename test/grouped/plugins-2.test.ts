import { runFolder } from '../helpers/run-folder.ts'

// Part 2 of test/plugins/*.test.ts, in this one process (test/helpers/run-folder.ts says why).
await runFolder(new URL('../plugins/', import.meta.url), { part: 2, of: 4 })
