import type { Test } from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { newApiKey } from '../../src/edge/api-keys.ts'

export interface KeysFile {
  /** Path for CLIENT_API_KEYS_FILE. */
  file: string
  /** A client key (no admin rights). */
  portal: string
  /** An admin key. */
  ops: string
}

/** A CLIENT_API_KEYS_FILE with one client key and one admin key, removed in teardown. */
export function writeKeysFile (t: Test): KeysFile {
  const dir = mkdtempSync(join(tmpdir(), 'ion-gateway-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const portal = newApiKey('portal')
  const ops = newApiKey('ops', true)
  const file = join(dir, 'clients.json')
  writeFileSync(file, JSON.stringify([portal.record, ops.record]))
  return { file, portal: portal.key, ops: ops.key }
}
