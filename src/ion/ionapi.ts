import { Type, Value, type Static } from '../typebox.ts'

const HttpUrl = Type.String({ pattern: '^https?://[^\\s/?#]+([/?#]\\S*)?$' })
const NonEmpty = Type.String({ minLength: 1 })

/** The fields of an `.ionapi` file the gateway uses; unknown fields are accepted and ignored. */
export const IonApiSchema = Type.Object({
  ti: NonEmpty,
  ci: NonEmpty,
  cs: NonEmpty,
  iu: HttpUrl,
  pu: HttpUrl,
  ot: NonEmpty,
  or: Type.Optional(Type.String()),
  cn: Type.Optional(Type.String()),
  saak: Type.Optional(Type.String()),
  sask: Type.Optional(Type.String()),
})

export type IonApi = Static<typeof IonApiSchema>

export type IonGrant = 'password' | 'client_credentials'

/** Where the gateway talks to, derived once from the `.ionapi` file. */
export interface IonEndpoints {
  tenant: string
  /** `iu + "/" + ti`, without a trailing slash. */
  apiBaseUrl: string
  /** `pu + ot` (plain concatenation, as Infor's SDKs do). */
  tokenUrl: string
  /** `pu + or`, when the file names a revoke endpoint. */
  revokeUrl: string | undefined
}

export interface IonCredentials {
  clientId: string
  clientSecret: string
  serviceAccountAccessKey: string | undefined
  serviceAccountSecretKey: string | undefined
}

export interface IonSettings extends IonEndpoints {
  grant: IonGrant
  credentials: IonCredentials
}

export class IonApiFileError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'IonApiFileError'
  }
}

/**
 * Validates a parsed `.ionapi` object. Error messages name the field, never its value: every field may be secret.
 */
export function parseIonApi (raw: unknown, grant: IonGrant, source = '.ionapi'): IonSettings {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new IonApiFileError(`${source}: must be a JSON object`)
  }
  const problems: string[] = []
  for (const error of Value.Errors(IonApiSchema, raw)) {
    const field = error.path.replace(/^\//, '') || '(root)'
    const what = error.value === undefined ? 'is required' : describeProblem(field)
    problems.push(`field "${field}" ${what}`)
  }
  if (problems.length > 0) {
    throw new IonApiFileError(`${source}: ${[...new Set(problems)].join('; ')}`)
  }
  const file = raw as IonApi
  if (grant === 'password' && (!file.saak || !file.sask)) {
    throw new IonApiFileError(`${source}: fields "saak" and "sask" are required for ION_GRANT=password (tick "Create Service Account" when downloading the file, or set ION_GRANT=client_credentials)`)
  }
  const iu = file.iu.replace(/\/+$/, '')
  return {
    tenant: file.ti,
    apiBaseUrl: `${iu}/${encodeURIComponent(file.ti)}`,
    tokenUrl: file.pu + file.ot,
    revokeUrl: file.or ? file.pu + file.or : undefined,
    grant,
    credentials: {
      clientId: file.ci,
      clientSecret: file.cs,
      serviceAccountAccessKey: file.saak,
      serviceAccountSecretKey: file.sask,
    },
  }
}

function describeProblem (field: string): string {
  if (field === 'iu' || field === 'pu') return 'must be an http(s) URL'
  return 'must be a non-empty string'
}
