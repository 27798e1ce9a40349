// Asks the real dockerd how it reads a (method, request-target) pair, and interprets the
// answer. The request line is written byte for byte on a raw unix-socket connection
// (node:net, latin1): no HTTP library gets a chance to normalise the target.
//
// What dockerd 20.10 answers, found empirically (and re-checked by the conformance suite's
// "oracle calibration" test before it relies on any of it):
//   routed            a route's handler ran: the answer carries `Api-Version` (every
//                     route is wrapped by the middleware that sets it), or it is the raw
//                     stream of a hijacking handler (`POST /containers/x/attach` answers a
//                     missing container with a hand-written `404`, Content-Type
//                     application/vnd.docker.raw-stream and no Api-Version).
//   version-rejected  a route matched, but the version middleware refused the prefix
//                     (`/v1.99/...`, `/v1..41/...`: 400 "client version ... is too new/old")
//                     before the handler ran.
//   not-routed        the router's own 404 `{"message":"page not found"}` without
//                     Api-Version (no route, a wrong method, `/V1.41`, `/v/`, a trailing
//                     slash; for HEAD the same 404 comes as text/plain), a 405, or Go's
//                     built-in answer to `OPTIONS *`.
//   redirect          301 with Location: the cleaned path differs (`//`, `/./`, `/../`,
//                     `%2e%2e`, an empty absolute-form path); nothing ran.
//   bad-request       Go's server refused the request line itself (400 without
//                     Api-Version: invalid escape, control byte, bad host).
// Which route ran is read from the error message where it names the parsed variable:
//   No such container: X | Cannot kill container: X: ... | No such exec instance: X |
//   No such image: X | get X: no such volume | network X not found | plugin "X" not found |
//   service|node|task|secret|config X not found
// and from route-specific answers (501 experimental = checkpoints, 503 "not a swarm
// manager" = the swarm family, "Unknown profile" = /debug/pprof/{name}, "you must choose
// at least one stream" = a logs route, OPTIONS 200 = the OPTIONS route).

import net from 'node:net'
import { DOCKER_SOCKET } from '../helpers/docker.ts'

export interface Answer {
  method: string
  target: string
  /** 0 when there was no (parsable) answer. */
  status: number
  headers: Record<string, string>
  body: string
  /** The `message` of a JSON error body, else the trimmed text of the body. */
  message: string
  ms: number
  /** Set when the exchange failed (timeout, connection error, unparsable answer). */
  error?: string
}

export interface AskOptions {
  socketPath?: string
  /** Ask a TCP listener on 127.0.0.1 instead (a running dockmoat), with the same bytes. */
  port?: number
  timeoutMs?: number
}

const MAX_BODY = 64 * 1024

/** Sends `METHOD TARGET HTTP/1.1` to dockerd, byte for byte, with an empty body. */
export function ask(method: string, target: string, options: AskOptions = {}): Promise<Answer> {
  const socketPath = options.socketPath ?? DOCKER_SOCKET
  const timeoutMs = options.timeoutMs ?? 10_000
  const started = performance.now()
  return new Promise((resolve) => {
    const socket = options.port !== undefined ? net.connect(options.port, '127.0.0.1') : net.connect(socketPath)
    let buffer = Buffer.alloc(0)
    let finished = false
    const finish = (error?: string): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      socket.destroy()
      resolve(parseAnswer(method, target, buffer, performance.now() - started, error))
    }
    const timer = setTimeout(() => finish(`no complete answer within ${timeoutMs} ms`), timeoutMs)
    socket.on('connect', () => {
      const head = `${method} ${target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockmoat-conformance\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`
      socket.write(Buffer.from(head, 'latin1'))
    })
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      if (isComplete(method, buffer)) finish()
    })
    socket.on('end', () => finish())
    socket.on('close', () => finish())
    socket.on('error', (error) => finish(error.message))
  })
}

/** Enough has arrived to judge: the head, and the body of an error answer. */
function isComplete(method: string, buffer: Buffer): boolean {
  const end = buffer.indexOf('\r\n\r\n')
  if (end === -1) return buffer.length > MAX_BODY
  const head = buffer.subarray(0, end).toString('latin1')
  const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(head)?.[1] ?? 0)
  // Successful answers may be endless streams (events, stats, image export): the head is enough.
  if (method === 'HEAD' || status < 400) return true
  const body = buffer.length - end - 4
  if (body > MAX_BODY) return true
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)
  if (length) return body >= Number(length[1])
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return buffer.subarray(end + 4).includes('\r\n0\r\n\r\n') || buffer.subarray(end + 4).toString('latin1').startsWith('0\r\n\r\n')
  return false // body until close (hijacked error answers)
}

function parseAnswer(method: string, target: string, buffer: Buffer, ms: number, error?: string): Answer {
  const text = buffer.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const head = end === -1 ? text : text.slice(0, end)
  const statusLine = /^HTTP\/\d\.\d (\d{3})/.exec(head)
  const headers: Record<string, string> = {}
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  // Bodies are UTF-8 (Go's JSON writes invalid bytes as U+FFFD): decode them as such.
  let raw = end === -1 ? '' : text.slice(end + 4)
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) raw = dechunk(raw)
  const body = Buffer.from(raw, 'latin1').toString('utf8')
  const status = statusLine ? Number(statusLine[1]) : 0
  const rawStream = headers['content-type'] === 'application/vnd.docker.raw-stream'
  const answer: Answer = { method, target, status, headers, body, message: messageOf(body, rawStream), ms }
  if (status === 0) answer.error = error ?? `unparsable answer: ${JSON.stringify(text.slice(0, 120))}`
  else if (error !== undefined && end === -1) answer.error = error
  return answer
}

function dechunk(body: string): string {
  let out = ''
  let i = 0
  while (i < body.length) {
    const eol = body.indexOf('\r\n', i)
    if (eol === -1) break
    const size = parseInt(body.slice(i, eol), 16)
    if (!Number.isFinite(size) || size === 0) break
    out += body.slice(eol + 2, eol + 2 + size)
    i = eol + 2 + size + 2
  }
  return out
}

function messageOf(body: string, rawStream: boolean): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown }
    if (parsed !== null && typeof parsed === 'object' && typeof parsed.message === 'string') return parsed.message
  } catch {
    // not JSON
  }
  // Plain-text errors end with "\n" (http.Error), hijacked ones with "\r\n"; anything
  // else (a name ending in a space or CR) belongs to the message.
  return body.replace(rawStream ? /\r\n$/ : /\n$/, '')
}

// ---------------------------------------------------------------------------------------
// Interpretation

export type Category = 'routed' | 'version-rejected' | 'not-routed' | 'redirect' | 'bad-request' | 'unknown' | 'no-answer'

export function categorize(answer: Answer): Category {
  if (answer.status === 0) return 'no-answer'
  const api = answer.headers['api-version'] !== undefined
  const rawStream = answer.headers['content-type'] === 'application/vnd.docker.raw-stream'
  if (api) {
    if (answer.status === 400 && /^client version \S* is too (old|new)/.test(answer.message)) return 'version-rejected'
    return 'routed'
  }
  if (rawStream) return 'routed'
  if (answer.status === 301 || answer.status === 308) return 'redirect'
  if (answer.status === 404 && answer.message === 'page not found') return 'not-routed'
  // HEAD answers have no body to read the message from; the router's 404 is the only
  // 404 without Api-Version (it is written as text/plain "page not found\n" for HEAD).
  if (answer.status === 404 && answer.method === 'HEAD') return 'not-routed'
  if (answer.status === 405) return 'not-routed'
  if (answer.status === 200 && answer.method === 'OPTIONS' && answer.target === '*') return 'not-routed'
  if (answer.status === 400 || answer.status === 414 || answer.status === 431 || answer.status === 505) return 'bad-request'
  return 'unknown'
}

export type NamedFamily = 'container' | 'exec' | 'image' | 'volume' | 'network' | 'plugin' | 'service' | 'node' | 'task' | 'secret' | 'config'

/** What dockerd's answer reveals about the route that ran. */
export interface Evidence {
  /** Short description, for grouping failures. */
  label: string
  /** The kind of object whose name dockerd parsed out of the path, and that name. */
  family?: NamedFamily
  name?: string
  /** Another spelling of the same name in the same message (dockerd's normalised reference). */
  alternative?: string
  /** The route that ran has a template (moby's own spelling) matching this. */
  template?: RegExp
  /** And this method. */
  method?: string
}

const NAMED: readonly [RegExp, NamedFamily, string][] = [
  [/^Cannot kill container: ([^]*): No such container: \1$/, 'container', 'kill: no such container'],
  [/^No such container: ([^]*)$/, 'container', 'no such container'],
  [/^No such exec instance: ([^]*)$/, 'exec', 'no such exec instance'],
  [/^no such image: ([^]*): No such image: ([^]*)$/, 'image', 'image inspect: no such image'],
  [/^No such image: ([^]*)$/, 'image', 'no such image'],
  [/^get ([^]*): no such volume$/, 'volume', 'no such volume'],
  [/^network ([^]*) not found$/, 'network', 'network not found'],
  [/^plugin ("(?:[^"\\]|\\.)*") not found$/, 'plugin', 'plugin not found'],
  [/^(?:service|node|task|secret|config) ([^]*) not found$/, 'service', 'swarm object not found'],
]

export function evidence(answer: Answer): Evidence | undefined {
  const message = answer.message
  if (answer.headers['content-type'] === 'application/vnd.docker.raw-stream' && answer.headers['api-version'] === undefined) {
    const m = /^No such container: ([^]*)$/.exec(message)
    return { label: 'attach: hijacked answer', template: /\/attach$/, method: 'POST', ...(m ? { family: 'container' as const, name: m[1]! } : {}) }
  }
  for (const [re, family, label] of NAMED) {
    const m = re.exec(message)
    if (!m) continue
    const named: Evidence = { label, family, name: family === 'plugin' ? goUnquote(m[1]!) : m[1]! }
    if (m[2] !== undefined) named.alternative = m[2]
    if (label.startsWith('kill')) named.template = /\/kill$/
    if (label.startsWith('image inspect')) named.template = /^\/images\/\{[^}]+\}\/json$/
    if (family === 'service') {
      const kind = /^(service|node|task|secret|config) /.exec(message)![1]!
      named.family = kind as NamedFamily
    }
    return named
  }
  if (answer.status === 501 && /experimental feature is disabled/.test(message)) return { label: 'experimental (checkpoints)', template: /\/checkpoints/ }
  if (answer.status === 503 && /not a swarm manager/.test(message)) return { label: 'swarm inactive', template: /^\/(swarm|services|nodes|tasks|secrets|configs)(\/|$)/ }
  if (/^Unknown profile/.test(message)) return { label: 'pprof unknown profile', template: /^\/debug\/pprof\/\{name\}$/ }
  if (/you must choose at least one stream/.test(message)) return { label: 'logs', template: /\/logs$/ }
  if (answer.method === 'OPTIONS' && answer.status === 200 && answer.headers['api-version'] !== undefined) return { label: 'OPTIONS', method: 'OPTIONS' }
  return undefined
}

/** Undoes Go's `%q` quoting (the plugin store quotes names in its messages). */
export function goUnquote(quoted: string): string {
  const inner = quoted.startsWith('"') && quoted.endsWith('"') ? quoted.slice(1, -1) : quoted
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" }
  return inner.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (_, e: string) => {
    // `\xHH` is a non-printable ASCII byte, or (from 0x80) a byte that is not UTF-8,
    // which the comparison spells U+FFFD.
    if (e[0] === 'x') {
      const byte = parseInt(e.slice(1), 16)
      return byte < 0x80 ? String.fromCharCode(byte) : '\uFFFD'
    }
    if (/^[0-7]{3}$/.test(e)) {
      const byte = parseInt(e, 8)
      return byte < 0x80 ? String.fromCharCode(byte) : '\uFFFD'
    }
    if (e[0] === 'u' || e[0] === 'U') return String.fromCodePoint(parseInt(e.slice(1), 16))
    return simple[e] ?? e
  })
}
