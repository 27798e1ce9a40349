// The accept edge: each connection's requests are read by Node's own strict HTTP/1.1
// parser (llhttp, the parser node:http's server runs, reached through Node's
// `_http_common`), and answered in order. node:http's server wraps every request in an
// IncomingMessage and a ServerResponse, streams whose framing dockmoat never uses (relay.ts
// writes dockerd's bytes): measured on /_ping, that machinery cost more per request than
// dockmoat's whole policy. What node:http's server does besides is done here, as it does it:
// Node's header limit (16 KiB: 431) with every lenient flag off; 400 for HTTP/1.1 without
// Host; `100 Continue` when a request that expects it gets its turn, 417 for any other
// Expect; answers in request order (pipelining), the connection closed after one when the
// client asked (Connection: close, HTTP/1.0) or the answer needs it; headers within
// HEADERS_TIMEOUT_MS (408); an idle keep-alive connection closed after KEEP_ALIVE_MS; a
// client's half-close still answered. And, as Go's server (not node:http) answers, 505 for
// an HTTP/0.9 or HTTP/2.0 request line.
import type { IncomingHttpHeaders } from 'node:http'
import type { Socket } from 'node:net'
import { Readable } from 'node:stream'
import { rawResponseHead } from './headers.ts'

interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(bytes: Buffer): number | (Error & { code: string; reason?: string })
  close(): void
  [callback: number]: unknown
}
interface Common {
  HTTPParser: { new(): Parser; REQUEST: number; kOnMessageBegin: number; kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kLenientNone: number }
  methods: string[]
}
const { HTTPParser, methods } = process.getBuiltinModule('_http_common') as Common
// llhttp numbers the methods Node lists, in that order from 0, all but QUERY: that is 46,
// after RTSP's (never read in a request of HTTP mode). Node's server names them from an
// internal list that follows those numbers; `methods` does not (test/unit/http1.test.ts).
const METHOD_NAMES: readonly string[] = Object.assign(methods.filter((name) => name !== 'QUERY'), { 46: 'QUERY' })

const MAX_HEADER_BYTES = 16 * 1024
const HEADERS_TIMEOUT_MS = 30_000
const KEEP_ALIVE_MS = 5_000
// How long a connection closed after an answer may go on sending what it was sending (a
// refused body) before it is cut; closing at once could reset the connection before the
// client reads the answer.
const LINGER_MS = 2_000
// On llhttp's headers-complete: parse no body and stop after this head; execute() returns
// where the head ended. Used for tunnels, and for Content-Length bodies, counted here.
const STOP_AFTER_HEAD = 2
// Answers waiting their turn on one connection before its requests stop being read.
const MAX_QUEUED = 16

/** A request as the parser read it; `headers` combined as node:http combines them. */
export interface Request {
  method: string
  url: string
  httpVersion: '1.0' | '1.1'
  headers: IncomingHttpHeaders
  /** `[name, value, ...]` as sent. */
  rawHeaders: string[]
  socket: Socket
  /** The body, as the parser decodes it (chunked framing removed); ends at once when there is none. */
  readonly body: Readable
  hasBody: boolean
}

export interface Handlers {
  request(req: Request, reply: Reply): void
  /** Whether a request asking to upgrade becomes a raw tunnel (`upgrade`) rather than an exchange. */
  shouldUpgrade(req: Request): boolean
  /** The connection is the tunnel's now: `head` holds the bytes the client sent after the request head. */
  upgrade(req: Request, socket: Socket, head: Buffer): void
  /** Told of a request the parser refused (for the log): http1.ts answers it and closes the connection. */
  malformed(error: { code: string; message: string }): void
}

/** The open connections of a proxy's listeners: their timeouts, and shutdown. */
export class Connections {
  private readonly all = new Set<Connection>()
  private timer: NodeJS.Timeout | undefined
  /** Set by `close`: every connection closes after the answer it is giving. */
  closing = false

  add(socket: Socket, handlers: Handlers): void {
    const connection = new Connection(socket, handlers, this)
    this.all.add(connection)
    this.timer ??= setInterval(() => this.expire(performance.now()), 1000).unref()
  }

  remove(connection: Connection): void {
    this.all.delete(connection)
  }

  /** Ends connections that wait for a request; the others close after their answer. */
  close(): void {
    this.closing = true
    for (const connection of this.all) if (connection.idle()) connection.socket.destroy()
  }

  destroyAll(): void {
    for (const connection of this.all) connection.socket.destroy()
    clearInterval(this.timer)
  }

  private expire(now: number): void {
    for (const connection of this.all) connection.expire(now)
  }
}

class Connection {
  readonly socket: Socket
  private readonly handlers: Handlers
  private readonly connections: Connections
  private readonly parser: Parser
  /** Answers in request order; the first is being written. */
  private readonly queue: Reply[] = []
  /** The request whose body is being read. */
  private reading: Incoming | undefined
  /** Bytes of `reading`'s Content-Length body still to come (counted here, not by the parser). */
  private remaining = 0
  /** A request with a Content-Length body whose head this chunk ended: its body comes next. */
  private counted: Incoming | undefined
  private pendingHeaders: string[] = []
  private pendingUrl = ''
  private headersSince: number
  private idleSince = 0
  private clientEnded = false
  /** No more bytes are parsed: a parse error, an upgrade, or the connection closing. */
  private stopped = false
  /** Requests read after this are ignored: the one before asked to close the connection. */
  private last = false
  /** An upgrade read in this chunk: its head is the rest of the chunk. */
  private tunnel: Reply | undefined
  /** Reading is paused until the client takes its answers (see `backlogged`). */
  private holding = false

  constructor(socket: Socket, handlers: Handlers, connections: Connections) {
    this.socket = socket
    this.handlers = handlers
    this.connections = connections
    this.headersSince = performance.now()
    socket.setNoDelay(true)
    const parser = new HTTPParser()
    parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone)
    parser[HTTPParser.kOnMessageBegin] = () => {
      this.headersSince = performance.now()
      this.idleSince = 0
    }
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
      this.pendingHeaders.push(...headers)
      this.pendingUrl += url
    }
    parser[HTTPParser.kOnHeadersComplete] = this.onHeaders.bind(this)
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.reading?.push(chunk)
    parser[HTTPParser.kOnMessageComplete] = () => {
      // A chunked body's trailers come through kOnHeaders, with the request's URL again:
      // dropped here (as node:http does), or they would become the next request's.
      this.pendingHeaders = []
      this.pendingUrl = ''
      this.reading?.push(null)
      this.reading = undefined
    }
    this.parser = parser
    socket.on('data', this.onData)
    socket.on('end', this.onEnd)
    socket.on('error', () => socket.destroy())
    socket.on('close', this.onClose)
    socket.on('drain', this.release)
  }

  idle(): boolean {
    return this.queue.length === 0 && this.reading === undefined && this.counted === undefined
  }

  expire(now: number): void {
    if (this.headersSince > 0 && now - this.headersSince > HEADERS_TIMEOUT_MS) {
      this.headersSince = 0
      this.refuse(408, 'ERR_HTTP_REQUEST_TIMEOUT', `Request Timeout: no complete request head within ${HEADERS_TIMEOUT_MS / 1000} s`)
    } else if (this.idleSince > 0 && now - this.idleSince > KEEP_ALIVE_MS) {
      this.socket.destroy()
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    // The keep-alive timeout counts from the last byte, as node:http's did: the rest of a
    // refused body may still be arriving after its answer.
    if (this.idleSince > 0) this.idleSince = performance.now()
    let bytes = chunk
    while (!this.stopped && bytes.length > 0) {
      if (this.remaining > 0) {
        bytes = this.countBody(bytes)
        continue
      }
      const parsed = this.parser.execute(bytes)
      if (typeof parsed !== 'number') {
        this.headersSince = 0
        const code = parsed.code
        this.refuse(code === 'HPE_HEADER_OVERFLOW' ? 431 : 400, code, `Parse Error: ${parsed.reason ?? parsed.message}`)
        return
      }
      const tunnel = this.tunnel
      if (tunnel !== undefined) {
        this.tunnel = undefined
        tunnel.tunnelHead = bytes.subarray(parsed)
        this.enqueue(tunnel)
        return
      }
      const counted = this.counted
      if (counted === undefined) break
      // A Content-Length body is bytes to count, nothing to parse: handing it to the
      // parser cost a copy of every chunk (llhttp's on_body copies into a new Buffer).
      this.counted = undefined
      this.reading = counted
      this.remaining = counted.bodyLength
      this.parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone)
      bytes = bytes.subarray(parsed)
    }
    // A client that pipelines and does not read its answers (as node:http's server does):
    // no more of its requests are read while answers queue up or wait in the socket's
    // buffer. Unchecked, one such connection grew the proxy by 800 MiB in 8 s.
    if (!this.stopped && !this.holding && this.backlogged()) {
      this.holding = true
      this.socket.pause()
    }
  }

  /** Passes on what of `bytes` belongs to the body being counted; returns the rest. */
  private countBody(bytes: Buffer): Buffer {
    const request = this.reading!
    const taken = Math.min(this.remaining, bytes.length)
    this.remaining -= taken
    request.push(taken === bytes.length ? bytes : bytes.subarray(0, taken))
    if (this.remaining === 0) {
      this.reading = undefined
      request.push(null)
    }
    return bytes.subarray(taken)
  }

  private backlogged(): boolean {
    return this.queue.length >= MAX_QUEUED || this.socket.writableNeedDrain
  }

  /** Reading goes on when a body's reader asks, unless the connection holds (or stopped). */
  private readonly resumeReading = (): void => {
    if (!this.holding && !this.stopped) this.socket.resume()
  }

  private readonly release = (): void => {
    if (!this.holding || this.stopped || this.backlogged()) return
    this.holding = false
    this.socket.resume()
  }

  private readonly onEnd = (): void => {
    this.clientEnded = true
    // A body cut short by the client's end: what was sent is all there is.
    if (this.reading !== undefined) return void this.socket.destroy()
    if (this.queue.length === 0) this.socket.end()
  }

  private readonly onClose = (): void => {
    this.stopped = true
    this.connections.remove(this)
    this.reading?.destroy()
    for (const reply of this.queue.splice(0)) reply.gone()
    this.parser.close()
  }

  private onHeaders(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _status: unknown, _message: unknown, upgrade: boolean, keepAlive: boolean): number {
    this.headersSince = 0
    const raw = headers ?? this.pendingHeaders
    this.pendingHeaders = []
    const target = url ?? this.pendingUrl
    this.pendingUrl = ''
    if (this.stopped || this.last) return 0
    // llhttp reads HTTP/0.9 and HTTP/2.0 request lines; Go's server answers any major
    // version but 1 with 505 (net/http http1ServerSupportsRequest), and so does dockmoat
    // rather than forward it as HTTP/1.1.
    if (major !== 1) {
      this.refuse(505, 'HPE_INVALID_VERSION', `HTTP Version Not Supported: HTTP/${major}.${minor}`)
      return 0
    }
    const req = new Incoming(METHOD_NAMES[method] ?? '', target, minor === 0 ? '1.0' : '1.1', raw, this.socket, this.resumeReading)
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      this.refuse(400, 'HPE_MISSING_HOST', 'Bad Request: an HTTP/1.1 request needs a Host header')
      return 0
    }
    // After a request that asked to upgrade and was not, nothing more is read (as node:http).
    const asksUpgrade = upgrade || req.headers.upgrade !== undefined
    if (!keepAlive || asksUpgrade) this.last = true
    const reply = new Reply(this, req, keepAlive && !asksUpgrade)
    if (upgrade && this.handlers.shouldUpgrade(req)) {
      this.stopped = true
      this.socket.pause()
      this.tunnel = reply
      return STOP_AFTER_HEAD
    }
    let result = 0
    if (req.bodyLength > 0) {
      this.counted = req
      result = STOP_AFTER_HEAD
    } else if (req.hasBody) {
      this.reading = req
    }
    const expect = req.httpVersion === '1.1' ? req.headers.expect : undefined
    if (expect !== undefined && !/(?:^|\W)100-continue(?:$|\W)/i.test(expect)) {
      reply.continues = false
      this.enqueue(reply)
      reply.json(417, `dockmoat refused ${req.method} ${req.url}: Expect: ${expect} is not understood`)
      return result
    }
    this.enqueue(reply)
    this.handlers.request(req, reply)
    return result
  }

  /** A request the parser could not read (or a head too slow to come): answered in its turn, then closed. */
  private refuse(status: number, code: string, message: string): void {
    this.stopped = true
    // Nothing more is read from it: the kernel's buffers bound what it can still push.
    this.socket.pause()
    this.handlers.malformed({ code, message })
    // A body that cannot be read to its end (bad chunk framing) leaves its request without
    // an answer to wait for: the connection is cut, as node:http cut it.
    if (this.reading !== undefined && this.queue.some((reply) => reply.request === this.reading)) return void this.socket.destroy()
    const reply = new Reply(this, undefined, false)
    this.enqueue(reply)
    reply.json(status, `dockmoat refused a malformed request: ${message}`)
  }

  private enqueue(reply: Reply): void {
    this.queue.push(reply)
    if (this.queue.length === 1) this.begin(reply)
  }

  private begin(reply: Reply): void {
    if (reply.tunnelHead !== undefined) {
      this.queue.length = 0
      this.connections.remove(this)
      this.socket.off('data', this.onData)
      this.socket.off('end', this.onEnd)
      this.socket.off('close', this.onClose)
      this.socket.off('drain', this.release)
      this.parser.close()
      this.handlers.upgrade(reply.request!, this.socket, reply.tunnelHead)
      return
    }
    reply.started(this.socket)
  }

  /** Called by a reply whose answer is complete. */
  finished(reply: Reply): void {
    const request = reply.request
    if (this.queue[0] !== reply) return
    this.queue.shift()
    if (!reply.keepAlive || this.connections.closing) {
      this.stopped = true
      for (const later of this.queue.splice(0)) later.gone()
      this.socket.end()
      setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
      return
    }
    // A body nobody read (a refusal, perhaps made before its first byte was counted): read
    // on past it to the next request.
    if (request !== undefined && (this.reading === request || this.counted === request)) request.discard()
    this.release()
    const next = this.queue[0]
    if (next !== undefined) return this.begin(next)
    if (this.clientEnded) return void this.socket.end()
    this.idleSince = performance.now()
  }
}

class Incoming implements Request {
  readonly method: string
  readonly url: string
  readonly httpVersion: '1.0' | '1.1'
  readonly rawHeaders: string[]
  readonly socket: Socket
  readonly headers: IncomingHttpHeaders
  readonly hasBody: boolean
  /** The Content-Length of a body sent without Transfer-Encoding (llhttp refused both at once); 0 otherwise. */
  readonly bodyLength: number
  private stream: Readable | undefined
  private readonly resume: () => void
  private ended = false
  private discarding = false

  constructor(method: string, url: string, httpVersion: '1.0' | '1.1', rawHeaders: string[], socket: Socket, resume: () => void) {
    this.method = method
    this.url = url
    this.httpVersion = httpVersion
    this.rawHeaders = rawHeaders
    this.socket = socket
    this.resume = resume
    this.headers = combined(rawHeaders)
    const declared = this.headers['transfer-encoding'] === undefined ? Number(this.headers['content-length'] ?? 0) : 0
    // Beyond 2^53 a Number is no longer exact: such a body (9 PB) is left to llhttp's own count.
    this.bodyLength = Number.isSafeInteger(declared) ? declared : 0
    this.hasBody = this.headers['transfer-encoding'] !== undefined || declared > 0
    if (!this.hasBody) this.ended = true
  }

  get body(): Readable {
    if (this.stream === undefined) {
      this.stream = new Readable({ read: () => { this.resume() } })
      if (this.ended) this.stream.push(null)
    }
    return this.stream
  }

  push(chunk: Buffer | null): void {
    if (chunk === null) this.ended = true
    if (this.discarding) return
    // Backpressure: the socket is paused until the body's reader asks for more.
    if (!this.body.push(chunk) && chunk !== null) this.socket.pause()
  }

  discard(): void {
    this.discarding = true
    this.stream?.removeAllListeners('data')
    this.resume()
  }

  /** The client went away before the body ended: its reader sees the stream close without an end. */
  destroy(): void {
    if (!this.ended) this.stream?.destroy()
  }
}

// node:http's IncomingMessage.headers: these keep their first value, set-cookie is a list,
// cookie joins with "; ", every other repeated header with ", ".
const FIRST_WINS = new Set(['content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires'])

function combined(raw: string[]): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    const value = raw[i + 1]!
    const seen = headers[name]
    if (seen === undefined) headers[name] = name === 'set-cookie' ? [value] : value
    else if (name === 'set-cookie') (seen as string[]).push(value)
    else if (!FIRST_WINS.has(name)) headers[name] = `${seen as string}${name === 'cookie' ? '; ' : ', '}${value}`
  }
  return headers as IncomingHttpHeaders
}

const REASONS: Record<number, string> = { 200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large', 417: 'Expectation Failed', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 505: 'HTTP Version Not Supported' }

/** dockmoat's own answers: `{"message": ...}`, which the docker CLI prints. */
export function jsonBody(message: string): string {
  return JSON.stringify({ message }) + '\n'
}

/** The reason phrase of a status dockmoat answers with itself. */
export function reasonOf(status: number): string {
  return REASONS[status] ?? ''
}

/** The answer to one request: written when its turn comes on the connection. */
export class Reply {
  private readonly connection: Connection
  /** The request answered; none for a refusal of what could not be read. */
  readonly request: Incoming | undefined
  /** Whether the connection stays open after this answer. */
  keepAlive: boolean
  /** The status the client got (0 until the head is written). */
  status = 0
  /** The head is written. */
  sent = false
  /** The answer was written whole (false: the connection ended first). */
  complete = false
  socket: Socket | undefined
  continues = false
  /** Set for an upgrade: the bytes after its head, the tunnel's first. */
  tunnelHead: Buffer | undefined
  private start: ((socket: Socket) => void) | undefined
  private readonly done: ((complete: boolean) => void)[] = []
  private over = false

  constructor(connection: Connection, request: Incoming | undefined, keepAlive: boolean) {
    this.connection = connection
    this.request = request
    this.keepAlive = keepAlive
    this.continues = request?.httpVersion === '1.1' && request.headers.expect !== undefined
  }

  /**
   * The Connection header this answer needs: `close` when the connection closes after it,
   * `keep-alive` when an HTTP/1.0 client asked to keep it (without it, such a client waits
   * for the close), none otherwise.
   */
  connectionHeader(): 'close' | 'keep-alive' | undefined {
    if (!this.keepAlive) return 'close'
    return this.request?.httpVersion === '1.0' ? 'keep-alive' : undefined
  }

  /** Runs `start` with the client's socket once the answers before this one are written. */
  ready(start: (socket: Socket) => void): void {
    if (this.socket !== undefined) start(this.socket)
    else this.start = start
  }

  /** Told once, when the answer ends: complete, or cut short by the connection (at once if it already has). */
  onDone(done: (complete: boolean) => void): void {
    if (this.over) done(this.complete)
    else this.done.push(done)
  }

  started(socket: Socket): void {
    this.socket = socket
    if (this.continues) socket.write('HTTP/1.1 100 Continue\r\n\r\n')
    const start = this.start
    this.start = undefined
    start?.(socket)
  }

  /** A whole answer of dockmoat's own. */
  send(status: number, headers: IncomingHttpHeaders, body: string | Buffer): void {
    const write = (): void => {
      if (this.over) return
      const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length
      const connection = this.connectionHeader()
      const text = rawResponseHead(status, reasonOf(status), { ...headers, 'content-length': String(length), ...(connection === undefined ? {} : { connection }) })
      this.status = status
      this.sent = true
      const socket = this.socket!
      socket.cork()
      socket.write(text, 'latin1')
      if (this.request?.method !== 'HEAD' && length > 0) socket.write(body)
      socket.uncork()
      this.end()
    }
    this.ready(write)
  }

  /** An answer of dockmoat's own, `{"message": ...}`. */
  json(status: number, message: string): void {
    this.send(status, { 'content-type': 'application/json' }, jsonBody(message))
  }

  /** The answer is written whole: the connection goes on to the next request (or closes). */
  end(): void {
    if (this.over) return
    this.over = true
    this.complete = true
    this.connection.finished(this)
    for (const done of this.done.splice(0)) done(true)
  }

  /** Cuts the connection (a stream ended on shutdown, a broken answer). */
  destroy(): void {
    this.connection.socket.destroy()
  }

  gone(): void {
    if (this.over) return
    this.over = true
    for (const done of this.done.splice(0)) done(false)
  }
}
