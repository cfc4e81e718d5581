import t from 'tap'
import { API_LABELS_MAX, createApiLabeler } from '../../src/proxy/api-labels.ts'

t.test('a call keeps the label it got at its first sighting; past the bound new calls share <system>:other', async t => {
  const label = createApiLabeler(2)
  t.equal(label('m3', 'm3:MMS200MI/GetItmBasic'), 'm3:MMS200MI/GetItmBasic')
  t.equal(label('m3', 'm3:CRS610MI/LstByNumber'), 'm3:CRS610MI/LstByNumber')
  t.equal(label('m3', 'm3:OIS100MI/GetHead'), 'm3:other', 'the third distinct call overflows')
  t.equal(label('m3', 'm3:MMS200MI/GetItmBasic'), 'm3:MMS200MI/GetItmBasic', 'a known call keeps its label after the bound')
  t.equal(label('m3', 'm3:OIS100MI/GetHead'), 'm3:other', 'an overflowed call stays in m3:other')
  t.equal(label('ln', 'ln'), 'ln', 'a system label never counts against the bound')
  t.equal(label('m3', 'm3'), 'm3', 'an M3 call that is no MI read is labelled by its system')
})

t.test('the default bound holds: at most API_LABELS_MAX + systems distinct labels, whatever the traffic', async t => {
  const label = createApiLabeler()
  const seen = new Set<string>()
  for (let i = 0; i < API_LABELS_MAX * 3; i++) seen.add(label('m3', `m3:P${i}MI/GetX`))
  t.equal(seen.size, API_LABELS_MAX + 1, `${seen.size} distinct labels for ${API_LABELS_MAX * 3} calls`)
  t.ok(seen.has('m3:other'))
})
