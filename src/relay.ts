// The way back, byte for byte: the request (already judged) is written to a raw
// connection to dockerd, and dockerd's answer is copied to the client's socket as it
// arrives. Only the head is parsed (to drop hop-by-hop headers; with none, its bytes go as
// they came); framing.ts follows the body to know where the answer ends, so keep-alive
// and pipelining go on (http1.ts).
import net, { type Socket } from 'node:net'
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { bodyMode, BodyScanner, parseHead, type BodyMode, type Head } from './framing.ts'
import { closesAfter, relayedHeaders } from './headers.ts'
import type { Reply } from './http1.ts'

const IDLE_MS = 4000

/** Idle keep-alive connections to dockerd's socket. */
export class UpstreamSockets {
  private readonly idle: Socket[] = []
  private readonly socketPath: string

  constructor(socketPath: string) {
    this.socketPath = socketPath
  }

  /** An idle connection (`reused`), or a new one. */
  take(): { socket: Socket; reused: boolean } {
    for (let socket = this.idle.pop(); socket !== undefined; socket = this.idle.pop()) {
      if (!usable(socket)) {
        socket.destroy()
        continue
      }
      socket.removeAllListeners('close')
      socket.removeAllListeners('error')
      socket.removeAllListeners('timeout')
      socket.setTimeout(0)
      return { socket, reused: true }
    }
    const fresh = net.connect(this.socketPath)
    fresh.setNoDelay(true)
    return { socket: fresh, reused: false }
  }

  give(socket: Socket): void {
    if (!usable(socket) || this.idle.length >= 64) return void socket.destroy()
    socket.removeAllListeners('data')
    socket.removeAllListeners('end')
    socket.removeAllListeners('error')
    socket.removeAllListeners('close')
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      const at = this.idle.indexOf(socket)
      if (at !== -1) this.idle.splice(at, 1)
    })
    // As undici does: an idle connection is dropped after a while, so a dockerd that went
    // away (or a socket path that now leads elsewhere) is noticed at the next call.
    socket.setTimeout(IDLE_MS, () => socket.destroy())
    this.idle.push(socket)
  }

  destroy(): void {
    for (const socket of this.idle.splice(0)) socket.destroy()
  }
}

/** Open both ways: dockerd has not ended it, nor have we. */
function usable(socket: Socket): boolean {
  return !socket.destroyed && !socket.readableEnded && !socket.writableEnded
}

/**
 * Whether a request that met a dead pooled connection may be sent again: only GET and
 * HEAD without a streamed body, as Go's Transport retries (a POST may have run before the
 * connection died).
 */
function replayable(method: string, body: RelayRequest['body']): boolean {
  return (method === 'GET' || method === 'HEAD') && (body === undefined || Buffer.isBuffer(body))
}

export interface Relayed {
  /** Bytes of the answer's body relayed to the client. */
  onBytes(count: number): void
  /** dockerd could not be reached or did not answer HTTP before its head: answer 502. */
  onUnanswered(error: Error): void
}

export interface RelayRequest {
  method: string
  path: string
  /** `[name, value, ...]` without hop-by-hop headers. */
  headers: string[]
  /** The judged body, or the request's body stream. */
  body: Buffer | Readable | undefined
  /** The client's Content-Length, for a streamed body: without one it goes on chunked. */
  declaredLength?: string | undefined
  http10: boolean
  /** Judges each line of a JSON-lines body (OWNER's event stream and builds). */
  lines?: LineFilter
}

/** What OWNER makes of a JSON-lines answer: the lines it keeps, and any it adds at the end. */
export interface LineFilter {
  keep(line: string): Promise<boolean>
  /** Lines (JSON, no newline) written after dockerd's last, once every line was judged. */
  end?(): Promise<string[]>
}

/**
 * Sends `request` to dockerd and relays its answer to the client as `reply`. Returns a
 * function that aborts the exchange (the client went away, or shutdown).
 */
export function relay(pool: UpstreamSockets, request: RelayRequest, reply: Reply, hooks: Relayed): (reason?: Error) => void {
  let stopAttempt: (() => void) | undefined
  let aborted = false
  const abort = (): void => {
    aborted = true
    stopAttempt?.()
  }
  // A pipelined request's answer waits for the ones before it (http1.ts).
  reply.ready((client) => {
    // A client gone while its request was being judged (an ownership lookup): dockerd is not asked.
    if (aborted || client.destroyed) return
    attempt(pool, request, reply, client, hooks, (stop) => { stopAttempt = stop }, true)
  })
  return abort
}

/** One try on one connection to dockerd; `onStart` gets what ends it early (a no-op once it is over). */
function attempt(pool: UpstreamSockets, request: RelayRequest, reply: Reply, client: Socket, hooks: Relayed, onStart: (stop: () => void) => void, mayRetry: boolean): void {
  const { socket, reused } = pool.take()
  let pending: Buffer = NOTHING
  let head: Head | undefined
  let scanner: BodyScanner | undefined
  let requestSent = request.body === undefined || Buffer.isBuffer(request.body)
  let lineFilter: ReturnType<typeof filterLines> | undefined
  let finished = false
  /** dockerd keeps the connection open after its answer (no `Connection: close`). */
  let reusable = true
  // Once the exchange is over its connection may be back in the pool, another client's:
  // an abort then (the client going away while its events' last lines are judged) must
  // leave it alone.
  onStart(() => {
    if (finished) return
    finished = true
    socket.destroy()
  })

  // Reading from dockerd waits while the client's socket is full.
  const resumeUpstream = (): void => { socket.resume() }
  const finish = (keepUpstream: boolean): void => {
    if (finished) return
    finished = true
    socket.removeAllListeners('data')
    // An answer whose last bytes filled the client's socket ends with dockerd's connection
    // paused: it goes back to the pool reading again, or the next exchange on it (another
    // client's) would wait for this client to read.
    client.off('drain', resumeUpstream)
    socket.resume()
    if (keepUpstream && reusable && requestSent && !request.http10) pool.give(socket)
    else socket.destroy()
    const done = (): void => {
      if (!client.destroyed) reply.end()
    }
    if (lineFilter !== undefined) lineFilter.end(done)
    else done()
  }

  /** How many of `bytes` belong to the body (-1: dockerd broke its framing), counted as relayed. */
  const takeBody = (bytes: Buffer): number => {
    const before = scanner!.payload
    const taken = scanner!.scan(bytes)
    if (scanner!.problem !== undefined) return -1
    if (lineFilter === undefined) hooks.onBytes(scanner!.payload - before)
    return taken
  }
  const send = (bytes: Buffer): void => {
    if (!client.write(bytes) && !socket.isPaused()) {
      socket.pause()
      client.once('drain', resumeUpstream)
    }
  }
  const relayBody = (bytes: Buffer): void => {
    const taken = takeBody(bytes)
    if (taken === -1) return broken()
    if (lineFilter === undefined && taken > 0) send(taken === bytes.length ? bytes : bytes.subarray(0, taken))
    if (scanner!.done) finish(taken === bytes.length)
  }

  // After the head went out, a misbehaving dockerd can only end the client's connection:
  // never can bytes of a next answer reach it.
  const broken = (): void => {
    finished = true
    socket.destroy()
    client.destroy()
  }

  socket.on('data', (chunk: Buffer) => {
    if (head !== undefined) return relayBody(chunk)
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    const found = finalHead(pending, request.method)
    if (found === undefined) return
    if (found instanceof Error) return unanswered(found)
    const { head: parsed, mode } = found
    head = parsed
    reusable = !closesAfter(parsed)
    const closeDelimited = mode.kind === 'close'
    if (closeDelimited) reply.keepAlive = false
    if (request.lines !== undefined && parsed.status === 200 && (mode.kind === 'chunked' || closeDelimited)) {
      lineFilter = filterLines(request.lines, mode.kind === 'chunked', (text) => {
        hooks.onBytes(Buffer.byteLength(text))
        return client.write(text)
      }, client)
    }
    scanner = new BodyScanner(mode, lineFilter === undefined ? undefined : (payload) => lineFilter!.push(payload))
    const rest = found.rest
    // The connection closes after this answer when the client asked so (Connection: close,
    // HTTP/1.0) or the body is close-delimited.
    const connection = reply.connectionHeader()
    const relayed = relayedHeaders(parsed)
    reply.status = parsed.status
    reply.sent = true
    const taken = scanner.done || rest.length === 0 ? 0 : takeBody(rest)
    const body = lineFilter === undefined && taken > 0 ? taken : 0
    // The head and the body bytes that came with it leave in one write: a write to the
    // client's socket is the largest single cost of a small answer. dockerd's own bytes,
    // when there is nothing in its head to drop or add (the usual answer).
    const headStart = pending.length - rest.length - parsed.length
    if (connection === undefined && relayed === parsed.headers && parsed.version === '1.1') {
      send(pending.subarray(headStart, headStart + parsed.length + body))
    } else {
      client.cork()
      client.write(clientHead(parsed, relayed, connection), 'latin1')
      if (body > 0) send(rest.subarray(0, body))
      client.uncork()
    }
    pending = NOTHING
    // What was relayed before a fault in the first chunk (the head) has gone out first.
    if (taken === -1) return broken()
    // The answer's bytes leave first; ending the exchange (the pool, the next pipelined
    // answer, the log line) is not what the client waits for.
    if (scanner.done) finish(taken === rest.length)
  })
  socket.on('end', () => {
    if (finished) return
    if (head === undefined) return unanswered(new Error('dockerd closed the connection before answering'))
    // A close-delimited body ends here; any other is cut short.
    if (scanner?.closeDelimited === true) finish(false)
    else broken()
  })
  socket.on('error', (error: Error) => {
    if (finished) return
    if (head === undefined) unanswered(error)
    else broken()
  })
  // Closed under the exchange with neither an end nor an error.
  socket.on('close', () => {
    if (finished) return
    if (head === undefined) {
      finished = true
      hooks.onUnanswered(new Error('the connection to dockerd closed before it answered'))
    } else broken()
  })

  function unanswered(error: Error): void {
    if (finished) return
    finished = true
    socket.destroy()
    // An idle connection dockerd had closed: the request, if it can be sent again, is.
    if (reused && mayRetry && head === undefined && pending.length === 0 && replayable(request.method, request.body)) {
      attempt(pool, request, reply, client, hooks, onStart, false)
      return
    }
    hooks.onUnanswered(error)
  }

  const framing: string[] = []
  const body = request.body
  if (Buffer.isBuffer(body)) framing.push('Content-Length', String(body.length))
  const streamed = body !== undefined && !Buffer.isBuffer(body)
  const declared = streamed ? request.declaredLength : undefined
  if (streamed) framing.push(...(declared !== undefined ? ['Content-Length', declared] : ['Transfer-Encoding', 'chunked']))
  // Node decodes the client's head as latin1, one character per byte: written back byte for byte.
  socket.write(requestHead(request, framing), 'latin1')
  if (Buffer.isBuffer(body)) {
    if (body.length > 0) socket.write(body)
  } else if (streamed) {
    const chunked = declared === undefined
    let corked = false
    body.on('data', (chunk: Buffer) => {
      if (socket.destroyed) return
      let ok: boolean
      if (chunked) {
        // The chunks the parser found in one read of the client's socket leave in one
        // write (cork until the read is handled), each framed without copying its payload.
        if (!corked) {
          corked = true
          socket.cork()
          process.nextTick(() => {
            corked = false
            socket.uncork()
          })
        }
        socket.write(`${chunk.length.toString(16)}\r\n`)
        socket.write(chunk)
        ok = socket.write(CRLF)
      } else {
        ok = socket.write(chunk)
      }
      if (!ok) {
        body.pause()
        socket.once('drain', () => body.resume())
      }
    })
    body.on('end', () => {
      if (chunked && !socket.destroyed) socket.write('0\r\n\r\n')
      requestSent = true
    })
  }
}

const CRLF = Buffer.from('\r\n')
const NOTHING = Buffer.alloc(0)

/**
 * dockerd's final head at the start of `bytes` (interim 1xx heads, which it sends only
 * when asked, skipped), its body framing and the bytes after it; undefined while
 * incomplete; an Error when the answer is not usable HTTP.
 */
function finalHead(bytes: Buffer, method: string): { head: Head; mode: BodyMode; rest: Buffer } | undefined | Error {
  for (;;) {
    const parsed = parseHead(bytes)
    if (parsed === undefined) return undefined
    if (typeof parsed === 'string') return new Error(`dockerd's answer is not HTTP: ${parsed}`)
    bytes = bytes.subarray(parsed.length)
    if (parsed.status >= 100 && parsed.status < 200) continue
    const mode = bodyMode(parsed, method)
    if (typeof mode === 'string') return new Error(`dockerd's answer has ${mode}`)
    return { head: parsed, mode, rest: bytes }
  }
}

function requestHead(request: RelayRequest, framing: string[]): string {
  const lines = [`${request.method} ${request.path} HTTP/1.${request.http10 ? 0 : 1}`]
  let host = false
  const all = [...request.headers, ...framing]
  for (let i = 0; i < all.length; i += 2) {
    if (all[i]!.toLowerCase() === 'host') host = true
    lines.push(`${all[i]}: ${all[i + 1]}`)
  }
  // Go's server refuses an HTTP/1.1 request without a Host.
  if (!host) lines.push('Host: docker')
  return lines.join('\r\n') + '\r\n\r\n'
}

function clientHead(head: Head, relayed: readonly (readonly [string, string])[], connection: string | undefined): string {
  const lines = [`HTTP/1.1 ${head.status} ${head.reason}`, ...relayed.map(([name, value]) => `${name}: ${value}`)]
  if (connection !== undefined) lines.push(`Connection: ${connection}`)
  return lines.join('\r\n') + '\r\n\r\n'
}

/**
 * A JSON-lines body passed on line by line, in order, keeping only what `filter` allows,
 * then the lines it adds; re-chunked when dockerd chunked it. dockerd is not paused here
 * (events and build output are small next to a client's read rate); a line that cannot be
 * judged is dropped.
 */
function filterLines(filter: LineFilter, chunked: boolean, write: (text: string) => boolean, client: Socket) {
  const decoder = new StringDecoder('utf8')
  let partial = ''
  let queue = Promise.resolve()
  const judge = async (line: string): Promise<void> => {
    let kept = false
    try {
      kept = await filter.keep(line)
    } catch {
      kept = false
    }
    if (kept) send(line)
  }
  const send = (line: string): void => {
    if (client.destroyed) return
    const text = line + '\n'
    write(chunked ? `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n` : text)
  }
  return {
    push(payload: Buffer): void {
      const lines = (partial + decoder.write(payload)).split('\n')
      partial = lines.pop()!
      for (const line of lines) if (line.trim() !== '') queue = queue.then(() => judge(line))
    },
    end(done: () => void): void {
      const last = partial + decoder.end()
      if (last.trim() !== '') {
        queue = queue.then(() => judge(last))
      }
      void queue.then(async () => {
        for (const line of await filter.end?.().catch(() => []) ?? []) send(line)
        if (chunked && !client.destroyed) write('0\r\n\r\n')
        done()
      })
    },
  }
}

/** A whole answer of dockerd to one of dockmoat's own requests. */
export interface Asked { status: number; headers: Record<string, string>; body: Buffer }

/**
 * One request of dockmoat's own (health, ownership lookups), answered whole, on the same
 * connections as the relay. Rejects when dockerd cannot be reached, answers no HTTP, or
 * takes longer than `timeoutMs`.
 */
export function ask(pool: UpstreamSockets, method: string, path: string, body: string | undefined, timeoutMs: number, mayRetry = true): Promise<Asked> {
  return new Promise((resolve, reject) => {
    const { socket, reused } = pool.take()
    let pending: Buffer = NOTHING
    let head: Head | undefined
    let scanner: BodyScanner | undefined
    const chunks: Buffer[] = []
    let settled = false
    // A dead pooled connection (not a timeout: dockerd may still be working on it) is
    // tried once more, for a GET.
    const fail = (error: Error, retry = true): void => {
      if (settled) return
      settled = true
      socket.destroy()
      if (retry && reused && mayRetry && head === undefined && pending.length === 0 && replayable(method, undefined)) ask(pool, method, path, body, timeoutMs, false).then(resolve, reject)
      else reject(error)
    }
    const done = (rest: number): void => {
      settled = true
      socket.setTimeout(0)
      if (rest === 0 && !scanner!.closeDelimited && !closesAfter(head!)) pool.give(socket)
      else socket.destroy()
      const headers: Record<string, string> = {}
      head!.headers.forEach(([, value], i) => { headers[head!.names[i]!] = value })
      resolve({ status: head!.status, headers, body: Buffer.concat(chunks) })
    }
    socket.setTimeout(timeoutMs, () => fail(new Error(`no answer within ${timeoutMs} ms`), false))
    socket.on('data', (chunk: Buffer) => {
      if (settled) return
      let bytes = chunk
      if (head === undefined) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
        const found = finalHead(pending, method)
        if (found === undefined) return
        if (found instanceof Error) return fail(found)
        head = found.head
        scanner = new BodyScanner(found.mode, (payload) => chunks.push(Buffer.from(payload)))
        bytes = found.rest
        if (scanner.done) return done(bytes.length)
      }
      const taken = scanner!.scan(bytes)
      if (scanner!.problem !== undefined) return fail(new Error(`dockerd's answer is broken: ${scanner!.problem}`))
      if (scanner!.done) done(bytes.length - taken)
    })
    socket.on('end', () => {
      if (settled) return
      if (scanner?.closeDelimited === true) return done(1)
      fail(new Error(head === undefined ? 'dockerd closed the connection before answering' : 'dockerd closed the connection in the middle of its answer'))
    })
    socket.on('error', fail)
    const framing = body === undefined ? [] : ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body))]
    socket.write(requestHead({ method, path, headers: [], body: undefined, http10: false }, framing) + (body ?? ''))
  })
}
