import { runFolder } from '../helpers/run-folder.ts'

// Every test/emulator/*.test.ts, in this one process (test/helpers/run-folder.ts says why).
await runFolder(new URL('../emulator/', import.meta.url))
