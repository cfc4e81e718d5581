import type { Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { startRedis, type RedisServer } from './redis.ts'
import { eventually } from './wait.ts'

const run = promisify(execFile)

async function portIsFree (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const srv = createServer()
    srv.unref()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/** A port whose Cluster bus port (port + 10000) is free as well. */
async function clusterPort (): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 30000)
    if (await portIsFree(port) && await portIsFree(port + 10000)) return port
  }
}

async function command (port: number, ...args: Array<string | number>): Promise<unknown> {
  return authedCommand(port, undefined, ...args)
}

async function authedCommand (port: number, password: string | undefined, ...args: Array<string | number>): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', ...(password ? { password } : {}), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 1000 })
  client.on('error', () => {})
  try {
    await client.connect()
    return await client.call(String(args[0]), ...args.slice(1).map(String))
  } finally {
    client.disconnect()
  }
}

export interface RedisCluster {
  nodes: RedisServer[]
  /** `127.0.0.1:p1,127.0.0.1:p2,…` as REDIS_CLUSTER_NODES takes it. */
  seeds: string
}

/** A real 3-master Redis Cluster (no replicas), created with `redis-cli --cluster create`, killed in teardown. */
export async function startRedisCluster (t: Test, masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gw-cluster-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const nodes: RedisServer[] = []
  for (let i = 0; i < masters; i++) {
    nodes.push(await startRedis(t, {
      portFor: clusterPort,
      extraArgs: port => ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000'],
    }))
  }
  const addresses = nodes.map(n => `127.0.0.1:${n.port}`)
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30000 })
  for (const node of nodes) {
    await eventually(`cluster state ok on ${node.port}`, async () => {
      const info = String(await command(node.port, 'CLUSTER', 'INFO'))
      return /cluster_state:ok/.test(info) || info.split('\r\n')[0] as string
    })
  }
  return { nodes, seeds: addresses.join(',') }
}

export interface RedisSentinelSetup {
  master: RedisServer
  replica: RedisServer
  sentinel: RedisServer
  masterName: string
  /** `127.0.0.1:<sentinel port>` as REDIS_SENTINELS takes it. */
  sentinels: string
  /** The port the sentinel names as master now. */
  masterPort (): Promise<number>
}

/**
 * A master, a replica of it and one sentinel (quorum 1, down after 1 s) watching them: real processes, killed in
 * teardown. Killing the master makes the sentinel promote the replica. With `passwords`, the data nodes require
 * `data` and the sentinel requires `sentinel` (its own password, as the Bitnami chart sets up by default).
 */
export async function startRedisSentinel (t: Test, masterName = 'iongw', passwords?: { data: string, sentinel: string }): Promise<RedisSentinelSetup> {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gw-sentinel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const dataAuth = passwords ? ['--requirepass', passwords.data, '--masterauth', passwords.data] : []
  const master = await startRedis(t, { extraArgs: () => dataAuth, password: passwords?.data })
  const replica = await startRedis(t, { extraArgs: () => [...dataAuth, '--replicaof', '127.0.0.1', String(master.port)], password: passwords?.data })
  await eventually('replica in sync', async () => /master_link_status:up/.test(String(await authedCommand(replica.port, passwords?.data, 'INFO', 'replication'))))
  const sentinel = await startRedis(t, {
    // A sentinel rewrites its configuration file: each gets its own, written before it starts.
    configFile: port => {
      const file = join(dir, `sentinel-${port}.conf`)
      writeFileSync(file, [
        `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        ...(passwords ? [`sentinel auth-pass ${masterName} ${passwords.data}`, `requirepass ${passwords.sentinel}`] : []),
        '',
      ].join('\n'))
      return file
    },
    extraArgs: () => ['--sentinel'],
    password: passwords?.sentinel,
  })
  const masterPort = async (): Promise<number> => {
    const answer = await authedCommand(sentinel.port, passwords?.sentinel, 'SENTINEL', 'get-master-addr-by-name', masterName) as [string, string] | null
    return answer ? Number(answer[1]) : 0
  }
  await eventually('sentinel knows the replica', async () => {
    const replicas = await authedCommand(sentinel.port, passwords?.sentinel, 'SENTINEL', 'replicas', masterName) as unknown[]
    return Array.isArray(replicas) && replicas.length === 1
  })
  return { master, replica, sentinel, masterName, sentinels: `127.0.0.1:${sentinel.port}`, masterPort }
}
