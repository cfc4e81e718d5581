import t from 'tap'
import { isSecretParamName, redactLogLine, redactUrl } from '../../src/edge/redact-url.ts'

t.test('secret names: any case, any separator, percent-encoded (even twice), inside brackets', async t => {
  const secret = ['x-api-key', 'X-Api-Key', 'X_API_KEY', 'api_key', 'apikey', 'api-key', 'access_token', 'accessToken', 'token',
    'TOKEN', 'id_token', 'refresh_token', 'password', 'Passwd', 'pwd', 'client_secret', 'secret', 'key', 'auth', 'Authorization',
    'sig', 'signature', 'session', 'sessionid', 'jwt', '%78-api-key', 'api%5Fkey', '%2578-api-key', 'filter[access_token]',
    'filter%5Btoken%5D', 'x+api+key']
  const plain = ['ITNO', 'CUNO', 'maxrecs', 'returncols', '$filter', '$select', 'page', 'system', 'prefix', 'keyword', 'monkey', 'sign']
  t.same(secret.filter(n => !isSecretParamName(n)), [], 'every secret name is recognised')
  t.same(plain.filter(n => isSecretParamName(n)), [], 'ordinary names are not')
})

t.test('redactUrl replaces secret values only, and keeps everything else as sent', async t => {
  t.equal(redactUrl('/m3/x?ITNO=A100&x-api-key=igw_abc&CONO=100'), '/m3/x?ITNO=A100&x-api-key=[redacted]&CONO=100')
  t.equal(redactUrl('/m3/x?Token=a%26b%3Dc&token='), '/m3/x?Token=[redacted]&token=', 'encoded characters stay in the value; an empty value stays empty')
  t.equal(redactUrl('/m3/x?a=1;password=p;w&b=2'), '/m3/x?a=1;password=[redacted]&b=2', 'after `;` the rest of the value is hidden')
  t.equal(redactUrl('/m3/x?password=p;a=1&b=2'), '/m3/x?password=[redacted]&b=2', 'a `;` never cuts a secret value short')
  t.equal(redactUrl('/m3/x?token=abc"def\\&b=2#frag'), '/m3/x?token=[redacted]&b=2#frag')
  t.equal(redactUrl('/m3/x?x-api-key=1&x-api-key=2'), '/m3/x?x-api-key=[redacted]&x-api-key=[redacted]', 'repeated parameters')
  t.equal(redactUrl('/m3/LstByNumber;maxrecs=3?ITNO=A100'), '/m3/LstByNumber;maxrecs=3?ITNO=A100', 'matrix parameters untouched')
  t.equal(redactUrl('/health'), '/health')
  const same = '/m3/x?ITNO=A100'
  t.equal(redactUrl(same), same)
})

t.test('redactLogLine: URLs inside a JSON line (fields, messages, stacks) lose their secret values; the line stays JSON', async t => {
  const record = {
    msg: 'Reply was already sent, did you forget to "return reply" in the "/m3/x?ITNO=A1&access_token=t0k" (GET) route?',
    url: '/m3/x;token=m4trix?a=1&password=p"w\\d&b=2',
    err: { message: 'bad /x?apikey=k3y&c=3', stack: 'Error: bad /x?apikey=k3y&c=3\n    at f (file.ts:1:1)' },
    other: 'x=1&token=no-separator-before-x',
  }
  const line = redactLogLine(JSON.stringify(record) + '\n')
  const parsed = JSON.parse(line) as typeof record
  // In a JSON line an escaped quote may belong to the value: it is hidden with it (more hidden, never less).
  t.equal(parsed.msg, 'Reply was already sent, did you forget to "return reply" in the "/m3/x?ITNO=A1&access_token=[redacted] (GET) route?')
  t.equal(parsed.url, '/m3/x;token=[redacted]&password=[redacted]&b=2', 'a value runs to the next `&`, through `?` and escaped quotes')
  t.equal(parsed.err.message, 'bad /x?apikey=[redacted]&c=3')
  t.notOk(line.includes('k3y'), 'not in the stack either')
  t.equal(parsed.other, 'x=1&token=[redacted]')
  const clean = JSON.stringify({ msg: 'request completed', url: '/m3/x?ITNO=A100' })
  t.equal(redactLogLine(clean), clean)
})
