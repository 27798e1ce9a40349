// Where an HTTP/1.1 answer of dockerd ends, read off its bytes as they pass (RFC 9112 §6):
// the head, then no body (HEAD, 1xx, 204, 304), Content-Length bytes, chunks, or the rest
// of the connection. Pure and incremental: bytes in, positions out; nothing is copied.

export interface Head {
  status: number
  reason: string
  /** The status line's HTTP version. */
  version: '1.0' | '1.1'
  /** `[name, value]` in order, names as sent. */
  headers: [string, string][]
  /** The same names lowercased, index for index: every later look at a name uses these. */
  names: string[]
  /** Bytes of the status line and headers, the blank line included. */
  length: number
}

const MAX_HEAD = 64 * 1024
const MAX_CHUNK_LINE = 1024
const HEAD_END = Buffer.from('\r\n\r\n')

/** The head at the start of `bytes`; undefined while incomplete; a string says why it is not HTTP. */
export function parseHead(bytes: Buffer): Head | undefined | string {
  const end = bytes.indexOf(HEAD_END)
  if (end === -1) return bytes.length > MAX_HEAD ? 'a response head larger than 64 KiB' : undefined
  const text = bytes.toString('latin1', 0, end)
  // One pass over the lines (this runs for every answer relayed).
  let stop = text.indexOf('\r\n')
  if (stop === -1) stop = text.length
  const status = /^HTTP\/1\.([01]) ([0-9]{3})(?: (.*))?$/.exec(text.slice(0, stop))
  if (status === null) return `not an HTTP/1.1 status line: ${JSON.stringify(text.slice(0, Math.min(stop, 80)))}`
  const headers: [string, string][] = []
  const names: string[] = []
  for (let start = stop + 2; start <= text.length; start = stop + 2) {
    stop = text.indexOf('\r\n', start)
    if (stop === -1) stop = text.length
    const colon = text.indexOf(':', start)
    const name = colon === -1 || colon >= stop ? '' : text.slice(start, colon)
    if (name === '' || /\s/.test(name)) return `a malformed header line: ${JSON.stringify(text.slice(start, Math.min(stop, start + 80)))}`
    headers.push([name, text.slice(colon + 1, stop).trim()])
    names.push(name.toLowerCase())
  }
  return { status: Number(status[2]), reason: status[3] ?? '', version: status[1] === '0' ? '1.0' : '1.1', headers, names, length: end + 4 }
}

/** The values of every header named `lower` (lowercase), in order. */
export function valuesOf(head: Pick<Head, 'headers' | 'names'>, lower: string): string[] {
  const values: string[] = []
  for (let i = 0; i < head.names.length; i++) if (head.names[i] === lower) values.push(head.headers[i]![1])
  return values
}

export type BodyMode = { kind: 'none' } | { kind: 'length'; bytes: number } | { kind: 'chunked' } | { kind: 'close' }

/** How the body after `head` is framed, for a request of `method`; a string when dockerd sent contradictory framing. */
export function bodyMode(head: Head, method: string): BodyMode | string {
  if (method === 'HEAD' || (head.status >= 100 && head.status < 200) || head.status === 204 || head.status === 304) return { kind: 'none' }
  const encoding = valuesOf(head, 'transfer-encoding')
  const lengths = valuesOf(head, 'content-length')
  if (encoding.length > 0) {
    if (lengths.length > 0) return 'both Transfer-Encoding and Content-Length'
    return encoding.join(',').split(',').map((t) => t.trim().toLowerCase()).at(-1) === 'chunked' ? { kind: 'chunked' } : { kind: 'close' }
  }
  if (lengths.length === 0) return { kind: 'close' }
  if (lengths.some((each) => each !== lengths[0]) || !/^[0-9]{1,15}$/.test(lengths[0]!)) return `an invalid Content-Length ${JSON.stringify(lengths.join(', '))}`
  return { kind: 'length', bytes: Number(lengths[0]) }
}

type ChunkState = 'size' | 'data' | 'data-crlf' | 'trailer'

/**
 * Follows a body through its bytes. `scan` returns how many of the bytes belong to the
 * body, and `done` tells when it ended; `onData` gets the body's payload (chunks decoded).
 */
export class BodyScanner {
  done = false
  problem: string | undefined
  /** Payload bytes seen so far (chunk framing not counted): what a client reads as the body. */
  payload = 0
  private remaining: number
  private state: ChunkState = 'size'
  private line = ''
  private readonly mode: BodyMode
  private readonly onData: ((payload: Buffer) => void) | undefined

  constructor(mode: BodyMode, onData?: (payload: Buffer) => void) {
    this.mode = mode
    this.onData = onData
    this.remaining = mode.kind === 'length' ? mode.bytes : 0
    this.done = mode.kind === 'none' || (mode.kind === 'length' && mode.bytes === 0)
  }

  get closeDelimited(): boolean {
    return this.mode.kind === 'close'
  }

  scan(bytes: Buffer): number {
    if (this.done || this.problem !== undefined) return 0
    switch (this.mode.kind) {
      case 'none':
        return 0
      case 'close':
        this.payload += bytes.length
        this.onData?.(bytes)
        return bytes.length
      case 'length': {
        const taken = Math.min(this.remaining, bytes.length)
        this.payload += taken
        this.onData?.(bytes.subarray(0, taken))
        this.remaining -= taken
        this.done = this.remaining === 0
        return taken
      }
      case 'chunked':
        return this.scanChunks(bytes)
    }
  }

  private scanChunks(bytes: Buffer): number {
    let at = 0
    while (at < bytes.length && !this.done) {
      if (this.state === 'data') {
        const taken = Math.min(this.remaining, bytes.length - at)
        this.payload += taken
        this.onData?.(bytes.subarray(at, at + taken))
        at += taken
        this.remaining -= taken
        if (this.remaining === 0) this.state = 'data-crlf'
        continue
      }
      const newline = bytes.indexOf(10, at)
      const piece = bytes.toString('latin1', at, newline === -1 ? bytes.length : newline + 1)
      at = newline === -1 ? bytes.length : newline + 1
      this.line += piece
      if (this.line.length > MAX_CHUNK_LINE) return this.fail('a chunk line longer than 1 KiB')
      if (newline === -1) break
      const line = this.line.replace(/\r?\n$/, '')
      this.line = ''
      if (this.state === 'data-crlf') {
        if (line !== '') return this.fail('chunk data longer than its size')
        this.state = 'size'
      } else if (this.state === 'size') {
        const size = /^([0-9A-Fa-f]{1,12})(?:;.*)?$/.exec(line)
        if (size === null) return this.fail(`an invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`)
        this.remaining = Number.parseInt(size[1]!, 16)
        this.state = this.remaining === 0 ? 'trailer' : 'data'
      } else if (line === '') {
        this.done = true
      }
    }
    return at
  }

  private fail(problem: string): number {
    this.problem = problem
    return 0
  }
}
