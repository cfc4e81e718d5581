import t from 'tap'
import { isM3Read, m3Failure, m3Records, parseM3Call } from '../../src/ion/m3.ts'

const reads = /^(Get|Lst|Sel|Search)/

t.test('parses program and transaction, matrix parameters dropped', async t => {
  t.same(parseM3Call('/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3;returncols=CUNO'), { version: 2, program: 'CRS610MI', transaction: 'LstByNumber' })
  t.same(parseM3Call('/m3api-rest/execute/MMS200MI/GetItmBasic'), { version: 1, program: 'MMS200MI', transaction: 'GetItmBasic' })
  t.equal(parseM3Call('/m3api-rest/v2/execute'), null, 'bulk')
  t.equal(parseM3Call('/m3api-rest/execute/MMS200MI/GetItmBasic/extra'), null)
  t.equal(parseM3Call('/m3api-rest/csrf'), undefined)
})

t.test('M3 writes over GET are not reads', async t => {
  t.ok(isM3Read('GET', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic', reads))
  t.ok(isM3Read('HEAD', '/m3api-rest/execute/CRS610MI/LstByNumber;maxrecs=3', reads))
  t.notOk(isM3Read('GET', '/m3api-rest/v2/execute/CRS610MI/ChgBasicData', reads))
  t.notOk(isM3Read('GET', '/m3api-rest/execute/MMS200MI/AddItmBasic', reads))
  t.notOk(isM3Read('GET', '/m3api-rest/execute/MMS200MI/Get;x=1/Dlt', reads), 'unparsable execute path counts as a write')
  t.notOk(isM3Read('POST', '/m3api-rest/v2/execute', reads))
  t.ok(isM3Read('GET', '/m3api-rest/metadata', reads), 'non-MI GETs are reads')
})

t.test('finds M3 failures in v1 and v2 answers', async t => {
  t.same(m3Failure({ '@type': 'ServerReturnedNOK', '@code': 'WCU0203', '@field': 'CUNO', '@cfg': null, Message: 'Customer number ACME does not exist' }),
    { code: 'WCU0203', field: 'CUNO', message: 'Customer number ACME does not exist' })
  t.same(m3Failure({ results: [{ transaction: 'GetBasicData', errorMessage: 'nope', errorCode: 'WCU0203', errorField: 'CUNO', errorType: 'ServerReturnedNOK', records: [] }], nrOfFailedTransactions: 1 }),
    { code: 'WCU0203', field: 'CUNO', message: 'nope' })
  t.ok(m3Failure({ MIRecord: [], ErrorMessage: 'partial failure' }))
  t.equal(m3Failure({ results: [{ transaction: 'GetItmBasic', records: [{ ITNO: 'A' }] }], nrOfSuccessfullTransactions: 1, nrOfFailedTransactions: 0 }), undefined)
  t.equal(m3Failure({ Program: 'CRS610MI', MIRecord: [] }), undefined)
})

t.test('flattens records with trailing blanks trimmed', async t => {
  t.same(m3Records({ MIRecord: [{ RowIndex: 0, NameValue: [{ Name: 'CUNO', Value: '10001     ' }, { Name: 'CUNM', Value: ' Acme  ' }] }] }),
    [{ CUNO: '10001', CUNM: ' Acme' }])
  t.same(m3Records({ results: [{ transaction: 'GetItmBasic', records: [{ ITNO: 'A100  ', STAT: '20' }] }] }), [{ ITNO: 'A100', STAT: '20' }])
})
