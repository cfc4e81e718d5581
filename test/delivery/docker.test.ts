import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { buildApp } from '../../src/app.ts'
import { resolveConfig } from '../../src/config.ts'
import { createEmulator } from '../../emulator/index.ts'
import { DOCKERFILE, DOCKERIGNORE, ROOT, read, readJson, walk } from './paths.ts'

const run = promisify(execFile)

interface Instruction { cmd: string, args: string, line: number }
interface Stage { name: string, from: string, instructions: Instruction[] }

/** Dockerfile instructions: continuation lines joined, comments and parser directives dropped. */
function parseDockerfile (text: string): Instruction[] {
  const out: Instruction[] = []
  let current = ''
  let start = 0
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd()
    if (current === '' && (line.trim() === '' || line.trim().startsWith('#'))) return
    if (current !== '' && line.trim().startsWith('#')) return
    if (current === '') start = i + 1
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' '
      return
    }
    current += line
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(current)!
    out.push({ cmd: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim(), line: start })
    current = ''
  })
  return out
}

function stagesOf (instructions: Instruction[]): Stage[] {
  const stages: Stage[] = []
  for (const ins of instructions) {
    if (ins.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)
      stages.push({ from: m?.[1] ?? '', name: m?.[2] ?? '', instructions: [] })
    } else {
      stages.at(-1)?.instructions.push(ins)
    }
  }
  return stages
}

/** The exec form (a JSON array) of CMD, ENTRYPOINT or HEALTHCHECK … CMD, or undefined for the shell form. */
function execForm (args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  const parsed = JSON.parse(args) as unknown
  return Array.isArray(parsed) && parsed.every(a => typeof a === 'string') ? parsed : undefined
}

/** COPY sources and flags: `COPY --from=builder --chown=x /app/dist ./dist` -> { from, sources: ['/app/dist'] } */
function copyOf (args: string): { from?: string, sources: string[], dest: string } {
  const words = args.split(' ')
  const flags = words.filter(w => w.startsWith('--'))
  const paths = words.filter(w => !w.startsWith('--'))
  const from = flags.find(f => f.startsWith('--from='))?.slice('--from='.length)
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' }
}

const instructions = parseDockerfile(read(DOCKERFILE))
const stages = stagesOf(instructions)
const production = stages.find(s => s.name === 'production')
const prod = production?.instructions ?? []

t.test('stages development, builder and production, in that order, on Node LTS alpine', async t => {
  t.same(stages.map(s => s.name), ['development', 'builder', 'production'])
  const seen: string[] = []
  for (const stage of stages) {
    t.ok(/^node:(22|24)(\.\d+)*-alpine(\d+(\.\d+)*)?(@sha256:[a-f0-9]{64})?$/.test(stage.from) || seen.includes(stage.from),
      `${stage.name} FROM ${stage.from}: a supported LTS on alpine (Node 20 reached end of life in April 2026), or an earlier stage`)
    seen.push(stage.name)
  }
  t.equal(production?.from.startsWith('node:'), true, 'production starts from a clean Node image, not from a build stage')
  const builder = stages.find(s => s.name === 'builder')
  const builds = [...(builder?.instructions ?? []), ...(stages.find(s => s.name === builder?.from)?.instructions ?? [])]
  t.ok(builds.some(i => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args) && !/--omit=dev/.test(i.args)), 'the build installs all dependencies with npm ci (lockfile)')
  t.ok(builder?.instructions.some(i => i.cmd === 'RUN' && /\bnpm run build\b/.test(i.args)), 'builder runs npm run build')
  t.notOk(instructions.some(i => i.cmd === 'RUN' && /\bnpm (install|i)\b/.test(i.args)), 'never npm install (it may rewrite the lockfile)')
})

t.test('production: production dependencies from the lockfile, and only dist/', async t => {
  const installs = prod.filter(i => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args))
  const copiedModules = prod.map(i => i.cmd === 'COPY' ? copyOf(i.args) : undefined).find(c => c?.sources.some(s => /node_modules\/?$/.test(s)))
  if (copiedModules?.from) {
    const source = stages.find(s => s.name === copiedModules.from)
    t.ok(source?.instructions.some(i => i.cmd === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args)), `node_modules copied from ${copiedModules.from}, which ran npm ci --omit=dev`)
  } else {
    t.equal(installs.length, 1, 'one npm ci')
    t.match(installs[0]?.args ?? '', /--omit=dev/, 'npm ci --omit=dev')
  }
  const copies = prod.filter(i => i.cmd === 'COPY' || i.cmd === 'ADD')
  t.notOk(prod.some(i => i.cmd === 'ADD'), 'COPY, not ADD')
  for (const ins of copies) {
    const { from, sources } = copyOf(ins.args)
    for (const source of sources) {
      const allowed = from
        ? /(^|\/)(dist|node_modules)\/?$/.test(source)
        : ['package.json', 'package-lock.json'].includes(source)
      t.ok(allowed, `line ${ins.line}: COPY ${from ? `--from=${from} ` : ''}${source} (only dist/, package files, node_modules)`)
    }
  }
  t.ok(copies.some(c => { const p = copyOf(c.args); return p.from === 'builder' && p.sources.some(s => /(^|\/)dist\/?$/.test(s)) }), 'dist/ comes from builder')
  t.ok(prod.some(i => i.cmd === 'ENV' && /\bNODE_ENV[= ]production\b/.test(i.args)), 'ENV NODE_ENV=production')
  t.ok(prod.some(i => i.cmd === 'EXPOSE' && /\b3000\b/.test(i.args)), 'EXPOSE 3000')
})

t.test('the compiled code imports production dependencies only', async t => {
  const pkg = readJson<{ dependencies: Record<string, string>, type: string }>(join(ROOT, 'package.json'))
  const build = readJson<{ include: string[], exclude?: string[] }>(join(ROOT, 'tsconfig.build.json'))
  const excluded = new Set(build.exclude ?? [])
  const files = build.include.flatMap(dir => walk(join(ROOT, dir))).filter(f => f.endsWith('.ts') && !f.endsWith('.d.ts') && !excluded.has(f))
  t.ok(files.length > 20, `${files.length} files compiled`)
  const missing = new Set<string>()
  // Optional at run time: imported only at a terminal, JSON logs when absent (src/log-format.ts, test/dev-loop.test.ts).
  const optional = new Map([['pino-pretty', 'src/log-format.ts']])
  for (const file of files) {
    const src = read(join(ROOT, file))
    const specifiers = [
      ...[...src.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?'([^']+)'/gm)].filter(m => !m[1]).map(m => m[2]!),
      ...[...src.matchAll(/\bimport\('([^']+)'\)/g)].map(m => m[1]!),
    ]
    for (const spec of specifiers) {
      if (spec.startsWith('.') || spec.startsWith('node:')) continue
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!
      if (!(name in pkg.dependencies) && optional.get(name) !== file) missing.add(`${file}: ${spec}`)
    }
  }
  t.same([...missing], [], 'npm ci --omit=dev installs everything dist/ needs')
  t.equal(pkg.type, 'module', 'ESM: the image needs package.json beside dist/')
  t.ok(prod.some(i => i.cmd === 'COPY' && copyOf(i.args).sources.includes('package.json')), 'production copies package.json')
})

t.test('production dependencies need no install script (npm ci --ignore-scripts is safe)', async t => {
  const lock = readJson<{ packages: Record<string, { dev?: boolean, devOptional?: boolean, hasInstallScript?: boolean }> }>(join(ROOT, 'package-lock.json'))
  const withScripts = Object.entries(lock.packages).filter(([name, p]) => name && p.hasInstallScript && !p.dev).map(([name]) => name)
  t.same(withScripts, [], 'no production package runs an install script')
})

t.test('production runs as nodejs (uid/gid 1001), after every RUN', async t => {
  const runs = prod.filter(i => i.cmd === 'RUN').map(i => i.args).join('\n')
  t.match(runs, /addgroup\b[^\n]*-g 1001\b[^\n]*\bnodejs\b/, 'group nodejs gid 1001')
  t.match(runs, /adduser\b[^\n]*-u 1001\b[^\n]*-G nodejs\b[^\n]*\bnodejs\b/, 'user nodejs uid 1001 in group nodejs')
  const users = prod.filter(i => i.cmd === 'USER')
  t.ok(users.length > 0 && /^(nodejs|1001)(:(nodejs|1001))?$/.test(users.at(-1)!.args), `USER ${users.at(-1)?.args}`)
  const lastUser = prod.lastIndexOf(users.at(-1)!)
  t.notOk(prod.slice(lastUser).some(i => i.cmd === 'RUN'), 'nothing runs as root after USER')
  t.ok(lastUser < prod.findIndex(i => i.cmd === 'CMD'), 'USER before CMD')
})

t.test('CMD starts node itself in exec form (signals reach it), on the file npm run build produces', async t => {
  const cmds = prod.filter(i => i.cmd === 'CMD')
  t.equal(cmds.length, 1)
  const cmd = execForm(cmds[0]?.args ?? '')
  t.ok(cmd, 'exec form')
  t.equal(cmd?.[0], 'node')
  t.equal(cmd?.[1], 'dist/src/server.js')
  const entrypoint = prod.find(i => i.cmd === 'ENTRYPOINT')
  if (entrypoint) {
    const ep = execForm(entrypoint.args)
    t.ok(ep && /(^|\/)(tini|dumb-init)$/.test(ep[0] ?? ''), 'an ENTRYPOINT, if any, is an init in exec form')
  }
  t.notOk(prod.some(i => (i.cmd === 'CMD' || i.cmd === 'ENTRYPOINT') && /\bnpm\b|\bnpx\b/.test(i.args)), 'no npm wrapper')

  // dist/src/server.js is where tsconfig.build.json puts src/server.ts.
  const pkg = readJson<{ main: string, scripts: Record<string, string> }>(join(ROOT, 'package.json'))
  const base = readJson<{ compilerOptions: { rootDir: string, outDir: string } }>(join(ROOT, 'tsconfig.json'))
  const build = readJson<{ extends: string, include: string[], compilerOptions?: { rootDir?: string, outDir?: string } }>(join(ROOT, 'tsconfig.build.json'))
  t.equal(build.compilerOptions?.rootDir ?? base.compilerOptions.rootDir, '.')
  t.equal(build.compilerOptions?.outDir ?? base.compilerOptions.outDir, 'dist')
  t.ok(build.include.includes('src') && build.include.includes('plugins'), 'src/ and plugins/ are compiled')
  t.match(pkg.scripts.build, /tsc -p tsconfig\.build\.json/)
  t.ok(existsSync(join(ROOT, 'src', 'server.ts')), 'src/server.ts exists')
  t.equal(pkg.main, 'dist/src/server.js')
  t.equal(pkg.scripts.start, 'exec node dist/src/server.js', 'npm start: exec, so the signal npm forwards reaches node, not sh')
})

t.test('HEALTHCHECK asks /health with node, and its command works against the real gateway', async t => {
  const checks = prod.filter(i => i.cmd === 'HEALTHCHECK')
  t.equal(checks.length, 1)
  const m = /^(?:--\S+\s+)*CMD\s+(.*)$/.exec(checks[0]?.args ?? '')
  const command = execForm(m?.[1] ?? '')
  t.ok(command, 'HEALTHCHECK CMD in exec form')
  t.equal(command?.[0], 'node', 'node itself (alpine has no curl)')
  t.equal(command?.[1], '-e')
  const script = command?.[2] ?? ''
  t.match(script, /\/health/)

  const probe = async (port: number) => {
    try {
      await run(process.execPath, ['-e', script], { env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 10000 })
      return 0
    } catch (err) {
      return (err as { code?: number }).code ?? -1
    }
  }

  const emulator = await createEmulator({ port: 0 })
  t.teardown(() => emulator.close())
  const app = await buildApp(resolveConfig({ LOG_LEVEL: 'silent' }, emulator.ionapi), { logger: false })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.equal(await probe((app.server.address() as AddressInfo).port), 0, 'healthy gateway: exit 0')

  const sick = createServer((_req, res) => { res.statusCode = 503; res.end() })
  await new Promise<void>(resolve => sick.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => sick.close(resolve)))
  t.equal(await probe((sick.address() as AddressInfo).port), 1, 'a 503: exit 1')

  const closed = createServer()
  await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
  const closedPort = (closed.address() as AddressInfo).port
  await new Promise(resolve => closed.close(resolve))
  t.equal(await probe(closedPort), 1, 'nothing listening: exit 1')
})

/** Docker's .dockerignore rules: last match wins, `!` re-includes, a match on a directory covers its content. */
function dockerIgnored (patterns: string[], path: string): boolean {
  const rules = patterns.map(p => {
    const negate = p.startsWith('!')
    const body = (negate ? p.slice(1) : p).replace(/^\/+/, '').replace(/\/+$/, '')
    let re = ''
    for (let i = 0; i < body.length; i++) {
      const c = body[i]!
      if (c === '*' && body[i + 1] === '*') {
        re += body[i + 2] === '/' ? '(?:.*/)?' : '.*'
        i += body[i + 2] === '/' ? 2 : 1
      } else if (c === '*') re += '[^/]*'
      else if (c === '?') re += '[^/]'
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    }
    return { negate, re: new RegExp(`^${re}$`) }
  })
  const parts = path.split('/')
  let ignored = false
  for (const rule of rules) {
    for (let n = 1; n <= parts.length; n++) {
      if (rule.re.test(parts.slice(0, n).join('/'))) {
        ignored = !rule.negate
        break
      }
    }
  }
  return ignored
}

t.test('.dockerignore keeps secrets and build output out of the context, and what the build needs in', async t => {
  const patterns = read(DOCKERIGNORE).split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#'))
  for (const path of ['node_modules', 'node_modules/fastify/package.json', 'dist/src/server.js', '.git/HEAD', 'coverage/lcov.info',
    '.tap/processinfo/x.json', 'bench/results/latest.json', 'acme.ionapi', 'emulator.ionapi', 'secrets/prod/acme.ionapi', 'src/node_modules/x',
    'emulator/index.ts', 'dist-emulator/emulator/index.js']) {
    t.ok(dockerIgnored(patterns, path), `${path} stays out`)
  }
  for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/server.ts',
    'plugins/metrics.ts', 'README.md']) {
    t.notOk(dockerIgnored(patterns, path), `${path} goes in`)
  }
  t.ok(dockerIgnored(['*.ionapi'], 'a.ionapi') && !dockerIgnored(['*.ionapi'], 'x/a.ionapi'), 'the matcher is anchored like Docker\'s')
})
