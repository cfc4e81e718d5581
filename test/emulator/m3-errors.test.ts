import t from 'tap'
import { request } from 'undici'
import { call, passwordToken, startEmulator, V1, V2 } from './helpers.ts'

t.test('real errorType values, v2: TransactionNotFound, MandatoryInputFieldNotFound, InputFieldTooLong, ServerReturnedNOK', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const cases: Array<[string, Record<string, unknown>]> = [
    [`${V2}/CRS610MI/NoSuchThing`, { errorType: 'TransactionNotFound', errorMessage: /NoSuchThing/ }],
    [`${V2}/XYZ999MI/Get`, { errorType: 'TransactionNotFound', errorMessage: /XYZ999MI/ }],
    [`${V2}/MMS200MI/GetItmBasic`, { errorType: 'MandatoryInputFieldNotFound', errorField: 'ITNO' }],
    [`${V2}/MMS200MI/GetItmBasic?ITNO=${'X'.repeat(16)}`, { errorType: 'InputFieldTooLong', errorField: 'ITNO' }],
    [`${V2}/MMS200MI/AddItmBasic?ITNO=Z9&ITDS=${'x'.repeat(31)}`, { errorType: 'InputFieldTooLong', errorField: 'ITDS' }],
    [`${V2}/MMS200MI/GetItmBasic?ITNO=`, { errorType: 'ServerReturnedNOK', errorCode: 'XRE0103', errorField: 'ITNO' }],
    [`${V2}/CRS610MI/GetBasicData?CUNO=ACME`, { errorType: 'ServerReturnedNOK', errorCode: 'WCU0203', errorField: 'CUNO' }],
  ]
  for (const [path, expected] of cases) {
    const res = await call(e, path, token)
    t.equal(res.status, 400, path)
    t.match(res.json, { results: [{ records: [], ...expected }], nrOfFailedTransactions: 1, nrOfSuccessfullTransactions: 0 }, path)
  }
  t.equal((await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=Z9`, token)).status, 400, 'the refused add added nothing')
})

t.test('v1 errors: the same types, messages padded with blanks, @code and @field only when M3 has them', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const nok = await call(e, `${V1}/CRS610MI/GetBasicData?CUNO=ACME`, token)
  t.equal(nok.status, 200)
  t.equal(nok.json.Message, 'Customer number ACME does not exist'.padEnd(60))
  t.equal(nok.json.Message.trimEnd(), 'Customer number ACME does not exist')
  const tooLong = await call(e, `${V1}/CRS610MI/GetBasicData?CUNO=${'1'.repeat(11)}`, token)
  t.same(Object.keys(tooLong.json), ['@type', '@field', '@cfg', 'Message'])
  t.equal(tooLong.json['@type'], 'InputFieldTooLong')
  const notFound = await call(e, `${V1}/CRS610MI/Nope`, token)
  t.same(Object.keys(notFound.json), ['@type', '@cfg', 'Message'], 'no @field, no @code')
})

t.test('v1 partial failure: rows, then an ErrorMessage object beside them', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  e.faults.m3PartialFailureNext(1, 2, `${V1}/CRS610MI/LstByNumber`)
  const v2 = await call(e, `${V2}/CRS610MI/LstByNumber`, token)
  t.equal(v2.json.results[0].records.length, 10, 'v2 calls are not armed')
  const partial = await call(e, `${V1}/CRS610MI/LstByNumber`, token)
  t.equal(partial.status, 200)
  t.equal(partial.json.MIRecord.length, 2)
  t.match(partial.json.ErrorMessage, { '@type': 'ServerReturnedNOK', '@code': String, '@cfg': '97', '@field': 'RCNT      ', Message: / {2,}$/ })
  t.equal(partial.json.Program, 'CRS610MI')
  const after = await call(e, `${V1}/CRS610MI/LstByNumber`, token)
  t.equal(after.json.MIRecord.length, 10)
  t.notOk('ErrorMessage' in after.json, 'only the armed call')
})

t.test('v2 single-call error status: 400 by default, 200 with nrOfFailedTransactions when switched', async t => {
  const e = await startEmulator(t, { m3V2ErrorStatus: 200 })
  const { access_token: token } = await passwordToken(e)
  const two = await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=ACME`, token)
  t.equal(two.status, 200)
  t.equal(two.json.nrOfFailedTransactions, 1)
  t.equal(two.json.results[0].errorCode, 'WCU0203')
  e.setM3V2ErrorStatus(400)
  t.equal((await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=ACME`, token)).status, 400)
  const res = await request(`${e.url}/__emulator/faults`, { method: 'POST', body: JSON.stringify({ m3V2ErrorStatus: 200 }) })
  t.equal(res.statusCode, 200)
  await res.body.dump()
  t.equal((await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=ACME`, token)).status, 200, 'through the HTTP controls too')
  t.equal((await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=10001`, token)).status, 200)
  t.throws(() => e.setM3V2ErrorStatus(500 as 400), RangeError)
})
