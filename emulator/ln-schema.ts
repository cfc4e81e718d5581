/**
 * The LN OData service the emulator serves, `tdapi.slsSalesOrder`: its entity types, entity sets and their CSDL
 * (`$metadata`), as XML or as JSON.
 */

export type EdmType = 'Edm.String' | 'Edm.Decimal' | 'Edm.Int32' | 'Edm.Date'

export interface PropertyDef { name: string, type: EdmType, maxLength?: number }
export interface NavigationDef { name: string, target: string /** entity set */ }

export interface EntityTypeDef {
  name: string
  key: string[]
  properties: PropertyDef[]
  navigation: NavigationDef[]
}

export interface EntitySetDef { name: string, type: EntityTypeDef }

export const NAMESPACE = 'tdapi.slsSalesOrder'
export const SERVICE_PATH = `lnapi/odata/${NAMESPACE}`

export const ORDER_LINE: EntityTypeDef = {
  name: 'OrderLine',
  key: ['SalesOrder', 'Position'],
  properties: [
    { name: 'SalesOrder', type: 'Edm.String', maxLength: 9 },
    { name: 'Position', type: 'Edm.Int32' },
    { name: 'Item', type: 'Edm.String', maxLength: 47 },
    { name: 'OrderedQuantity', type: 'Edm.Decimal' },
    { name: 'Price', type: 'Edm.Decimal' },
  ],
  navigation: [],
}

export const ORDER: EntityTypeDef = {
  name: 'Order',
  key: ['SalesOrder'],
  properties: [
    { name: 'SalesOrder', type: 'Edm.String', maxLength: 9 },
    { name: 'SoldToBP', type: 'Edm.String', maxLength: 9 },
    { name: 'Status', type: 'Edm.String', maxLength: 20 },
    { name: 'OrderDate', type: 'Edm.Date' },
    { name: 'Amount', type: 'Edm.Decimal' },
    { name: 'Currency', type: 'Edm.String', maxLength: 3 },
  ],
  navigation: [{ name: 'Lines', target: 'OrderLines' }],
}

export const ENTITY_SETS: readonly EntitySetDef[] = [{ name: 'Orders', type: ORDER }, { name: 'OrderLines', type: ORDER_LINE }]

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function targetType (nav: NavigationDef): EntityTypeDef {
  return (ENTITY_SETS.find(s => s.name === nav.target) as EntitySetDef).type
}

/** CSDL XML, what `$metadata` answers by default. */
export function metadataXml (): string {
  const types = ENTITY_SETS.map(({ type }) => {
    const props = type.properties.map(p => {
      const nullable = type.key.includes(p.name) ? ' Nullable="false"' : ''
      const length = p.maxLength === undefined ? '' : ` MaxLength="${p.maxLength}"`
      return `        <Property Name="${escapeXml(p.name)}" Type="${p.type}"${nullable}${length}/>`
    })
    const navs = type.navigation.map(n => `        <NavigationProperty Name="${escapeXml(n.name)}" Type="Collection(${NAMESPACE}.${targetType(n).name})"/>`)
    return [
      `      <EntityType Name="${type.name}">`,
      `        <Key>${type.key.map(k => `<PropertyRef Name="${k}"/>`).join('')}</Key>`,
      ...props,
      ...navs,
      '      </EntityType>',
    ].join('\n')
  })
  const sets = ENTITY_SETS.map(s => {
    const bindings = s.type.navigation.map(n => `<NavigationPropertyBinding Path="${n.name}" Target="${n.target}"/>`).join('')
    return `        <EntitySet Name="${s.name}" EntityType="${NAMESPACE}.${s.type.name}">${bindings}</EntitySet>`
  })
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
    '  <edmx:DataServices>',
    `    <Schema Namespace="${NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">`,
    ...types,
    '      <EntityContainer Name="Container">',
    ...sets,
    '      </EntityContainer>',
    '    </Schema>',
    '  </edmx:DataServices>',
    '</edmx:Edmx>',
    '',
  ].join('\n')
}

/** CSDL JSON (OData CSDL JSON 4.01), what `$metadata` answers when the client asks for JSON. */
export function metadataJson (): Record<string, unknown> {
  const schema: Record<string, unknown> = {}
  for (const { type } of ENTITY_SETS) {
    const entity: Record<string, unknown> = { $Kind: 'EntityType', $Key: type.key }
    for (const p of type.properties) {
      const prop: Record<string, unknown> = {}
      if (p.type !== 'Edm.String') prop.$Type = p.type
      if (type.key.includes(p.name)) prop.$Nullable = false
      if (p.maxLength !== undefined) prop.$MaxLength = p.maxLength
      entity[p.name] = prop
    }
    for (const n of type.navigation) entity[n.name] = { $Kind: 'NavigationProperty', $Collection: true, $Type: `${NAMESPACE}.${targetType(n).name}` }
    schema[type.name] = entity
  }
  const container: Record<string, unknown> = { $Kind: 'EntityContainer' }
  for (const s of ENTITY_SETS) {
    const set: Record<string, unknown> = { $Collection: true, $Type: `${NAMESPACE}.${s.type.name}` }
    if (s.type.navigation.length > 0) set.$NavigationPropertyBinding = Object.fromEntries(s.type.navigation.map(n => [n.name, n.target]))
    container[s.name] = set
  }
  schema.Container = container
  return { $Version: '4.0', $EntityContainer: `${NAMESPACE}.Container`, [NAMESPACE]: schema }
}

export function navigationTarget (nav: NavigationDef): EntityTypeDef {
  return targetType(nav)
}
