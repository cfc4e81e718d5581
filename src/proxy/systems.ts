/** The ION suites the gateway fronts: route prefix → ION path segment. */
export const SYSTEMS = {
  m3: 'M3',
  ln: 'LN',
  idm: 'IDM',
} as const

export type SystemId = keyof typeof SYSTEMS
export const SYSTEM_IDS = Object.keys(SYSTEMS) as SystemId[]
