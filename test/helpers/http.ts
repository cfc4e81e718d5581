import { connect } from 'node:net'

/** Sends bytes exactly as given (no client normalises the path) and returns the status code and raw answer. */
export function rawRequest (baseUrl: string, head: string, body = ''): Promise<{ status: number, raw: string }> {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let data = ''
    socket.setEncoding('latin1')
    socket.on('connect', () => socket.write(head.replace(/\n/g, '\r\n') + '\r\n\r\n' + body))
    socket.on('data', (d: string) => {
      data += d
      const end = data.indexOf('\r\n\r\n')
      if (end !== -1) {
        const length = /content-length: (\d+)/i.exec(data.slice(0, end))
        if (!length || data.length >= end + 4 + Number(length[1])) socket.end()
      }
    })
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), raw: data }))
    socket.on('error', reject)
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('raw request timed out')) })
  })
}
