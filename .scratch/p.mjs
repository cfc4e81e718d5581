import { pino } from 'pino'
import Fastify from 'fastify'
const log = pino({ level: 'info', redact: { paths: ['req.headers.authorization','token'], censor: '[redacted]' } }, pino.destination({ dest: '/dev/null', sync: true }))
const N = 200000
const o = { method: 'GET', url: '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic?ITNO=A100', route: '/m3/*', statusCode: 200, durationMs: 1.23, clientId: 'ip:127.0.0.1', system: 'm3', cache: 'HIT' }
for (let r = 0; r < 2; r++) {
let t = process.hrtime.bigint()
for (let i = 0; i < N; i++) log.child({ requestId: 'abc' + i }).info(o, 'request completed')
console.log('child+line ns', Number(process.hrtime.bigint() - t) / N)
}
