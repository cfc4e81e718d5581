import t from 'tap'
import { COMPANY_200_ITEM_NUMBERS, DEFAULT_M3_USER, ITEM_NUMBERS } from '../../emulator/index.ts'
import { call, passwordToken, startEmulator, V1, V2 } from './helpers.ts'

type NameValue = { Name: string, Value: string }
type V1Record = { NameValue: NameValue[] }
const nv = (r: V1Record) => Object.fromEntries(r.NameValue.map(x => [x.Name, x.Value]))

t.test('metadata: v1 leaves the Metadata block out with metadata=false; v2 accepts it (and ignores it, like ION)', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const without = await call(e, `${V1}/MMS200MI/GetItmBasic;metadata=false?ITNO=A100`, token)
  t.notOk('Metadata' in without.json)
  t.equal(nv(without.json.MIRecord[0]).ITNO?.trim(), 'A100')
  const query = await call(e, `${V1}/MMS200MI/GetItmBasic?ITNO=A100&metadata=false`, token)
  t.notOk('Metadata' in query.json, 'as a query parameter too')
  t.ok('Metadata' in (await call(e, `${V1}/MMS200MI/GetItmBasic;metadata=true?ITNO=A100`, token)).json)
  const v2 = await call(e, `${V2}/MMS200MI/GetItmBasic;metadata=true;maxrecs=100;excludempty=false?ITNO=A100`, token)
  t.equal(v2.status, 200, 'the matrix Infor\'s m3-odin sends')
  t.equal(v2.json.results[0].records[0].ITNO, 'A100')
})

t.test('real field types: D (date) and N (numeric) beside A', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const res = await call(e, `${V1}/MMS200MI/GetItmBasic?ITNO=A100`, token)
  const types = Object.fromEntries(res.json.Metadata.Field.map((f: Record<string, unknown>) => [f['@name'], f['@type']]))
  t.match(types, { ITNO: 'A', NEWE: 'N', RGDT: 'D', LMDT: 'D' })
  const info = await call(e, `${V2}/MRS001MI/LstAdtFieldInf?MINM=MMS200MI&TRNM=GetItmBasic&TRTP=O`, token)
  t.same(info.json.results[0].records.find((r: { FLNM: string }) => r.FLNM === 'RGDT'), { FLNM: 'RGDT', TYPE: 'D', LENG: '8', FLDS: 'Entry date' },
    'MRS001MI LstAdtFieldInf, what m3-odin reads for typed v2 output')
  const input = await call(e, `${V2}/MRS001MI/LstAdtFieldInf?MINM=CRS610MI&TRNM=GetBasicData&TRTP=I`, token)
  t.same(input.json.results[0].records.map((r: { FLNM: string }) => r.FLNM), ['CUNO'])
})

t.test('dateformat formats date fields; righttrim trims v1 values; v2 pads with righttrim=false', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const ymd = await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=A103`, token)
  t.equal(ymd.json.results[0].records[0].RGDT, '20240404', 'YMD8 by default')
  const cases: Array<[string, string]> = [['YMD8', '20240404'], ['YMD6', '240404'], ['DMY8', '04042024'], ['DMY6', '040424'], ['MDY8', '04042024'], ['MDY6', '040424']]
  for (const [format, expected] of cases) {
    const res = await call(e, `${V2}/MMS200MI/GetItmBasic;dateformat=${format}?ITNO=A103`, token)
    t.equal(res.json.results[0].records[0].RGDT, expected, format)
  }
  const mdy = await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=A111&dateformat=MDY8`, token)
  t.equal(mdy.json.results[0].records[0].RGDT, '12122024', 'as a query parameter too')
  const v1 = await call(e, `${V1}/MMS200MI/GetItmBasic;righttrim=true;dateformat=DMY8?ITNO=A103`, token)
  t.same(nv(v1.json.MIRecord[0]), { ITNO: 'A103', ITDS: 'Bolt M10', STAT: '20', ITTY: 'RAW', UNMS: 'PCS', NEWE: '0.500', RGDT: '04042024', LMDT: '01062025' })
  const padded = await call(e, `${V2}/MMS200MI/GetItmBasic;righttrim=false?ITNO=A103`, token)
  t.equal(padded.json.results[0].records[0].ITNO, 'A103'.padEnd(15))
})

t.test('excludempty leaves out empty values, v1 and v2', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  t.equal((await call(e, `${V2}/MMS200MI/AddItmBasic?ITNO=Z1&ITDS=Bare`, token)).status, 200)
  const full = await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=Z1`, token)
  t.equal(full.json.results[0].records[0].ITTY, '', 'empty values are there by default')
  const v2 = await call(e, `${V2}/MMS200MI/GetItmBasic;excludempty=true?ITNO=Z1`, token)
  t.same(Object.keys(v2.json.results[0].records[0]), ['ITNO', 'ITDS', 'STAT', 'NEWE', 'RGDT', 'LMDT'])
  const v1 = await call(e, `${V1}/MMS200MI/GetItmBasic?ITNO=Z1&excludempty=true`, token)
  t.same(v1.json.MIRecord[0].NameValue.map((x: NameValue) => x.Name), ['ITNO', 'ITDS', 'STAT', 'NEWE', 'RGDT', 'LMDT'])
  t.equal(v1.json.Metadata.Field.length, 8, 'Metadata still describes every field')
})

t.test('extendedresult is an option, never mistaken for input', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  for (const path of [`${V2}/MMS200MI/GetItmBasic;extendedresult=true?ITNO=A100`, `${V1}/MMS200MI/GetItmBasic?ITNO=A100&extendedresult=true`]) {
    const res = await call(e, path, token)
    t.equal(res.status, 200, path)
    t.notOk(res.json['@type'], path)
  }
})

t.test('cono and divi choose the company and division; a company the user may not use is XAU0008', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const c200 = await call(e, `${V2}/MMS200MI/LstItmByItm;cono=200?maxrecs=0`, token)
  t.same(c200.json.results[0].records.map((r: { ITNO: string }) => r.ITNO), COMPANY_200_ITEM_NUMBERS)
  const upper = await call(e, `${V2}/MMS200MI/LstItmByItm?CONO=200&DIVI=CCC&maxrecs=0`, token)
  t.same(upper.json.results[0].records.map((r: { ITNO: string }) => r.ITNO), COMPANY_200_ITEM_NUMBERS, 'CONO and DIVI as query parameters')
  const c100 = await call(e, `${V1}/MMS200MI/LstItmByItm;cono=100;divi=BBB;maxrecs=0`, token)
  t.equal(c100.json.MIRecord.length, ITEM_NUMBERS.length)
  const wrongCompany = await call(e, `${V1}/MMS200MI/GetItmBasic;cono=999?ITNO=A100`, token)
  t.match(wrongCompany.json, { '@type': 'ServerReturnedNOK', '@code': 'XAU0008', '@field': 'CONO', Message: /^Not authorized for company 999 +$/ })
  const wrongDivision = await call(e, `${V2}/MMS200MI/GetItmBasic;cono=200;divi=AAA?ITNO=B100`, token)
  t.equal(wrongDivision.status, 400)
  t.match(wrongDivision.json.results[0], { errorField: 'DIVI', errorType: 'ServerReturnedNOK' })
  const added = await call(e, `${V2}/MMS200MI/AddItmBasic;cono=200?ITNO=B900&ITDS=Only%20in%20200`, token)
  t.equal(added.status, 200)
  t.equal((await call(e, `${V2}/MMS200MI/GetItmBasic?ITNO=B900`, token)).status, 400, 'company 100 does not see it')
  t.equal((await call(e, `${V2}/MMS200MI/GetItmBasic;cono=200?ITNO=B900`, token)).status, 200)
})

t.test('m3user runs the call as that user: its defaults, its companies', async t => {
  const e = await startEmulator(t)
  const { access_token: token } = await passwordToken(e)
  const me = await call(e, `${V2}/MNS150MI/GetUserData`, token)
  t.match(me.json.results[0].records[0], { USID: DEFAULT_M3_USER, CONO: '100', DIVI: 'AAA', DTFM: 'YMD', DCFM: '.' })
  const jdoe = await call(e, `${V2}/MNS150MI/GetUserData;m3user=JDOE`, token)
  t.match(jdoe.json.results[0].records[0], { USID: 'JDOE', CONO: '100', DIVI: 'BBB', LANC: 'SE' })
  const other = await call(e, `${V1}/MNS150MI/GetUserData?m3user=MVXSECOFR`, token)
  t.match(nv(other.json.MIRecord[0]), { USID: /^MVXSECOFR/, CONO: /^200/ })
  const defaultCompany = await call(e, `${V2}/MMS200MI/LstItmByItm?m3user=MVXSECOFR&maxrecs=0`, token)
  t.same(defaultCompany.json.results[0].records.map((r: { ITNO: string }) => r.ITNO), COMPANY_200_ITEM_NUMBERS, 'the user\'s default company')
  const denied = await call(e, `${V2}/MMS200MI/GetItmBasic;m3user=JDOE;cono=200?ITNO=B100`, token)
  t.match(denied.json.results[0], { errorCode: 'XAU0008' }, 'JDOE may not use company 200')
  const unknown = await call(e, `${V2}/MMS200MI/GetItmBasic;m3user=NOBODY?ITNO=A100`, token)
  t.equal(unknown.status, 400)
  t.match(unknown.json.results[0].errorMessage, /NOBODY/)
})
