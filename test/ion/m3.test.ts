import t from 'tap'
import { isGatewayError } from '../../src/errors.ts'
import { isM3Read, isStorableM3Answer, m3EndpointLabel, m3Failure, m3Records, m3TypedRecords, parseM3Call, readM3Answer } from '../../src/ion/m3.ts'

const reads = /^(Get|Lst|Sel|Search)/

t.test('parses program and transaction of an MI execute path, matrix parameters set aside on every segment', async t => {
  t.same(parseM3Call('/m3api-rest/v2/execute/CRS610MI/LstByNumber;maxrecs=3;returncols=CUNO'), { version: 2, program: 'CRS610MI', transaction: 'LstByNumber' })
  t.same(parseM3Call('/m3api-rest/execute/MMS200MI/GetItmBasic'), { version: 1, program: 'MMS200MI', transaction: 'GetItmBasic' })
  t.same(parseM3Call('/m3api-rest/v2/execute;v=1/CRS610MI/ChgBasicData'), { version: 2, program: 'CRS610MI', transaction: 'ChgBasicData' })
  t.same(parseM3Call('/m3api-rest;a=1/v2;b=2/execute;c=3/CRS610MI;d=4/LstByNumber;e=5'), { version: 2, program: 'CRS610MI', transaction: 'LstByNumber' })
  t.equal(parseM3Call('/m3api-rest/v2/execute'), undefined, 'bulk')
  t.equal(parseM3Call('/m3api-rest/execute/MMS200MI/GetItmBasic/extra'), undefined, 'extra segment')
  t.equal(parseM3Call('/m3api-rest/execute/MMS200MI/GetItmBasic/'), undefined, 'trailing slash')
  t.equal(parseM3Call('/m3api-rest/csrf'), undefined)
  t.equal(parseM3Call('/x/m3api-rest/v2/execute/MMS200MI/GetItmBasic'), undefined, 'execute found further down is not an MI path')
})

t.test('a read is positively known: GET/HEAD of exactly /m3api-rest[/v2]/execute/PROGRAM/TRANSACTION, plain names, a read transaction', async t => {
  t.ok(isM3Read('GET', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic', reads))
  t.ok(isM3Read('HEAD', '/m3api-rest/execute/CRS610MI/LstByNumber;maxrecs=3', reads))
  t.ok(isM3Read('GET', '/m3api-rest/v2;x=1/execute;y=2/CRS610MI/LstByNumber;maxrecs=3', reads), 'matrix parameters anywhere')
})

t.test('anything else is a write: never cached, never retried', async t => {
  const writes: Array<[string, string, string]> = [
    ['GET', '/m3api-rest/v2/execute/CRS610MI/ChgBasicData', 'a write transaction'],
    ['GET', '/m3api-rest/execute/MMS200MI/AddItmBasic', 'v1 write'],
    ['GET', '/m3api-rest/v2/execute;v=1/CRS610MI/ChgBasicData', 'matrix parameter on execute (M3 ignores it and runs the write)'],
    ['GET', '/m3api-rest;v=2/execute/CRS610MI/ChgBasicData', 'matrix parameter on m3api-rest'],
    ['GET', '/m3api-rest/v2;x/execute/CRS610MI/ChgBasicData', 'matrix parameter on v2'],
    ['GET', '/m3api-rest/execute/MMS200MI/Get;x=1/Dlt', 'extra segment after the transaction'],
    ['GET', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic/x', 'extra segment'],
    ['GET', '/M3API-REST/v2/execute/MMS200MI/GetItmBasic', 'case variant of m3api-rest'],
    ['GET', '/m3api-rest/V2/execute/MMS200MI/GetItmBasic', 'case variant of v2'],
    ['GET', '/m3api-rest/v2/Execute/MMS200MI/GetItmBasic', 'case variant of execute'],
    ['GET', '/m3api-rest/v2/execute/mms200mi/GetItmBasic', 'lower-case program'],
    ['GET', '/m3api-rest/v2/execute/MMS200MI/getItmBasic', 'transaction not matching M3_READ_TRANSACTIONS'],
    ['GET', '/m3api-rest/v2/execute/MMS200MI/Get%49tmBasic', 'encoded character in the transaction'],
    ['GET', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic%3Bx', 'encoded ; in the transaction'],
    ['GET', '/m3api-rest/v2/execute/MMS200MI/Get-Itm', 'not a plain name'],
    ['GET', '/m3api-rest/v2/execute/MMS200MI/;x=1', 'empty transaction'],
    ['GET', '/m3api-rest/v2/v2/execute/MMS200MI/GetItmBasic', 'doubled version'],
    ['GET', '/m3api-rest/v3/execute/MMS200MI/GetItmBasic', 'unknown version'],
    ['GET', '/m3api-rest/metadata', 'an M3 path that is not an MI call'],
    ['GET', '/m3api-rest/v2/execute', 'bulk over GET'],
    ['POST', '/m3api-rest/v2/execute', 'bulk'],
    ['POST', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic', 'unsafe method'],
    ['OPTIONS', '/m3api-rest/v2/execute/MMS200MI/GetItmBasic', 'OPTIONS'],
  ]
  for (const [method, path, why] of writes) t.notOk(isM3Read(method, path, reads), `${method} ${path}: ${why}`)
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

t.test('v1 errors of every @type M3 sends, with or without a code', async t => {
  for (const type of ['ServerReturnedNOK', 'TransactionNotFound', 'MandatoryInputFieldNotFound', 'InputFieldTooLong']) {
    t.same(m3Failure({ '@type': type, '@field': 'ITNO      ', '@cfg': null, Message: 'Something is wrong   ' }),
      { code: undefined, field: 'ITNO', message: 'Something is wrong' }, type)
  }
})

t.test('a v1 partial failure: rows, then an ErrorMessage object', async t => {
  t.same(m3Failure({
    Program: 'CRS610MI',
    MIRecord: [{ RowIndex: 0, NameValue: [{ Name: 'CUNO', Value: '10001' }] }],
    ErrorMessage: { '@type': 'ServerReturnedNOK', '@code': 'XRE0104', '@cfg': '97', '@field': 'RCNT      ', Message: 'Record could not be read          ' },
  }), { code: 'XRE0104', field: 'RCNT', message: 'Record could not be read' })
})

t.test('M3 texts are trimmed and inner runs of blanks collapsed (v1 and v2)', async t => {
  t.equal(m3Failure({ '@type': 'ServerReturnedNOK', Message: '  Item   A100 \t does not   exist      ' })?.message, 'Item A100 does not exist')
  t.same(m3Failure({ results: [{ errorMessage: ' Bad    value  ', errorCode: 'X1  ', errorField: ' F  ' }] }), { code: 'X1', field: 'F', message: 'Bad value' })
  t.equal(m3Failure({ '@type': 'ServerReturnedNOK', Message: '     ' })?.message, 'M3 returned an error', 'a blank message is no message')
})

t.test('an answer is read once: its JSON, its failure, whether it may be stored', async t => {
  const ok = readM3Answer(Buffer.from('{"results":[{"records":[{"ITNO":"A100  "}]}]}'))
  t.ok(isStorableM3Answer(ok))
  t.same(m3TypedRecords(200, undefined, ok), [{ ITNO: 'A100' }])
  const notJson = readM3Answer(Buffer.from('<html>'))
  t.notOk(isStorableM3Answer(notJson), 'a body that is not JSON is not stored')
  t.notOk(isStorableM3Answer(readM3Answer(Buffer.from('{"@type":"TransactionNotFound","Message":"x"}'))))
  const failed = (() => { try { return m3TypedRecords(400, undefined, readM3Answer(Buffer.from('{"results":[{"errorMessage":"nope","errorCode":"C"}]}'))) } catch (err) { return err } })()
  t.ok(isGatewayError(failed) && failed.code === 'API_004' && failed.statusCode === 422, 'an M3 error is API_004')
  const throttled = (() => { try { return m3TypedRecords(429, '7', notJson) } catch (err) { return err } })()
  t.ok(isGatewayError(throttled) && throttled.statusCode === 429 && throttled.retryAfterS === 7, 'throttling is API_001 429 with ION\'s Retry-After')
  const odd = (() => { try { return m3TypedRecords(200, undefined, notJson) } catch (err) { return err } })()
  t.ok(isGatewayError(odd) && odd.code === 'API_001', 'a 200 that is not JSON is API_001')
})

t.test('metric label of an MI call', async t => {
  t.equal(m3EndpointLabel('/m3api-rest/v2/execute/MMS200MI/GetItmBasic;x=1'), 'm3:MMS200MI/GetItmBasic')
  t.equal(m3EndpointLabel('/m3api-rest/v2/execute'), undefined)
})
