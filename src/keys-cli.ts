import { parseArgs } from 'node:util'
import { addClient, describeClients, readOrEmpty, revokeClient, writeApiKeysFile } from './edge/api-keys-file.ts'

/**
 * Manages the clients in a CLIENT_API_KEYS_FILE (`npm run keys -- …`, or `node dist/src/keys-cli.js …` in the image):
 *   add <id> [--admin] --file <path>   adds a client; its new key is printed once and never stored
 *   list --file <path>                 ids, admin and revoked flags (never a whole hash)
 *   revoke <id> --file <path>          shuts a client out (the entry stays, so its id is not reused)
 * The file is replaced atomically (mode 600); a running gateway picks the change up without a restart.
 */
const USAGE = `usage: keys add <id> [--admin] --file <path>
       keys list --file <path>
       keys revoke <id> --file <path>
`

function main (): number {
  let parsed
  try {
    parsed = parseArgs({ allowPositionals: true, options: { admin: { type: 'boolean', default: false }, file: { type: 'string' } } })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const { positionals: [command, id, ...extra], values: { admin, file } } = parsed
  const needsId = command === 'add' || command === 'revoke'
  if (!file || !['add', 'list', 'revoke'].includes(command ?? '') || (needsId ? !id : id !== undefined) || extra.length > 0 ||
    (admin && command !== 'add')) {
    process.stderr.write(USAGE)
    return 2
  }
  try {
    const records = readOrEmpty(file)
    if (command === 'list') {
      process.stdout.write(`${describeClients(records).join('\n')}\n`)
    } else if (command === 'add' && id) {
      const added = addClient(records, id, admin)
      writeApiKeysFile(file, added.records)
      process.stdout.write(`Added ${id}${admin ? ' (admin)' : ''} to ${file}. Its API key (shown once; give it to the client, store it nowhere else):\n  ${added.key}\n`)
    } else if (command === 'revoke' && id) {
      const revoked = revokeClient(records, id)
      if (!revoked.alreadyRevoked) writeApiKeysFile(file, revoked.records)
      process.stdout.write(revoked.alreadyRevoked ? `${id} was already revoked\n` : `Revoked ${id} in ${file}\n`)
    }
    return 0
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}

process.exitCode = main()
