/**
 * `npx tsx bench/log-writes.ts`: what writing the access log costs per line, by the way the lines reach the file
 * (/dev/null, so the disk does not count): 400,000 lines of 330 bytes, batched as src/log-destination.ts batches
 * them, handed to pino's destination (sonic-boom) asynchronously or synchronously, or written with fs alone. CPU of
 * the whole process (libuv's thread pool included), per line and per write. The gateway writes synchronously.
 */
import { openSync, write, writeSync } from 'node:fs'
import { pino } from 'pino'

const LINES = 400_000
const line = `${JSON.stringify({ level: 30, time: 1764680000000, pid: 1234, hostname: 'ion-gateway-5d9c7', reqId: 'b1f0c2d4e6a8', msg: 'request completed', method: 'GET', url: '/m3/m3api-rest/v2/execute/MMS200MI/LstItmByItm?ITNO=A100&maxrecs=9', statusCode: 200, cache: 'HIT', pad: 'x'.repeat(90) })}\n`

type Sink = (batch: string) => Promise<void> | void

async function measure (name: string, batchBytes: number, sink: Sink, flush: () => void = () => {}): Promise<void> {
  let pending: string[] = []
  let pendingLength = 0
  let writes = 0
  const cpu = process.cpuUsage()
  for (let i = 0; i < LINES; i++) {
    pending.push(line)
    pendingLength += line.length
    if (pendingLength >= batchBytes) {
      const batch = pending.join('')
      pending = []
      pendingLength = 0
      writes++
      await sink(batch)
      // Let asynchronous writes complete now and then, as a serving gateway's event loop does.
      if (writes % 16 === 0) await new Promise(resolve => setImmediate(resolve))
    }
  }
  flush()
  const used = process.cpuUsage(cpu)
  const us = used.user + used.system
  process.stdout.write(`${name.padEnd(44)} ${(us / LINES).toFixed(2).padStart(6)} µs/line ${(us / writes).toFixed(1).padStart(7)} µs/write (${writes} writes)\n`)
}

process.stdout.write(`${LINES} lines of ${line.length} bytes to /dev/null, node ${process.version}\n`)
const fd = openSync('/dev/null', 'w')
await measure('fs.writeSync, 12 KiB batches', 12288, batch => { writeSync(fd, batch) })
await measure('fs.write (async), 12 KiB batches', 12288, batch => new Promise(resolve => write(fd, batch, () => resolve())))
for (const [sync, batchBytes] of [[false, 4096], [false, 12288], [true, 12288]] as const) {
  const sonic = pino.destination({ dest: '/dev/null', sync, minLength: batchBytes })
  await new Promise(resolve => setTimeout(resolve, 50))
  await measure(`sonic-boom ${sync ? 'sync' : 'async'}, ${batchBytes / 1024} KiB batches${sync ? ' (the gateway)' : ''}`, batchBytes, batch => { sonic.write(batch) }, () => sonic.flushSync())
}
