import t from 'tap'
import { parseXQuery, XQueryError, type Attribute } from '../../emulator/xquery.ts'

const known = new Set(['MDS_Name', 'MDS_Category', 'MDS_Pages'])
const docs: Array<{ id: string, attrs: Attribute[] }> = [
  { id: 'a', attrs: [{ name: 'MDS_Name', type: '1', value: 'Drawing A100' }, { name: 'MDS_Category', type: '1', value: 'Drawing' }, { name: 'MDS_Pages', type: '3', value: '1' }] },
  { id: 'b', attrs: [{ name: 'MDS_Name', type: '1', value: 'Invoice 42' }, { name: 'MDS_Category', type: '1', value: 'Invoice' }, { name: 'MDS_Pages', type: '3', value: '12' }] },
  { id: 'c', attrs: [{ name: 'MDS_Name', type: '1', value: 'Safety sheet' }, { name: 'MDS_Category', type: '1', value: 'Safety' }, { name: 'MDS_Pages', type: '3', value: '4' }] },
]
const hits = (q: string) => {
  const x = parseXQuery(q, known)
  return docs.filter(d => x.matches(d.attrs)).map(d => d.id)
}

t.test('entity only, and attribute predicates that filter', async t => {
  t.equal(parseXQuery('/MDS_File', known).entity, 'MDS_File')
  t.same(hits('/MDS_File'), ['a', 'b', 'c'])
  t.same(hits('/MDS_File[@MDS_Category = "Invoice"]'), ['b'])
  t.same(hits("/MDS_File[@MDS_Category = 'Invoice']"), ['b'], 'single quotes too')
  t.same(hits('/MDS_File[@MDS_Category != "Invoice"]'), ['a', 'c'])
  t.same(hits('/MDS_File[@MDS_Pages > 3]'), ['b', 'c'], 'numeric attributes compare as numbers (12 > 3)')
  t.same(hits('/MDS_File[@MDS_Pages >= "4"]'), ['b', 'c'])
  t.same(hits('/MDS_File[@MDS_Pages <= 4]'), ['a', 'c'])
  t.same(hits('/MDS_File[@MDS_Name LIKE "%a%"]'), ['a', 'c'], 'LIKE with % wildcards')
  t.same(hits('/MDS_File[@MDS_Name like "invoice __"]'), ['b'], '_ is one character; LIKE ignores case')
})

t.test('AND binds tighter than OR; parentheses group', async t => {
  t.same(hits('/MDS_File[@MDS_Category = "Drawing" OR @MDS_Category = "Safety"]'), ['a', 'c'])
  t.same(hits('/MDS_File[@MDS_Category = "Invoice" AND @MDS_Pages > 10]'), ['b'])
  t.same(hits('/MDS_File[@MDS_Category = "Drawing" OR @MDS_Category = "Invoice" AND @MDS_Pages < 5]'), ['a'])
  t.same(hits('/MDS_File[(@MDS_Category = "Drawing" OR @MDS_Category = "Invoice") AND @MDS_Pages > 0]'), ['a', 'b'])
  t.same(hits('/MDS_File[@MDS_Pages > 1 and @MDS_Pages < 10]'), ['c'], 'and/or in lower case too')
})

t.test('bad queries are XQueryErrors that say what is wrong', async t => {
  const cases: Array<[string, RegExp]> = [
    ['MDS_File', /must be \/EntityName/],
    ['/MDS_File[@Nope = "x"]', /attribute Nope does not exist/],
    ['/MDS_File[@MDS_Name "x"]', /Expected a comparison/],
    ['/MDS_File[@MDS_Name =]', /Expected a quoted value/],
    ['/MDS_File[(@MDS_Name = "x"]', /not closed/],
    ['/MDS_File[@MDS_Name = "x" @MDS_Pages = 1]', /Unexpected/],
    ['/MDS_File[@MDS_Name = "x" #]', /Syntax error/],
  ]
  for (const [q, message] of cases) t.throws(() => parseXQuery(q, known), { constructor: XQueryError, message }, q)
})
