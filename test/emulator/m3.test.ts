import t from 'tap'
import { CUSTOMER_NUMBERS, ITEM_NUMBERS } from '../../emulator/index.ts'
import { call, passwordToken, startEmulator, V1, V2 } from './helpers.ts'

type NameValue = { Name: string, Value: string }
const value = (record: { NameValue: NameValue[] }, name: string) => record.NameValue.find(nv => nv.Name === name)?.Value

t.test('the data set has at least 20 items and 10 customers', async t => {
  t.ok(ITEM_NUMBERS.length >= 20)
  t.ok(CUSTOMER_NUMBERS.length >= 10)
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const items = await call(e, `${V2}/MMS200MI/LstItmByItm?maxrecs=0`, token)
  t.same(items.json.results[0].records.map((r: { ITNO: string }) => r.ITNO), ITEM_NUMBERS)
  const customers = await call(e, `${V2}/CRS610MI/LstByNumber;maxrecs=0`, token)
  t.same(customers.json.results[0].records.map((r: { CUNO: string }) => r.CUNO), CUSTOMER_NUMBERS)
})

t.test('M3 v1: Metadata and values padded with blanks to the field length', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, `${V1}/CRS610MI/GetBasicData?CUNO=10001`, token)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.json.Program, 'CRS610MI')
  t.equal(res.json.Transaction, 'GetBasicData')
  t.same(res.json.Metadata.Field.map((f: { '@name': string }) => f['@name']), ['CUNO', 'CUNM', 'CSCD', 'STAT', 'CRL2', 'RGDT', 'LMDT'])
  t.same(res.json.Metadata.Field[0], { '@name': 'CUNO', '@type': 'A', '@length': 10, '@description': 'Customer number' })
  t.same(res.json.Metadata.Field.map((f: { '@type': string }) => f['@type']), ['A', 'A', 'A', 'A', 'N', 'D', 'D'], 'numeric and date fields too')
  t.equal(res.json.MIRecord.length, 1)
  t.equal(res.json.MIRecord[0].RowIndex, 0)
  t.equal(value(res.json.MIRecord[0], 'CUNO'), '10001     ')
  t.equal(value(res.json.MIRecord[0], 'CUNM'), 'Acme Manufacturing'.padEnd(36))
  const item = await call(e, `${V1}/MMS200MI/GetItmBasic?ITNO=A100`, token)
  t.equal(value(item.json.MIRecord[0], 'ITNO'), 'A100'.padEnd(15))
  t.equal(value(item.json.MIRecord[0], 'ITDS'), 'Bolt M8'.padEnd(30))
})

t.test('M3 v1: errors are HTTP 200 with the error in the body, unknown programs and transactions too', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, `${V1}/CRS610MI/GetBasicData?CUNO=ACME`, token)
  t.equal(res.status, 200)
  t.same(res.json, { '@type': 'ServerReturnedNOK', '@code': 'WCU0203', '@field': 'CUNO', '@cfg': null, Message: 'Customer number ACME does not exist'.padEnd(60) })
  const transaction = await call(e, `${V1}/CRS610MI/NoSuchThing`, token)
  t.equal(transaction.status, 200)
  t.equal(transaction.json['@type'], 'TransactionNotFound')
  t.match(transaction.json.Message, /NoSuchThing/)
  const program = await call(e, `${V1}/XYZ999MI/Get`, token)
  t.equal(program.json['@type'], 'TransactionNotFound')
  const missing = await call(e, `${V1}/MMS200MI/GetItmBasic`, token)
  t.match(missing.json, { '@type': 'MandatoryInputFieldNotFound', '@field': 'ITNO' })
})

t.test('M3 v1 lists: one MIRecord per row with increasing RowIndex; returncols narrows Metadata and values', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, `${V1}/MMS200MI/LstItmByItm;maxrecs=4;returncols=ITNO,STAT?ITNO=A105`, token)
  t.same(res.json.MIRecord.map((r: { RowIndex: number }) => r.RowIndex), [0, 1, 2, 3])
  t.same(res.json.MIRecord.map((r: { NameValue: NameValue[] }) => value(r, 'ITNO')?.trim()), ['A105', 'A106', 'A107', 'A108'])
  t.same(res.json.Metadata.Field.map((f: { '@name': string }) => f['@name']), ['ITNO', 'STAT'])
  t.same(res.json.MIRecord[0].NameValue.map((nv: NameValue) => nv.Name), ['ITNO', 'STAT'])
})

t.test('M3 v2: success envelope with Infor spelling and trimmed values', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const ok = await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=A100`, token)
  t.equal(ok.status, 200)
  t.same(ok.json, {
    results: [{
      transaction: 'GetItmBasic',
      records: [{ ITNO: 'A100', ITDS: 'Bolt M8', STAT: '20', ITTY: 'FIN', UNMS: 'PCS', NEWE: '0.125', RGDT: '20240101', LMDT: '20250601' }],
    }],
    wasTerminated: false,
    nrOfSuccessfullTransactions: 1,
    nrOfFailedTransactions: 0,
  })
})

t.test('M3 v2: business errors are HTTP 400 with the same envelope', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const bad = await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=ACME`, token)
  t.equal(bad.status, 400)
  t.same(bad.json, {
    results: [{
      transaction: 'GetBasicData',
      errorMessage: 'Customer number ACME does not exist',
      errorCode: 'WCU0203',
      errorField: 'CUNO',
      errorType: 'ServerReturnedNOK',
      records: [],
    }],
    wasTerminated: false,
    nrOfSuccessfullTransactions: 0,
    nrOfFailedTransactions: 1,
  })
  const unknown = await call(e, `${V2}/CRS610MI/NoSuchThing`, token)
  t.equal(unknown.status, 400)
  t.equal(unknown.json.nrOfFailedTransactions, 1)
})

t.test('options: matrix parameters and query parameters; unknown ones ignored', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const matrix = await call(e, `${V2}/CRS610MI/LstByNumber;maxrecs=3;returncols=CUNO,CUNM;cono=100?_rid=42`, token)
  t.equal(matrix.status, 200)
  t.equal(matrix.json.results[0].records.length, 3)
  t.same(Object.keys(matrix.json.results[0].records[0]), ['CUNO', 'CUNM'])
  const query = await call(e, `${V2}/MMS200MI/LstItmByItm?maxrecs=5&returncols=ITNO&dateformat=YMD8&righttrim=true&CONO=100&divi=AAA`, token)
  t.equal(query.json.results[0].records.length, 5)
  t.same(Object.keys(query.json.results[0].records[0]), ['ITNO'])
  const defaults = await call(e, `${V2}/MMS200MI/LstItmByItm`, token)
  t.equal(defaults.json.results[0].records.length, ITEM_NUMBERS.length, 'all rows fit the default maxrecs of 100')
  const from = await call(e, `${V2}/CRS610MI/LstByNumber;maxrecs=2?CUNO=10005`, token)
  t.same(from.json.results[0].records.map((r: { CUNO: string }) => r.CUNO), ['10005', '10006'], 'lists start at the given key')
  const byName = await call(e, `${V2}/CRS610MI/LstByName;maxrecs=1?CUNM=M`, token)
  t.equal(byName.json.results[0].records[0].CUNM, 'Milano Meccanica Srl')
})

t.test('writes sent as GET really change the data', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const change = await call(e, `${V2}/CRS610MI/ChgBasicData?CUNO=10002&CUNM=Renamed%20AB`, token)
  t.equal(change.status, 200)
  t.same(change.json.results[0].records, [])
  const after = await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=10002`, token)
  t.equal(after.json.results[0].records[0].CUNM, 'Renamed AB')
  t.equal(after.json.results[0].records[0].CSCD, 'SE', 'fields not sent are kept')
  const v1 = await call(e, `${V1}/MMS200MI/UpdItmBasic?ITNO=A101&ITDS=Lock%20nut%20M8`, token)
  t.equal(v1.status, 200)
  const v1After = await call(e, `${V1}/MMS200MI/GetItmBasic?ITNO=A101`, token)
  t.equal(value(v1After.json.MIRecord[0], 'ITDS'), 'Lock nut M8'.padEnd(30))

  t.equal((await call(e, `${V2}/MMS200MI/AddItmBasic?ITNO=Z900&ITDS=New%20item`, token)).status, 200)
  const added = await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=Z900`, token)
  t.equal(added.json.results[0].records[0].ITDS, 'New item')
  const twice = await call(e, `${V2}/MMS200MI/AddItmBasic?ITNO=Z900&ITDS=New`, token)
  t.equal(twice.status, 400)
  t.match(twice.json.results[0].errorMessage, /already exists/)
  t.equal((await call(e, `${V2}/MMS200MI/DltItmBasic?ITNO=Z900`, token)).status, 200)
  t.equal((await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=Z900`, token)).status, 400)
  t.equal((await call(e, `${V2}/CRS610MI/Add?CUNO=20001&CUNM=Newco&CSCD=GB`, token)).status, 200)
  t.equal((await call(e, `${V2}/CRS610MI/Delete?CUNO=20001`, token)).status, 200)
  t.equal((await call(e, `${V2}/CRS610MI/GetBasicData?CUNO=20001`, token)).status, 400)

  const fresh = await startEmulator(t)
  const other = await passwordToken(fresh)
  const untouched = await call(fresh, `${V2}/CRS610MI/GetBasicData?CUNO=10002`, other.access_token)
  t.equal(untouched.json.results[0].records[0].CUNM, 'Nordic Timber AB', 'each emulator has its own data')
})

t.test('csrf is not served through ION (404), nor are unknown M3 paths; wrong methods are 405', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  t.equal((await call(e, '/ACME_TST/M3/m3api-rest/csrf', token)).status, 404)
  t.equal((await call(e, '/ACME_TST/M3/m3api-rest/v2/csrf', token)).status, 404)
  t.equal((await call(e, '/ACME_TST/M3/nothing-here', token)).status, 404)
  t.equal((await call(e, `${V2}/MMS200MI`, token)).status, 405, 'the bulk form takes POST')
  t.equal((await call(e, `${V1}/MMS200MI`, token)).status, 404, 'v1 has no bulk form')
  t.equal((await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=A100`, token, { method: 'POST', body: '' })).status, 405)
})

t.test('bulk v2 POST runs every transaction and counts partial failure', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const bulk = await call(e, V2, token, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      program: 'CRS610MI',
      cono: 100,
      transactions: [
        { transaction: 'GetBasicData', record: { CUNO: '10001' } },
        { transaction: 'GetBasicData', record: { CUNO: 'NOPE' } },
        { transaction: 'ChgBasicData', record: { CUNO: '10003', CUNM: 'Bulk GmbH' } },
        { transaction: 'GetBasicData', record: { CUNO: '10003' } },
      ],
    }),
  })
  t.equal(bulk.status, 200)
  t.equal(bulk.json.results.length, 4)
  t.equal(bulk.json.nrOfSuccessfullTransactions, 3)
  t.equal(bulk.json.nrOfFailedTransactions, 1)
  t.equal(bulk.json.wasTerminated, false)
  t.equal(bulk.json.results[0].records[0].CUNO, '10001')
  t.equal(bulk.json.results[1].errorCode, 'WCU0203')
  t.equal(bulk.json.results[3].records[0].CUNM, 'Bulk GmbH', 'transactions run in order')
  const broken = await call(e, V2, token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })
  t.equal(broken.status, 400)
  const get = await call(e, V2, token)
  t.equal(get.status, 405)
})
