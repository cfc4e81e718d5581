// The entry point (`npm start`, the image's CMD): everything it does is in serve.ts.
import { serve } from './serve.ts'

await serve()
