import t, { type Test } from 'tap'
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadApiKeysFile } from '../src/edge/api-keys.ts'
import { buildIsCurrent, root } from './helpers/build.ts'

// Each run of the CLI is a node process (with tsx: a slow one), and one test compiles: more than tap's default.
t.setTimeout(300_000)

interface Run { status: number | null, stdout: string, stderr: string }
type Cli = (...args: string[]) => Run

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function cli (command: string[]): Cli {
  return (...args) => {
    const run = spawnSync(process.execPath, [...command, ...args], { cwd: root, encoding: 'utf8' })
    return { status: run.status, stdout: run.stdout, stderr: run.stderr }
  }
}

/** The same run, not blocking the test process: independent runs go side by side. */
function cliAsync (command: string[]): (...args: string[]) => Promise<Run> {
  return (...args) => new Promise(resolve => {
    execFile(process.execPath, [...command, ...args], { cwd: root, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr })
    })
  })
}

const printedKey = (out: string) => /\n {2}(igw_\S+)\n/.exec(out)?.[1]

/** add, list and revoke through the command line, on a file the CLI creates. */
async function manageClients (t: Test, keys: Cli): Promise<void> {
  const file = join(tempDir(t), 'api-keys.json')
  const portal = keys('add', 'erp-portal', '--file', file)
  t.equal(portal.status, 0, 'add', { stderr: portal.stderr })
  const ops = keys('add', 'ops-team', '--admin', '--file', file)
  t.equal(ops.status, 0, 'add --admin', { stderr: ops.stderr })
  const portalKey = printedKey(portal.stdout)
  const opsKey = printedKey(ops.stdout)
  t.ok(portalKey && opsKey, `a key is printed (saw ${JSON.stringify(portal.stdout)})`)
  t.equal(statSync(file).mode & 0o777, 0o600, `the file is mode 600 (saw ${(statSync(file).mode & 0o777).toString(8)})`)
  const text = readFileSync(file, 'utf8')
  t.notOk(text.includes(String(portalKey)) || text.includes(String(opsKey)), 'the file holds no key')
  t.same(loadApiKeysFile(file).identify(portalKey), { id: 'erp-portal', admin: false }, 'the file registers the printed key')
  t.same(loadApiKeysFile(file).identify(opsKey), { id: 'ops-team', admin: true })

  const again = keys('add', 'erp-portal', '--file', file)
  t.same([again.status, /already in the file/.test(again.stderr)], [1, true], `a taken id is refused (saw ${again.status}: ${again.stderr})`)
  t.equal(readFileSync(file, 'utf8'), text, 'a refused add leaves the file alone')

  const revoke = keys('revoke', 'erp-portal', '--file', file)
  t.equal(revoke.status, 0, 'revoke', { stderr: revoke.stderr })
  t.equal(loadApiKeysFile(file).identify(portalKey), undefined, 'the revoked key is refused')
  t.equal(keys('revoke', 'nobody', '--file', file).status, 1, 'revoking an unknown id fails')

  const list = keys('list', '--file', file)
  t.equal(list.status, 0)
  t.match(list.stdout, /erp-portal +no +yes/, 'list: erp-portal revoked')
  t.match(list.stdout, /ops-team +yes +no/, 'list: ops-team admin')
  const hashes = JSON.parse(text) as Array<{ keySha256: string }>
  t.notOk(hashes.some(h => list.stdout.includes(h.keySha256)), 'list shows no whole hash')
}

/** Wrong command lines get the usage and exit 2; a broken file is reported and left as it is. */
async function refuseBadInput (t: Test, keys: (...args: string[]) => Promise<Run>): Promise<void> {
  const file = join(tempDir(t), 'api-keys.json')
  const bads = [[], ['add', 'x'], ['add', '--file', file], ['list', 'x', '--file', file], ['revoke', 'x', '--admin', '--file', file], ['rotate', 'x', '--file', file], ['add', 'x', '--file', file, '--bogus']]
  const runs = await Promise.all(bads.map(bad => keys(...bad)))
  bads.forEach((bad, i) => {
    const run = runs[i] as Run
    t.same([run.status, /usage: keys add/.test(run.stderr)], [2, true], `usage error for ${bad.join(' ') || '(nothing)'} (saw ${run.status})`)
  })
  writeFileSync(file, '[{')
  const broken = await keys('add', 'x', '--file', file)
  t.same([broken.status, /not valid JSON/.test(broken.stderr), readFileSync(file, 'utf8')], [1, true, '[{'], 'a broken file is reported and left alone')
}

// Every behaviour is checked on the built CLI below (the same source, a fast process); through tsx, as `npm run keys`
// runs it, an add and a list show the sources load and work (each tsx start costs seconds on a busy machine).
t.test('npm run keys (tsx on the sources) adds a client and lists it', async t => {
  const keys = cli(['--import', 'tsx', 'src/keys-cli.ts'])
  const file = join(tempDir(t), 'api-keys.json')
  const added = keys('add', 'erp-portal', '--file', file)
  t.equal(added.status, 0, 'add', { stderr: added.stderr })
  const key = printedKey(added.stdout)
  t.same(loadApiKeysFile(file).identify(key), { id: 'erp-portal', admin: false }, 'the file registers the printed key')
  const list = keys('list', '--file', file)
  t.match(list.stdout, /erp-portal +no +no/, 'list')
})

t.test('node dist/src/keys-cli.js works from a build made with tsconfig.build.json (as in the image)', async t => {
  // The suite's build when it is current (npm test builds first); else a private build of the CLI and what it
  // imports, so this test never races another one writing dist/.
  if (buildIsCurrent('src/keys-cli.js')) {
    await manageClients(t, cli([join(root, 'dist/src/keys-cli.js')]))
    await refuseBadInput(t, cliAsync([join(root, 'dist/src/keys-cli.js')]))
    return
  }
  const out = tempDir(t)
  // As in the image: package.json (ESM) and node_modules beside dist/.
  writeFileSync(join(out, 'package.json'), readFileSync(join(root, 'package.json')))
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'))
  writeFileSync(join(out, 'tsconfig.json'), JSON.stringify({
    extends: join(root, 'tsconfig.build.json'),
    compilerOptions: { outDir: join(out, 'dist'), rootDir: root, sourceMap: false },
    include: [],
    files: [join(root, 'src/keys-cli.ts')],
  }))
  const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(out, 'tsconfig.json')], { encoding: 'utf8' })
  t.equal(build.status, 0, 'tsc', { stdout: build.stdout, stderr: build.stderr })
  await manageClients(t, cli([join(out, 'dist/src/keys-cli.js')]))
  await refuseBadInput(t, cliAsync([join(out, 'dist/src/keys-cli.js')]))
})
