import t from 'tap'
import Fastify from 'fastify'
import { loggerOptions } from '../../src/logger.ts'
import { writeKeysFile } from '../helpers/api-keys.ts'
import { startGateway } from '../helpers/gateway.ts'
import { rawRequest } from '../helpers/http.ts'

const ITEM = '/m3/m3api-rest/v2/execute/MMS200MI/GetItmBasic'

/** Secret-named query parameters, as a client may send them (names raw, percent-encoded, in any case). */
function secretQueries (): Array<{ query: string, secret: string }> {
  const names = ['x-api-key', 'X-Api-Key', 'api_key', 'APIKEY', 'access_token', 'Token', 'password', '%78-api-key',
    'api%5Fkey', '%2578-api-key', 'filter%5Baccess_token%5D', 'refresh_token', 'client_secret']
  return names.map((name, i) => ({ query: `${name}=s3cr3t-${i}-zq`, secret: `s3cr3t-${i}-zq` }))
}

async function send (url: string, method: string, path: string, headers: string[] = []): Promise<number> {
  const { host } = new URL(url)
  return (await rawRequest(url, [`${method} ${path} HTTP/1.1`, `host: ${host}`, 'connection: close', ...headers].join('\n'))).status
}

t.test('secret query parameters never reach the log; the other parameters do', async t => {
  const gw = await startGateway(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0' } })
  const seen: number[] = []
  for (const { query } of secretQueries()) {
    seen.push(await send(gw.url, 'GET', `${ITEM}?ITNO=A100&${query}&CONO=100`))
  }
  // Answers the gateway decides itself, logged as errors or client errors.
  seen.push(await send(gw.url, 'GET', '/no-such-route?token=s3cr3t-404-zq&page=2'))
  seen.push(await send(gw.url, 'GET', '/m3/a/%2e%2e/%2e%2e/x?password=s3cr3t-400-zq&page=3'))
  seen.push(await send(gw.url, 'PROPFIND', '/m3/x?apikey=s3cr3t-405-zq&page=4'))
  seen.push(await send(gw.url, 'GET', `${ITEM};token=s3cr3t-matrix-zq?ITNO=A100&x=1;access_token=s3cr3t-semi-zq`))
  t.ok(seen.every(s => s > 0), `every request was answered (saw ${seen.join(', ')})`)

  const text = gw.logText()
  const leaked = [...secretQueries().map(q => q.secret), 's3cr3t-404-zq', 's3cr3t-400-zq', 's3cr3t-405-zq', 's3cr3t-matrix-zq', 's3cr3t-semi-zq']
    .filter(secret => text.includes(secret))
  t.same(leaked, [], 'no secret value in the log')
  const urls = gw.logs.map(l => l.url).filter((u): u is string => typeof u === 'string')
  t.ok(urls.filter(u => u.includes('ITNO=A100') && u.includes('CONO=100') && u.includes('[redacted]')).length >= secretQueries().length,
    `the other parameters are still logged (saw ${urls.slice(0, 3).join(' ')})`)
  t.ok(urls.some(u => u.includes('page=2')) && urls.some(u => u.includes('page=3')) && urls.some(u => u.includes('page=4')), 'error lines keep them too')
})

t.test('with API keys, a key sent in the query string is refused and not logged', async t => {
  const keys = writeKeysFile(t)
  const gw = await startGateway(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0', CLIENT_API_KEYS_FILE: keys.file } })
  t.equal(await send(gw.url, 'GET', `${ITEM}?ITNO=A100&x-api-key=${keys.portal}`), 401, 'the key is read from the header only')
  t.equal(await send(gw.url, 'GET', `${ITEM}?ITNO=A100&X-API-KEY=${keys.ops}`, [`x-api-key: ${keys.portal}`]), 200)
  const text = gw.logText()
  t.notOk(text.includes(keys.portal), 'the client key is not in the log')
  t.notOk(text.includes(keys.ops), 'the admin key is not in the log')
  t.match(text, /ITNO=A100/)
})

t.test('Fastify\'s own lines (its req serializer, its warnings quoting the URL) lose the secret values too', async t => {
  const lines: string[] = []
  // Fastify's default log controller: it logs every incoming request through the `req` serializer.
  const app = Fastify({ logger: loggerOptions({ level: 'info', stream: { write: line => lines.push(line) } }) })
  t.teardown(() => app.close())
  app.get('/twice', (_request, reply) => {
    reply.send('first')
    // Fastify warns with an error whose message quotes the URL.
    reply.send('second')
  })
  const res = await app.inject({ url: '/twice?page=7&x-api-key=s3cr3t-fastify-zq' })
  t.equal(res.statusCode, 200)
  const records = lines.map(l => JSON.parse(l) as { msg?: string, req?: { url?: string }, err?: { message?: string } })
  t.equal(records.find(r => r.msg === 'incoming request')?.req?.url, '/twice?page=7&x-api-key=[redacted]', 'the req serializer')
  t.match(records.find(r => r.err?.message?.includes('already sent'))?.err?.message, /page=7&x-api-key=\[redacted\]/, 'the warning')
  t.notOk(lines.join('').includes('s3cr3t-fastify-zq'), `no line holds the secret (saw ${lines.length} lines)`)
})
