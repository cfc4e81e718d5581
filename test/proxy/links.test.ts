import t from 'tap'
import { Readable } from 'node:stream'
import { text } from 'node:stream/consumers'
import { isGatewayError } from '../../src/errors.ts'
import {
  createReplaceStream, gatewayLinkReplacements, gatewayLocation, isJsonMediaType, locationBases, replaceAll, requestBaseUrl,
} from '../../src/proxy/links.ts'

const ION = 'https://mingle-ionapi.example.com/ACME_TST'
const GW = 'https://gw.example.com:8443'
const replacements = gatewayLinkReplacements(ION, GW)

const page = JSON.stringify({
  '@odata.context': `${ION}/LN/lnapi/odata/tdapi.slsSalesOrder/$metadata#Orders`,
  value: [
    { '@odata.id': `${ION}/LN/lnapi/odata/tdapi.slsSalesOrder/Orders('SO1')`, '@odata.editLink': `${ION}/LN/lnapi/odata/tdapi.slsSalesOrder/Orders('SO1')`, doc: `${ION}/IDM/api/items/1` },
    { note: `${ION}/LNX/not-a-link`, other: 'https://elsewhere.example.com/ACME_TST/LN/x', m3: `${ION}/M3/m3api-rest/v2/execute/X/Y` },
  ],
  '@odata.nextLink': `${ION}/LN/lnapi/odata/tdapi.slsSalesOrder/Orders?$skip=10`,
  '@odata.deltaLink': `${ION}/LN/lnapi/odata/tdapi.slsSalesOrder/Orders?$deltatoken=1`,
}) + ` "escaped": "${`${ION}/LN/lnapi/odata/x`.replace(/\//g, '\\/')}"`

const expected = JSON.stringify({
  '@odata.context': `${GW}/ln/lnapi/odata/tdapi.slsSalesOrder/$metadata#Orders`,
  value: [
    { '@odata.id': `${GW}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders('SO1')`, '@odata.editLink': `${GW}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders('SO1')`, doc: `${GW}/idm/api/items/1` },
    { note: `${ION}/LNX/not-a-link`, other: 'https://elsewhere.example.com/ACME_TST/LN/x', m3: `${GW}/m3/m3api-rest/v2/execute/X/Y` },
  ],
  '@odata.nextLink': `${GW}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$skip=10`,
  '@odata.deltaLink': `${GW}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$deltatoken=1`,
}) + ` "escaped": "${`${GW}/ln/lnapi/odata/x`.replace(/\//g, '\\/')}"`

t.test('every link to {iu}/{ti}/{SYSTEM}/ is rewritten to the gateway, plain and JSON-escaped; nothing else', async t => {
  t.equal(replaceAll(Buffer.from(page), replacements).toString(), expected)
  const untouched = Buffer.from('{"a":"no links here"}')
  t.equal(replaceAll(untouched, replacements), untouched, 'the same Buffer when nothing matched')
  t.equal(replaceAll(Buffer.from(`${ION}/LN/`), replacements).toString(), `${GW}/ln/`, 'a link at the very end')
})

t.test('streamed: a link split at any byte across two chunks, or spread one byte a chunk, is still rewritten', async t => {
  const bytes = Buffer.from(page)
  let wrong = 0
  for (let cut = 0; cut <= bytes.length; cut++) {
    const out = await text(Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]).pipe(createReplaceStream(replacements)))
    if (out !== expected) wrong++
  }
  t.equal(wrong, 0, `every one of ${bytes.length + 1} split points gives the buffered result (${wrong} did not)`)
  const single = [...bytes].map(b => Buffer.from([b]))
  t.equal(await text(Readable.from(single).pipe(createReplaceStream(replacements))), expected, 'one byte a chunk')
  const three = [bytes.subarray(0, 7), bytes.subarray(7, 90), bytes.subarray(90, 91), bytes.subarray(91)]
  t.equal(await text(Readable.from(three).pipe(createReplaceStream(replacements))), expected, 'uneven chunks')
  t.equal(await text(Readable.from([Buffer.from('{}')]).pipe(createReplaceStream(replacements))), '{}', 'a short body is flushed whole')
})

t.test('JSON media types only', async t => {
  for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;odata.metadata=minimal', 'application/problem+json']) {
    t.ok(isJsonMediaType(type), type)
  }
  for (const type of [undefined, 'text/plain', 'application/xml', 'application/octet-stream', 'text/json+html']) {
    t.notOk(isJsonMediaType(type), String(type))
  }
})

t.test('the request\'s base URL: hostname[:port] only, http or https', async t => {
  t.equal(requestBaseUrl('http', 'GW.example.com:8080'), 'http://gw.example.com:8080')
  t.equal(requestBaseUrl('https', '[::1]:3000'), 'https://[::1]:3000')
  t.equal(requestBaseUrl('http', '10.0.0.7'), 'http://10.0.0.7')
  for (const host of ['', 'evil.com/x', 'evil.com?x', 'u@evil.com', 'evil.com:80:80', 'a"b', 'a b', 'evil.com#', 'evil.com\\x', '-a.com:99999999']) {
    try {
      requestBaseUrl('http', host)
      t.fail(`${JSON.stringify(host)} accepted`)
    } catch (err) {
      t.ok(isGatewayError(err) && err.code === 'API_003' && err.statusCode === 400, `${JSON.stringify(host)} refused with API_003`)
    }
  }
  t.throws(() => requestBaseUrl('javascript', 'gw.example.com'), { code: 'API_003' })
})

t.test('Location into any ION system maps to that system\'s route', async t => {
  const bases = locationBases(ION)
  t.equal(gatewayLocation(`${ION}/IDM/api/items/1`, bases), '/idm/api/items/1')
  t.equal(gatewayLocation('/ACME_TST/M3/m3api-rest/x?y=1', bases), '/m3/m3api-rest/x?y=1')
  t.equal(gatewayLocation(`${ION}/LN`, bases), '/ln')
  t.equal(gatewayLocation(`${ION}/LNX/a`, bases), `${ION}/LNX/a`)
  t.equal(gatewayLocation('https://elsewhere.example.com/ACME_TST/LN/a', bases), 'https://elsewhere.example.com/ACME_TST/LN/a')
})
