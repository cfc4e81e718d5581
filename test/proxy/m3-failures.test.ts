import t from 'tap'
import { request } from 'undici'
import { startGateway } from '../helpers/gateway.ts'

const M3 = '/ACME_TST/M3'

async function get (url: string) {
  const res = await request(url)
  const text = await res.body.text()
  return { status: res.statusCode, cache: res.headers['x-cache'], text }
}

// M3 v1 answers errors with HTTP 200: each of these must never be stored as if it were the answer.
const V1_ERRORS: Array<[string, string]> = [
  ['TransactionNotFound (no @code)', '/m3api-rest/execute/MMS200MI/GetNothing'],
  ['MandatoryInputFieldNotFound', '/m3api-rest/execute/MMS200MI/GetItmBasic'],
  ['InputFieldTooLong', '/m3api-rest/execute/MMS200MI/GetItmBasic?ITNO=ABCDEFGHIJKLMNOPQRSTUVWXYZ'],
]

for (const [what, path] of V1_ERRORS) {
  t.test(`a v1 ${what} answer is not stored`, async t => {
    const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
    const ionPath = M3 + path.split('?')[0]
    const first = await get(`${gw.url}/m3${path}`)
    t.equal(first.status, 200, 'M3 v1 reports the error with HTTP 200')
    t.match(first.text, /"@type"/, `the emulator answered an error (${first.text.slice(0, 120)})`)
    const second = await get(`${gw.url}/m3${path}`)
    t.equal(second.cache, 'MISS', `the error was not stored (x-cache ${String(second.cache)})`)
    t.equal(gw.emulator.stats.calls(ionPath), 2, `both requests reached ION (saw ${gw.emulator.stats.calls(ionPath)})`)
  })
}

t.test('a v1 partial failure (rows, then an ErrorMessage object) is not stored', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  const path = '/m3api-rest/execute/CRS610MI/LstByNumber'
  gw.emulator.faults.m3PartialFailureNext(1, 1, M3 + path)
  const first = await get(`${gw.url}/m3${path}`)
  t.match(first.text, /"ErrorMessage":\{/, `ION answered a partial failure (${first.text.slice(0, 120)})`)
  const second = await get(`${gw.url}/m3${path}`)
  t.equal(second.cache, 'MISS', `the partial answer was not stored (x-cache ${String(second.cache)})`)
  t.notMatch(second.text, /ErrorMessage/, 'the second request got ION\'s complete answer')
  t.equal(gw.emulator.stats.calls(M3 + path), 2, `saw ${gw.emulator.stats.calls(M3 + path)} ION calls`)
})

t.test('the typed route reports M3\'s padded message, code and field trimmed, blanks collapsed', async t => {
  const gw = await startGateway(t, { env: { CACHE_DRIVER: 'memory' } })
  gw.emulator.faults.respondNext(1, {
    status: 400,
    body: {
      results: [{ transaction: 'GetItmBasic', errorMessage: '  Item   number  A100    does not exist          ', errorCode: 'WMM0203   ', errorField: 'ITNO      ', errorType: 'ServerReturnedNOK', records: [] }],
      wasTerminated: false,
      nrOfSuccessfullTransactions: 0,
      nrOfFailedTransactions: 1,
    },
  }, `${M3}/m3api-rest/v2/execute/MMS200MI/GetItmBasic`)
  const res = await request(`${gw.url}/m3/mi/MMS200MI/GetItmBasic?ITNO=A100`)
  const body = await res.body.json() as { error: { code: string, message: string, m3: { code: string, field: string, message: string } } }
  t.equal(res.statusCode, 422)
  t.equal(body.error.code, 'API_004')
  t.equal(body.error.message, 'Item number A100 does not exist')
  t.same(body.error.m3, { code: 'WMM0203', field: 'ITNO', message: 'Item number A100 does not exist' })
})
