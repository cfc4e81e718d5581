import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ApiKeysFileError, newApiKey, readApiKeyRecords, type ApiClientRecord } from './api-keys.ts'

/** The file's clients, or none when the file does not exist yet (the first `add` creates it). */
export function readOrEmpty (file: string): ApiClientRecord[] {
  return existsSync(file) ? readApiKeyRecords(file) : []
}

/** A new client with a new key; the key is returned to be shown once, the list holds only its hash. */
export function addClient (records: ApiClientRecord[], id: string, admin: boolean): { key: string, records: ApiClientRecord[] } {
  if (records.some(r => r.id === id)) {
    throw new ApiKeysFileError(`client id "${id}" is already in the file${records.find(r => r.id === id)?.revoked ? ' (revoked)' : ''}: choose another id`)
  }
  const { key, record } = newApiKey(id, admin)
  return { key, records: [...records, record] }
}

/** The list with that client revoked (kept in the file, so its id is not given out again). */
export function revokeClient (records: ApiClientRecord[], id: string): { records: ApiClientRecord[], alreadyRevoked: boolean } {
  const existing = records.find(r => r.id === id)
  if (!existing) throw new ApiKeysFileError(`no client "${id}" in the file`)
  return { records: records.map(r => r.id === id ? { ...r, revoked: true } : r), alreadyRevoked: existing.revoked === true }
}

/** One line per client: id, admin and revoked flags, and only the first 8 hex digits of the key's hash. */
export function describeClients (records: ApiClientRecord[]): string[] {
  const width = Math.max(2, ...records.map(r => r.id.length))
  return [
    `${'id'.padEnd(width)}  admin  revoked  sha256`,
    ...records.map(r => `${r.id.padEnd(width)}  ${(r.admin ? 'yes' : 'no').padEnd(5)}  ${(r.revoked ? 'yes' : 'no').padEnd(7)}  ${r.keySha256.slice(0, 8)}…`),
  ]
}

/**
 * Replaces the file in one rename: a temp file beside it (mode 600, flushed to disk) renamed over it, so a gateway
 * watching the file never reads half a list.
 */
export function writeApiKeysFile (file: string, records: ApiClientRecord[]): void {
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(temp, 'wx', 0o600)
  try {
    writeSync(fd, `${JSON.stringify(records, null, 2)}\n`)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    rmSync(temp, { force: true })
    throw err
  }
  closeSync(fd)
  try {
    renameSync(temp, file)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}
