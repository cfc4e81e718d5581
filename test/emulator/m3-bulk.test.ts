import t from 'tap'
import type { Emulator } from '../../emulator/index.ts'
import { CUSTOMER_NUMBERS } from '../../emulator/index.ts'
import { call, passwordToken, startEmulator, V2 } from './helpers.ts'

async function bulk (e: Emulator, token: string, body: unknown, path = V2) {
  return call(e, path, token, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
}

t.test('bulk: maxReturnedRecords (0 = all), selectedColumns, per transaction or for all', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const all = await bulk(e, token, { program: 'MMS200MI', maxReturnedRecords: 0, transactions: [{ transaction: 'LstItmByItm', record: {} }] })
  t.equal(all.status, 200)
  t.equal(all.json.results[0].records.length, 20, 'every row, not 100 at most nor the default')
  const hundred = await bulk(e, token, { program: 'MMS200MI', transactions: [{ transaction: 'LstItmByItm' }] })
  t.equal(hundred.json.results[0].records.length, 20)
  const few = await bulk(e, token, {
    program: 'CRS610MI',
    maxReturnedRecords: 3,
    selectedColumns: ['CUNO', 'CUNM'],
    transactions: [
      { transaction: 'LstByNumber', record: {} },
      { transaction: 'LstByNumber', record: { CUNO: '10005' }, maxReturnedRecords: 1, selectedColumns: ['CUNO'] },
    ],
  })
  t.same(few.json.results[0].records.map((r: Record<string, string>) => Object.keys(r)), [['CUNO', 'CUNM'], ['CUNO', 'CUNM'], ['CUNO', 'CUNM']])
  t.same(few.json.results[1].records, [{ CUNO: '10005' }], 'a transaction\'s own options win')
})

t.test('bulk: excludeEmptyValues, rightTrim, cono and divi', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const add = await bulk(e, token, { program: 'MMS200MI', transactions: [{ transaction: 'AddItmBasic', record: { ITNO: 'Z7', ITDS: 'Sparse' } }] })
  t.equal(add.json.nrOfSuccessfullTransactions, 1)
  const sparse = await bulk(e, token, { program: 'MMS200MI', excludeEmptyValues: true, transactions: [{ transaction: 'GetItmBasic', record: { ITNO: 'Z7' } }] })
  t.notOk('ITTY' in sparse.json.results[0].records[0], 'empty ITTY left out')
  const padded = await bulk(e, token, { program: 'MMS200MI', rightTrim: false, transactions: [{ transaction: 'GetItmBasic', record: { ITNO: 'A100' } }] })
  t.equal(padded.json.results[0].records[0].ITDS, 'Bolt M8'.padEnd(30))
  const trimmed = await bulk(e, token, { program: 'MMS200MI', transactions: [{ transaction: 'GetItmBasic', record: { ITNO: 'A100' } }] })
  t.equal(trimmed.json.results[0].records[0].ITDS, 'Bolt M8', 'trimmed by default')
  const c200 = await bulk(e, token, { program: 'MMS200MI', cono: 200, divi: 'CCC', transactions: [{ transaction: 'GetItmBasic', record: { ITNO: 'B100' } }] })
  t.equal(c200.json.results[0].records[0].ITDS, 'Pallet EUR')
  const denied = await bulk(e, token, { program: 'MMS200MI', cono: '999', transactions: [{ transaction: 'GetItmBasic', record: { ITNO: 'A100' } }, { transaction: 'LstItmByItm' }] })
  t.equal(denied.status, 200)
  t.equal(denied.json.nrOfFailedTransactions, 2)
  t.equal(denied.json.results[1].errorCode, 'XAU0008')
})

t.test('bulk: JSON null is an empty value, not the text "null"; numbers are their text', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await bulk(e, token, {
    program: 'CRS610MI',
    transactions: [
      { transaction: 'Add', record: { CUNO: 20002, CUNM: 'Null Ltd', CSCD: null, CRL2: 5000 } },
      { transaction: 'GetBasicData', record: { CUNO: '20002' } },
    ],
  })
  t.equal(res.json.nrOfSuccessfullTransactions, 2, JSON.stringify(res.json.results[0]))
  t.match(res.json.results[1].records[0], { CUNO: '20002', CSCD: '', CRL2: '5000' })
  const bad = await bulk(e, token, { program: 'CRS610MI', transactions: [{ transaction: 'Add', record: { CUNO: { nested: 1 } } }] })
  t.equal(bad.status, 400)
  t.match(bad.json.error.message, /record\.CUNO/)
})

t.test('bulk: POST …/v2/execute/{PROGRAM} takes the program from the path', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await bulk(e, token, { transactions: [{ transaction: 'LstByNumber', record: {} }], maxReturnedRecords: 0 }, `${V2}/CRS610MI`)
  t.equal(res.status, 200, res.text)
  t.same(res.json.results[0].records.map((r: { CUNO: string }) => r.CUNO), CUSTOMER_NUMBERS)
  const slash = await bulk(e, token, { program: 'CRS610MI', transactions: [{ transaction: 'GetBasicData', record: { CUNO: '10001' } }] }, `${V2}/`)
  t.equal(slash.json.nrOfSuccessfullTransactions, 1, 'a trailing / on execute/ too')
  t.equal((await bulk(e, token, { transactions: [] })).status, 400, 'no program anywhere')
  t.equal((await call(e, `${V2}/CRS610MI`, token)).status, 405)
})
