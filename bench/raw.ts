// A minimal HTTP/1.1 client on a raw socket for the hot loops: a fixed request written
// in one go, the answer framed by Content-Length or chunked encoding, the body counted
// (and passed on only when asked). Costs a fraction of a general client per request, so
// the load generator stays far from the CPU the proxy and dockerd need on 2 cores.
import net from 'node:net'
import { connectRaw, type Endpoint } from './endpoint.ts'

export interface RawAnswer {
  status: number
  /** Body bytes after de-chunking. */
  bytes: number
  /** The response head (status line and headers), latin1. */
  head: string
}

type Stage = 'head' | 'length' | 'size' | 'data' | 'dataEnd' | 'trailer' | 'untilClose'

interface Pending {
  resolve: (answer: RawAnswer) => void
  reject: (error: Error) => void
  onBody: ((chunk: Buffer) => void) | undefined
}

export class RawConnection {
  private readonly socket: net.Socket
  private pending: Pending | null = null
  private stage: Stage = 'head'
  private carry: Buffer = Buffer.alloc(0)
  private remaining = 0
  private status = 0
  private head = ''
  private bytes = 0
  private broken: Error | null = null
  private readonly connected: Promise<void>

  /**
   * `readBuffer`: read into this one buffer (Node's `onread`), up to its size per read and
   * with no allocation per read: for long downloads, where the client's own reading cost
   * would otherwise compete with the proxy and dockerd for the 2 cores.
   */
  constructor(endpoint: Endpoint, readBuffer?: Buffer) {
    if (readBuffer === undefined) this.socket = connectRaw(endpoint)
    else {
      const onread = { buffer: readBuffer, callback: (size: number, buffer: Buffer): boolean => { this.onData(buffer.subarray(0, size), true); return true } }
      this.socket = endpoint.kind === 'unix' ? net.connect({ path: endpoint.socketPath, onread }) : net.connect({ port: endpoint.port, host: endpoint.host, noDelay: true, onread })
    }
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve())
      this.socket.once('error', reject)
    })
    this.connected.catch(() => {})
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk))
    this.socket.on('error', (error) => this.fail(error))
    this.socket.on('close', () => {
      if (this.pending !== null && this.stage === 'untilClose') this.done()
      this.fail(new Error('the connection closed'))
    })
  }

  ready(): Promise<void> {
    return this.connected
  }

  /** Sends a whole request (bytes as given) and resolves with the answer once its body has ended. */
  request(payload: Buffer | string, onBody?: (chunk: Buffer) => void): Promise<RawAnswer> {
    if (this.broken !== null) return Promise.reject(this.broken)
    if (this.pending !== null) return Promise.reject(new Error('one request at a time'))
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject, onBody }
      this.stage = 'head'
      this.status = 0
      this.bytes = 0
      this.head = ''
      this.socket.write(payload)
    })
  }

  close(): void {
    this.socket.destroy()
  }

  private fail(error: Error): void {
    this.broken ??= error
    const pending = this.pending
    this.pending = null
    pending?.reject(error)
  }

  private done(): void {
    const pending = this.pending
    this.pending = null
    this.stage = 'head'
    pending?.resolve({ status: this.status, bytes: this.bytes, head: this.head })
  }

  private body(chunk: Buffer): void {
    this.bytes += chunk.length
    this.pending?.onBody?.(chunk)
  }

  /** `reused`: the bytes live in a buffer the next read overwrites, so what is kept is copied. */
  private onData(incoming: Buffer, reused = false): void {
    if (this.pending === null) {
      this.fail(new Error('data without a request'))
      this.socket.destroy()
      return
    }
    let data = this.carry.length > 0 ? Buffer.concat([this.carry, incoming]) : incoming
    this.carry = Buffer.alloc(0)
    let at = 0
    while (at < data.length && this.pending !== null) {
      switch (this.stage) {
        case 'head': {
          const end = data.indexOf('\r\n\r\n', at, 'latin1')
          if (end === -1) {
            this.carry = keep(data.subarray(at), reused)
            return
          }
          this.head = data.toString('latin1', at, end)
          at = end + 4
          this.status = Number(this.head.slice(9, 12))
          const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(this.head)
          if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(this.head)) this.stage = 'size'
          else if (length !== null) {
            this.remaining = Number(length[1])
            this.stage = 'length'
            if (this.remaining === 0) this.done()
          } else if (this.status === 204 || this.status === 304 || this.status < 200) this.done()
          else this.stage = 'untilClose'
          break
        }
        case 'length': {
          const take = Math.min(this.remaining, data.length - at)
          this.body(data.subarray(at, at + take))
          at += take
          this.remaining -= take
          if (this.remaining === 0) this.done()
          break
        }
        case 'size': {
          const end = data.indexOf('\r\n', at, 'latin1')
          if (end === -1) {
            this.carry = keep(data.subarray(at), reused)
            return
          }
          const size = Number.parseInt(data.toString('latin1', at, end), 16)
          at = end + 2
          if (!Number.isFinite(size)) {
            this.fail(new Error('malformed chunk size'))
            this.socket.destroy()
            return
          }
          this.remaining = size
          this.stage = size === 0 ? 'trailer' : 'data'
          break
        }
        case 'data': {
          const take = Math.min(this.remaining, data.length - at)
          this.body(data.subarray(at, at + take))
          at += take
          this.remaining -= take
          if (this.remaining === 0) this.stage = 'dataEnd'
          break
        }
        case 'dataEnd': {
          if (data.length - at < 2) {
            this.carry = keep(data.subarray(at), reused)
            return
          }
          at += 2
          this.stage = 'size'
          break
        }
        case 'trailer': {
          const end = data.indexOf('\r\n', at, 'latin1')
          if (end === -1) {
            this.carry = keep(data.subarray(at), reused)
            return
          }
          const empty = end === at
          at = end + 2
          if (empty) this.done()
          break
        }
        case 'untilClose': {
          this.body(data.subarray(at))
          at = data.length
          break
        }
      }
    }
    if (at < data.length) this.carry = keep(data.subarray(at), reused)
  }
}

function keep(bytes: Buffer, copy: boolean): Buffer {
  return copy ? Buffer.from(bytes) : bytes
}

export function getRequest(path: string, extra = ''): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: docker\r\n${extra}\r\n`, 'latin1')
}
