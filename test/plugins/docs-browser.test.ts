import t from 'tap'
import { existsSync } from 'node:fs'
import { createServer, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Test } from 'tap'
import { startGateway } from '../helpers/gateway.ts'

const CHROMIUM = '/usr/bin/chromium'

// One Chromium for the file (starting one is the slowest step); each test gets its own context (cookies, cache).
let browser: Promise<Browser> | undefined
function sharedBrowser (): Promise<Browser> {
  browser ??= chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  })
  return browser
}
t.teardown(async () => { await (await browser)?.close() })

async function newPage (t: Test): Promise<Page> {
  const context = await (await sharedBrowser()).newContext()
  t.teardown(() => context.close())
  return await context.newPage()
}

t.test('a real browser renders /docs and sees the typed M3 operation, with no CSP violation', { skip: existsSync(CHROMIUM) ? false : 'Debian chromium is not installed (.ci/run installs it)' }, async t => {
  const gw = await startGateway(t)
  const page = await newPage(t)
  const problems: string[] = []
  page.on('console', msg => { if (msg.type() === 'error') problems.push(msg.text()) })
  page.on('pageerror', err => problems.push(err.message))
  await page.goto(`${gw.url}/docs`, { waitUntil: 'networkidle' })
  const operation = page.locator('.opblock-summary-path', { hasText: '/m3/mi/{program}/{transaction}' })
  await operation.first().waitFor({ timeout: 15000 })
  t.ok(await operation.count() >= 1, 'the typed M3 route is listed')
  t.ok(await page.locator('.opblock-summary-path', { hasText: '/health' }).count() >= 1, 'the probes are listed')
  t.same(problems.filter(p => /Content Security Policy|Refused to/i.test(p)), [], 'no CSP violation')
})

async function tryItOut (page: Page, operationId: string, fill: Record<string, string>): Promise<string> {
  const block = page.locator(`#operations-m3-${operationId}`)
  await block.locator('.opblock-summary').first().click()
  await block.locator('.try-out__btn').click()
  for (const [name, value] of Object.entries(fill)) {
    await block.locator(`tr[data-param-name="${name}"]`).locator('input, textarea').first().fill(value)
  }
  await block.locator('.execute').click()
  const status = block.locator('.live-responses-table .response .response-col_status').first()
  await status.waitFor({ timeout: 15000 })
  return (await status.innerText()).trim()
}

t.test('Swagger UI "Try it out" answers 200 on the typed route with ITNO and on a pass-through template', { skip: existsSync(CHROMIUM) ? false : 'Debian chromium is not installed (.ci/run installs it)' }, async t => {
  const gw = await startGateway(t)
  const page = await newPage(t)
  const sent: string[] = []
  page.on('request', r => { if (!r.url().includes('/docs')) sent.push(r.url()) })
  await page.goto(`${gw.url}/docs`, { waitUntil: 'networkidle' })
  const typed = await tryItOut(page, 'm3MiCall', { program: 'MMS200MI', transaction: 'GetItmBasic', fields: '{"ITNO":"A100"}' })
  t.equal(typed, '200', `typed route from Swagger UI; requests sent: ${sent.join(' ')}`)
  t.ok(sent.some(u => /\/m3\/mi\/MMS200MI\/GetItmBasic\?(.*&)?ITNO=A100(&|$)/.test(u)), `ITNO sent as its own query parameter: ${sent.join(' ')}`)
  const template = await tryItOut(page, 'm3ExecuteV2', { program: 'MMS200MI', transaction: 'GetItmBasic', fields: '{"ITNO":"A100"}' })
  t.equal(template, '200', `pass-through template from Swagger UI; requests sent: ${sent.join(' ')}`)
})

/** A path-prefix ingress: serves the gateway below /gw, strips the prefix and announces it in X-Forwarded-Prefix. */
async function prefixIngress (t: Test, target: string): Promise<string> {
  const origin = new URL(target)
  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/gw/')) {
      res.writeHead(404).end('not below the ingress prefix')
      return
    }
    const upstream = httpRequest({
      host: origin.hostname,
      port: origin.port,
      method: req.method,
      path: req.url.slice('/gw'.length),
      headers: { ...req.headers, 'x-forwarded-prefix': '/gw' },
    }, answer => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('behind a path-prefix ingress, "Try it out" calls through the prefix', { skip: existsSync(CHROMIUM) ? false : 'Debian chromium is not installed (.ci/run installs it)' }, async t => {
  const gw = await startGateway(t, { env: { TRUST_PROXY: '127.0.0.1' } })
  const ingress = await prefixIngress(t, gw.url)
  const page = await newPage(t)
  const sent: string[] = []
  page.on('request', r => { if (!r.url().includes('/docs')) sent.push(r.url()) })
  await page.goto(`${ingress}/gw/docs`, { waitUntil: 'networkidle' })
  const status = await tryItOut(page, 'm3MiCall', { program: 'MMS200MI', transaction: 'GetItmBasic', fields: '{"ITNO":"A100"}' })
  t.equal(status, '200', `typed route through the ingress; requests sent: ${sent.join(' ')}`)
  t.ok(sent.every(u => u.startsWith(`${ingress}/gw/`)), `every call went below the prefix: ${sent.join(' ')}`)
})
