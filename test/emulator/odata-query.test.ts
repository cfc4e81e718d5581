import t from 'tap'
import { ORDER } from '../../emulator/ln-schema.ts'
import { compileFilter, filterAndSort, ODataQueryError, parseCollectionOptions, type Entity } from '../../emulator/odata-query.ts'

const rows: Entity[] = [
  { SalesOrder: 'SO1', Status: 'Free', Amount: 100, OrderDate: '2026-01-10', Currency: 'EUR', SoldToBP: 'BP1' },
  { SalesOrder: 'SO2', Status: 'Closed', Amount: 250.5, OrderDate: '2026-03-01', Currency: 'USD', SoldToBP: 'BP2' },
  { SalesOrder: 'SO3', Status: 'Free', Amount: 400, OrderDate: '2026-02-15', Currency: 'USD', SoldToBP: 'BP1' },
  { SalesOrder: 'SO4', Status: "O'Brien", Amount: 0, OrderDate: '2025-12-31', Currency: 'EUR', SoldToBP: 'BP3' },
]
const ids = (filter: string) => rows.filter(compileFilter(filter, ORDER)).map(r => r.SalesOrder)

t.test('comparisons on numbers, text and dates', async t => {
  t.same(ids('Amount gt 100'), ['SO2', 'SO3'])
  t.same(ids('Amount ge 100'), ['SO1', 'SO2', 'SO3'])
  t.same(ids('Amount lt 100'), ['SO4'])
  t.same(ids('Amount le 100'), ['SO1', 'SO4'])
  t.same(ids('Amount ne 100'), ['SO2', 'SO3', 'SO4'])
  t.same(ids('Amount eq 250.5'), ['SO2'])
  t.same(ids("Status eq 'Free'"), ['SO1', 'SO3'])
  t.same(ids("Status eq 'O''Brien'"), ['SO4'], "'' is a quote")
  t.same(ids('OrderDate ge 2026-02-01'), ['SO2', 'SO3'], 'Edm.Date literals are unquoted')
  t.same(ids('Amount eq null'), [])
})

t.test('and binds tighter than or; parentheses and not', async t => {
  t.same(ids("Status eq 'Free' and Amount gt 200"), ['SO3'])
  t.same(ids("Currency eq 'USD' or Amount eq 0"), ['SO2', 'SO3', 'SO4'])
  t.same(ids("Status eq 'Closed' or Status eq 'Free' and Amount gt 200"), ['SO2', 'SO3'])
  t.same(ids("(Status eq 'Closed' or Status eq 'Free') and Amount gt 200"), ['SO2', 'SO3'])
  t.same(ids("(Status eq 'Free' or Status eq 'Closed') and Currency eq 'EUR'"), ['SO1'])
  t.same(ids("not (Currency eq 'USD')"), ['SO1', 'SO4'])
})

t.test('string functions', async t => {
  t.same(ids("startswith(Status, 'Fr')"), ['SO1', 'SO3'])
  t.same(ids("contains(SoldToBP, '1') and endswith(SalesOrder, '3')"), ['SO3'])
  t.same(ids("tolower(Currency) eq 'usd'"), ['SO2', 'SO3'])
})

t.test('bad filters are errors that say what is wrong', async t => {
  const cases: Array<[string, RegExp]> = [
    ["Nope eq 'x'", /Unknown property Nope/],
    ["Amount eq 'x'", /cannot compare number with string/],
    ["OrderDate gt '2026-01-01'", /cannot compare date with string/],
    ['Amount gt', /ends too early/],
    ["Status eq 'Free' and", /ends too early/],
    ["(Status eq 'Free'", /Expected "\)"/],
    ['Amount', /boolean/],
    ["Status eq 'Free' Amount", /Unexpected/],
    ["substringof('x', Status)", /substringof is not supported/],
    ["Status eq 'Free' AND Amount gt 1", /Unexpected "AND"/],
    ['Amount gt 1 ; drop', /Syntax error/],
    ['', /empty/],
  ]
  for (const [filter, message] of cases) t.throws(() => compileFilter(filter, ORDER), { constructor: ODataQueryError, message }, filter)
})

t.test('$orderby, $select, $expand, $top and $skip', async t => {
  const o = parseCollectionOptions(name => ({ $orderby: 'Currency desc,Amount', $select: 'SalesOrder,Amount', $top: '2', $skip: '1' } as Record<string, string>)[name], ORDER)
  t.same(filterAndSort(rows, o).map(r => r.SalesOrder), ['SO2', 'SO3', 'SO4', 'SO1'])
  t.same(o.select, ['SalesOrder', 'Amount'])
  t.equal(o.top, 2)
  t.equal(o.skip, 1)
  t.equal(parseCollectionOptions(name => (name === '$select' ? '*' : undefined), ORDER).select, undefined, '$select=* is every property')
  const expand = parseCollectionOptions(name => (name === '$expand' ? 'Lines($select=Item,Price;$filter=Price gt 20;$orderby=Price desc;$top=1)' : undefined), ORDER)
  t.equal(expand.expand[0]?.nav.name, 'Lines')
  t.same(expand.expand[0]?.options.select, ['Item', 'Price'])
  t.equal(expand.expand[0]?.options.top, 1)
  t.equal(parseCollectionOptions(name => (name === '$expand' ? '*' : undefined), ORDER).expand.length, 1)
  for (const [name, value, message] of [
    ['$orderby', 'Amount sideways', /not "Property \[asc\|desc\]"/],
    ['$select', 'Amount,Nope', /Unknown property Nope in \$select/],
    ['$expand', 'Customer', /Unknown navigation property Customer/],
    ['$expand', 'Lines($count=true)', /\$count is not supported inside \$expand/],
    ['$top', '-1', /\$top must be a non-negative integer/],
    ['$skip', 'x', /\$skip must be a non-negative integer/],
  ] as const) {
    t.throws(() => parseCollectionOptions(n => (n === name ? value : undefined), ORDER), { message }, `${name}=${value}`)
  }
})
