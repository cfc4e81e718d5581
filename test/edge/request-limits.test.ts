import t from 'tap'
import type { RequestLimits } from '../../src/config.ts'
import { checkRequestHead, connectionsCheckingInterval, hasBody, httpServerOptions, maxHeadersCount, type RequestHead } from '../../src/edge/request-limits.ts'
import { testConfig } from '../helpers/config.ts'

const limits: RequestLimits = testConfig().requestLimits

function head (overrides: Partial<RequestHead> = {}, extraHeaders: Record<string, string> = {}): RequestHead {
  const headers: Record<string, string> = { host: 'gateway', ...extraHeaders }
  return {
    url: '/m3/x',
    httpVersion: '1.1',
    rawHeaders: Object.entries(headers).flat(),
    headers,
    ...overrides,
  }
}

function headers (count: number, valueBytes = 1): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < count; i++) out[`x-${i}`] = 'v'.repeat(valueBytes)
  return out
}

t.test('a plain request passes', async t => {
  t.equal(checkRequestHead(head(), limits), undefined)
})

t.test('header count: the limit passes, one more is API_008 (431)', async t => {
  t.equal(checkRequestHead(head({}, headers(limits.maxRequestHeaders - 1)), limits), undefined, 'host + 99 = 100')
  const err = checkRequestHead(head({}, headers(limits.maxRequestHeaders)), limits)
  t.equal(err?.code, 'API_008')
  t.equal(err?.statusCode, 431)
  t.match(err?.message, /more than 100 headers/)
})

t.test('header bytes: names and values in total', async t => {
  // 'host' + 'gateway' = 11 bytes, 'x-0' = 3 bytes: the value fills the rest exactly.
  const exact = { 'x-0': 'v'.repeat(limits.maxHeaderBytes - 11 - 3) }
  t.equal(checkRequestHead(head({}, exact), limits), undefined, 'exactly MAX_HEADER_BYTES')
  const over = checkRequestHead(head({}, { 'x-0': 'v'.repeat(limits.maxHeaderBytes - 11 - 3 + 1) }), limits)
  t.equal(over?.code, 'API_008')
  t.equal(over?.statusCode, 431)
  t.match(over?.message, /16385 bytes; at most 16384/)
})

t.test('URL: MAX_URL_BYTES passes, one more is API_003 (414)', async t => {
  t.equal(checkRequestHead(head({ url: '/' + 'a'.repeat(limits.maxUrlBytes - 1) }), limits), undefined)
  const err = checkRequestHead(head({ url: '/' + 'a'.repeat(limits.maxUrlBytes) }), limits)
  t.equal(err?.code, 'API_003')
  t.equal(err?.statusCode, 414)
  t.equal(err?.statusCode, 414)
})

t.test('a declared body over MAX_UPLOAD_BYTES is API_006 (413); chunked bodies are counted while streamed', async t => {
  t.equal(checkRequestHead(head({}, { 'content-length': String(limits.maxUploadBytes) }), limits), undefined)
  const err = checkRequestHead(head({}, { 'content-length': String(limits.maxUploadBytes + 1) }), limits)
  t.equal(err?.code, 'API_006')
  t.equal(err?.statusCode, 413)
  t.equal(checkRequestHead(head({}, { 'transfer-encoding': 'chunked' }), limits), undefined)
})

t.test('HTTP/1.1 needs a Host header (API_003); HTTP/1.0 does not', async t => {
  const noHost: RequestHead = { url: '/', httpVersion: '1.1', rawHeaders: [], headers: {} }
  t.equal(checkRequestHead(noHost, limits)?.code, 'API_003')
  t.equal(checkRequestHead({ ...noHost, httpVersion: '1.0' }, limits), undefined)
})

t.test('Node server options follow the limits', async t => {
  const options = httpServerOptions(limits)
  t.equal(options.maxHeaderSize, 8192 + 16384, 'the parser bound leaves room for both limits')
  t.equal(options.headersTimeout, 10000)
  t.equal(options.requestTimeout, 30000)
  t.equal(options.requireHostHeader, false)
  t.equal(maxHeadersCount(limits), 101, 'one above the limit, so a request over it is seen')
  t.equal(connectionsCheckingInterval(limits), 1000, 'at least once a second')
  t.equal(connectionsCheckingInterval({ ...limits, headersTimeoutMs: 300, requestBodyTimeoutMs: 600 }), 30, 'a tenth of the shortest timeout')
  t.equal(connectionsCheckingInterval({ ...limits, headersTimeoutMs: 1, requestBodyTimeoutMs: 1 }), 10, 'never busier than every 10 ms')
})

t.test('hasBody: Content-Length above 0 or Transfer-Encoding', async t => {
  t.equal(hasBody({}), false)
  t.equal(hasBody({ 'content-length': '0' }), false)
  t.equal(hasBody({ 'content-length': '5' }), true)
  t.equal(hasBody({ 'transfer-encoding': 'chunked' }), true)
})
