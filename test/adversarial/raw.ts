// A raw-socket HTTP client for the adversarial suite: it writes exactly the bytes it is
// given (latin1 strings or Buffers), in steps with pauses, and reads whatever comes back,
// so that framing tricks reach the proxy unnormalised. Verification talks to the real
// dockerd directly (never through the proxy) and never trusts dockmoat's log.

import net from 'node:net'
import http from 'node:http'
import fs from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { DOCKER_SOCKET, cleanup, uniqueName } from '../helpers/docker.ts'

export type Where = { port: number; host?: string } | { socketPath: string }

/** Bytes to write, a pause, or "wait until this many bytes have come back". */
export type Step = string | Buffer | { waitMs: number } | { waitForBytes: number; timeoutMs?: number }

export interface RawResponse {
  status: number
  statusText: string
  /** Header names lowercased; repeated headers joined with ", ". */
  headers: Record<string, string>
  head: string
  body: Buffer
  /** The body as latin1 text. */
  text: string
}

export interface Exchange {
  data: Buffer
  text: string
  responses: RawResponse[]
  /** The server ended or reset the connection (as opposed to our idle/overall timeout). */
  closedByServer: boolean
  ms: number
  error?: string
}

export interface ExchangeOptions {
  /** Stop reading after this long without new bytes (default 1500 ms). */
  idleMs?: number
  /** Hard limit for the whole exchange (default 20 s). */
  timeoutMs?: number
  /** Half-close our side after the last step (default false). */
  endAfterWrite?: boolean
  /** Methods of the requests, in order: responses to HEAD have no body. */
  methods?: string[]
}

function toBuffer(chunk: string | Buffer): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
}

/** Opens a connection, performs the steps, and collects every byte until close or idle. */
export function exchange(where: Where, steps: Step[] | string | Buffer, options: ExchangeOptions = {}): Promise<Exchange> {
  const list: Step[] = Array.isArray(steps) ? steps : [steps]
  const idleMs = options.idleMs ?? 1500
  const timeoutMs = options.timeoutMs ?? 20_000
  const started = performance.now()
  return new Promise((resolve) => {
    const socket = 'socketPath' in where ? net.connect(where.socketPath) : net.connect(where.port, where.host ?? '127.0.0.1')
    let data = Buffer.alloc(0)
    let writing = true
    let finished = false
    let closedByServer = false
    let error: string | undefined
    let idle: NodeJS.Timeout | undefined
    const finish = (): void => {
      if (finished) return
      finished = true
      clearTimeout(idle)
      clearTimeout(overall)
      socket.destroy()
      const text = data.toString('latin1')
      resolve({ data, text, responses: parseResponses(data, options.methods), closedByServer, ms: performance.now() - started, ...(error ? { error } : {}) })
    }
    const armIdle = (): void => {
      clearTimeout(idle)
      if (!writing) idle = setTimeout(finish, idleMs)
    }
    const overall = setTimeout(finish, timeoutMs)
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk])
      armIdle()
    })
    socket.on('end', () => { closedByServer = true; finish() })
    socket.on('close', () => { closedByServer = true; finish() })
    socket.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; closedByServer = true; finish() })
    socket.on('connect', async () => {
      for (const step of list) {
        if (finished) return
        if (typeof step === 'string' || Buffer.isBuffer(step)) {
          await new Promise<void>((done) => socket.write(toBuffer(step), () => done()))
        } else if ('waitMs' in step) {
          await sleep(step.waitMs)
        } else {
          const until = performance.now() + (step.timeoutMs ?? 10_000)
          while (!finished && data.length < step.waitForBytes && performance.now() < until) await sleep(10)
        }
      }
      if (options.endAfterWrite && !finished) socket.end()
      writing = false
      armIdle()
    })
  })
}

/** Splits a byte stream into consecutive HTTP/1.x responses (a 101 takes the rest as its body). */
export function parseResponses(data: Buffer, methods: string[] = []): RawResponse[] {
  const out: RawResponse[] = []
  let offset = 0
  while (offset < data.length) {
    const end = data.indexOf('\r\n\r\n', offset)
    if (end === -1) break
    const head = data.subarray(offset, end).toString('latin1')
    const m = /^HTTP\/\d\.\d (\d{3}) ?(.*)/.exec(head)
    if (!m) break
    const headers: Record<string, string> = {}
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':')
      if (colon <= 0) continue
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    const status = Number(m[1])
    let bodyStart = end + 4
    let body: Buffer
    const method = methods[out.length]
    if (status === 101) {
      body = data.subarray(bodyStart)
      bodyStart = data.length
    } else if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0)
    } else if (headers['content-length'] !== undefined && /^\d+$/.test(headers['content-length'])) {
      const length = Number(headers['content-length'])
      body = data.subarray(bodyStart, bodyStart + length)
      bodyStart += length
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = []
      let i = bodyStart
      for (;;) {
        const eol = data.indexOf('\r\n', i)
        if (eol === -1) { i = data.length; break }
        const size = parseInt(data.subarray(i, eol).toString('latin1'), 16)
        if (!Number.isFinite(size)) { i = data.length; break }
        if (size === 0) {
          const trailerEnd = data.indexOf('\r\n\r\n', eol - 2)
          i = trailerEnd === -1 ? data.length : trailerEnd + 4
          break
        }
        parts.push(data.subarray(eol + 2, eol + 2 + size))
        i = eol + 2 + size + 2
      }
      body = Buffer.concat(parts)
      bodyStart = i
    } else {
      body = data.subarray(bodyStart)
      bodyStart = data.length
    }
    out.push({ status, statusText: m[2] ?? '', headers, head, body, text: body.toString('latin1') })
    offset = bodyStart
  }
  return out
}

/** Responses that came from dockerd itself: every route's answer carries Api-Version. */
export function fromDockerd(x: Exchange): RawResponse[] {
  return x.responses.filter((r) => r.headers['api-version'] !== undefined)
}

/** A one-line picture of what came back, for assertion messages. */
export function shown(x: Exchange): string {
  const heads = x.responses.map((r) => `${r.status}${r.headers['api-version'] ? ' [dockerd]' : ''} ${r.text.slice(0, 120).replace(/\s+/g, ' ')}`)
  return `${heads.length} response(s): ${heads.join(' | ') || JSON.stringify(x.text.slice(0, 200))}; ${x.closedByServer ? 'closed by the proxy' : 'left open'} after ${Math.round(x.ms)} ms`
}

// ---------------------------------------------------------------------------------------
// Markers: harmless actions whose side effect dockerd itself shows afterwards.

/** A unique volume name; creating it is the forbidden marker action. */
export function markerName(label: string): string {
  return uniqueName(`marker-${label}`)
}

/** `POST /volumes/create` for a marker volume, as raw bytes. */
export function volumeCreate(name: string, version = 'HTTP/1.1'): string {
  const body = JSON.stringify({ Name: name, Labels: { 'org.dockmoat.test': 'true' } })
  return `POST /volumes/create ${version}\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
}

/** A request straight to dockerd's socket (for verification and setup, never for attacks). */
export function dockerd(method: string, path: string, body?: unknown): Promise<{ status: number; body: string; json: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request({
      socketPath: DOCKER_SOCKET, method, path, timeout: 30_000,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => {
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, body: text, json })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`dockerd did not answer ${method} ${path} within 30 s`)))
    req.on('error', reject)
    req.end(payload)
  })
}

export async function volumeExists(name: string): Promise<boolean> {
  return (await dockerd('GET', `/volumes/${encodeURIComponent(name)}`)).status === 200
}

export async function containerExists(name: string): Promise<boolean> {
  return (await dockerd('GET', `/containers/${encodeURIComponent(name)}/json`)).status === 200
}

/** Containers carrying a label (label=value), straight from dockerd. */
export async function containersLabelled(label: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }))
  const r = await dockerd('GET', `/containers/json?all=1&filters=${filters}`)
  return (r.json as { Id: string }[] | undefined ?? []).map((c) => c.Id)
}

/** Removes marker volumes directly at dockerd (best effort). */
export async function removeVolumes(names: string[]): Promise<void> {
  await cleanup('volume', names)
}

/**
 * Final cleanup of markers: a positive control sent straight to dockerd may still be
 * running its pipelined request when the test ends, so remove twice, a moment apart.
 */
export async function removeVolumesLate(names: string[]): Promise<void> {
  await cleanup('volume', names)
  await sleep(2000)
  await cleanup('volume', names)
}

/** Whether the volume appears within `ms` (dockerd runs pipelined requests one by one). */
export async function volumeAppears(name: string, ms = 1500): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    if (await volumeExists(name)) return true
    if (Date.now() > until) return false
    await sleep(100)
  }
}

/** The resident set size of a process, in KiB (Linux). */
export function rssKib(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
}

/** `GET /_ping` through the proxy on a fresh connection: the proxy still serves others. */
export async function ping(port: number): Promise<{ status: number; ms: number }> {
  const x = await exchange({ port }, 'GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n', { idleMs: 3000, timeoutMs: 10_000 })
  return { status: x.responses[0]?.status ?? 0, ms: x.ms }
}

/** Waits a little for dockerd to finish anything a smuggled request might have started. */
export function settle(ms = 300): Promise<void> {
  return sleep(ms)
}
