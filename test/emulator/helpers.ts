import type { Test } from 'tap'
import { request } from 'undici'
import { createEmulator, type Emulator, type EmulatorOptions } from '../../emulator/index.ts'

export const V1 = '/ACME_TST/M3/m3api-rest/execute'
export const V2 = '/ACME_TST/M3/m3api-rest/v2/execute'
export const ITEM = `${V2}/MMS200MI/GetItmBasic`
export const ORDERS = '/ACME_TST/LN/lnapi/odata/tdapi.slsSalesOrder/Orders'

export async function startEmulator (t: Test, opts: EmulatorOptions = {}): Promise<Emulator> {
  const emulator = await createEmulator({ port: 0, ...opts })
  t.teardown(() => emulator.close())
  return emulator
}

export function tokenUrl (e: Emulator): string {
  return e.ionapi.pu + e.ionapi.ot
}

export function revokeUrl (e: Emulator): string {
  return e.ionapi.pu + e.ionapi.or
}

export interface JsonResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: any
}

async function toJson (res: Awaited<ReturnType<typeof request>>): Promise<JsonResponse> {
  const text = await res.body.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, text, json }
}

export async function postForm (url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<JsonResponse> {
  return toJson(await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  }))
}

/** RFC 6749 2.3.1: each part form-url-encoded, then Base64. */
export function basic (id: string, secret: string): string {
  const enc = (s: string) => new URLSearchParams({ s }).toString().slice(2)
  return 'Basic ' + Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')
}

export function bodyClient (e: Emulator): Record<string, string> {
  return { client_id: e.ionapi.ci, client_secret: e.ionapi.cs }
}

export function passwordForm (e: Emulator): Record<string, string> {
  return { grant_type: 'password', username: e.ionapi.saak, password: e.ionapi.sask, ...bodyClient(e) }
}

export async function passwordToken (e: Emulator): Promise<{ access_token: string, refresh_token: string, expires_in: number }> {
  const res = await postForm(tokenUrl(e), passwordForm(e))
  if (res.status !== 200) throw new Error(`token request failed with ${res.status}: ${res.text}`)
  return res.json
}

export function claims (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString())
}

export interface CallInit { method?: string, headers?: Record<string, string>, body?: string }

export async function call (e: Emulator, path: string, token?: string, init: CallInit = {}): Promise<JsonResponse> {
  return toJson(await request(e.url + path, {
    method: (init.method ?? 'GET') as 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    body: init.body,
  }))
}

/** Path and query of an absolute URL, for following links the emulator hands out. */
export function local (url: string): string {
  const u = new URL(url)
  return u.pathname + u.search
}
