import t from 'tap'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { startGateway } from '../helpers/gateway.ts'

const CHROMIUM = '/usr/bin/chromium'

t.test('a real browser renders /docs and sees the typed M3 operation, with no CSP violation', { skip: existsSync(CHROMIUM) ? false : 'Debian chromium is not installed (.ci/run installs it)' }, async t => {
  const gw = await startGateway(t)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
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
