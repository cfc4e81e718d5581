export interface DemoBannerInput {
  /** The gateway's base URL, e.g. `http://127.0.0.1:3000`. */
  base: string
  emulatorUrl: string
  tenant: string
  /** Pass-through answers need an x-api-key (CLIENT_API_KEYS_FILE set for the demo); the banner cannot know one. */
  keysRequired: boolean
}

/** Ready-to-paste requests against the demo gateway: what the banner shows under "Try:". */
export function demoRequests (base: string): string[] {
  return [
    `${base}/m3/mi/MMS200MI/GetItmBasic?ITNO=A100`,
    `${base}/m3/m3api-rest/v2/execute/CRS610MI/LstByNumber?maxrecs=3`,
    `${base}/ln/lnapi/odata/tdapi.slsSalesOrder/Orders?$top=2`,
    `${base}/idm/api/items/search?$query=/MDS_File&$limit=2`,
  ]
}

/** What `npm run demo` prints once the gateway listens. */
export function demoBanner ({ base, emulatorUrl, tenant, keysRequired }: DemoBannerInput): string {
  const key = keysRequired ? ' -H "x-api-key: $KEY"' : ''
  const tries = demoRequests(base).map(url => `  curl -s${key} '${url}'`)
  return `
ion-gateway demo
  gateway        ${base}
  ION emulator   ${emulatorUrl}  (tenant ${tenant})
  API docs       ${base}/docs       (Swagger UI; the OpenAPI document is ${base}/docs/json)
  probes         ${base}/health     ${base}/ready
  metrics        ${base}/metrics
  ${keysRequired ? 'API keys       required (CLIENT_API_KEYS_FILE): set KEY to one of yours' : 'API keys       none needed (open mode: CLIENT_API_KEYS_FILE is unset)'}

Try:
${tries.join('\n')}
  curl -s '${base}/ready'
  curl -s '${base}/metrics' | grep '^ion_gateway_ion_logins_total'

Ctrl+C to stop.
`
}
