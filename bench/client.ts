// HTTP for the bench: the closed-loop load generator (on raw sockets, see raw.ts), and
// undici's low-level dispatch (no response streams) for setup calls and uploads.
import type { Readable } from 'node:stream'
import { Client, type Dispatcher } from 'undici'
import type { Endpoint } from './endpoint.ts'
import { getRequest, RawConnection } from './raw.ts'

export { connectRaw, dockerHost, type Endpoint } from './endpoint.ts'

export function newClient(endpoint: Endpoint, options: Client.Options = {}): Client {
  const base: Client.Options = { pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000, ...options }
  return endpoint.kind === 'unix'
    ? new Client('http://docker', { ...base, socketPath: endpoint.socketPath })
    : new Client(`http://${endpoint.host}:${endpoint.port}`, base)
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  bytes: number
  /** The body as text, when asked for (keep: true). */
  text?: string
  /** The first bytes of the body, when asked for (head: n). */
  head?: Buffer
}

export interface Ask {
  method?: Dispatcher.HttpMethod
  path: string
  headers?: Record<string, string>
  body?: string | Buffer | Readable | AsyncIterable<Buffer> | null
  /** Keep the whole body as text (small answers only). */
  keep?: boolean
  /** Keep the first n bytes of the body. */
  head?: number
}

/** One request on a client; the body is counted and dropped unless `keep` or `head` asks. */
export function send(client: Client, ask: Ask): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0
    let headers: Answer['headers'] = {}
    let bytes = 0
    const kept: Buffer[] = []
    let headBytes = 0
    const wantHead = ask.head ?? 0
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart() {},
      onResponseStart(_controller, statusCode, responseHeaders) {
        status = statusCode
        headers = responseHeaders
      },
      onResponseData(_controller, chunk) {
        bytes += chunk.length
        if (ask.keep) kept.push(chunk)
        else if (headBytes < wantHead) {
          kept.push(chunk.subarray(0, wantHead - headBytes))
          headBytes += Math.min(chunk.length, wantHead - headBytes)
        }
      },
      onResponseEnd() {
        const answer: Answer = { status, headers, bytes }
        if (ask.keep) answer.text = Buffer.concat(kept).toString('utf8')
        else if (wantHead > 0) answer.head = Buffer.concat(kept)
        resolve(answer)
      },
      onResponseError(_controller, error) {
        reject(error)
      },
    }
    client.dispatch({
      path: ask.path,
      method: ask.method ?? 'GET',
      headers: ask.headers ?? {},
      body: (ask.body ?? null) as Dispatcher.DispatchOptions['body'],
    }, handler)
  })
}

/** One request on a fresh connection that is closed afterwards. */
export async function once(endpoint: Endpoint, ask: Ask, options: Client.Options = {}): Promise<Answer> {
  const client = newClient(endpoint, options)
  try {
    return await send(client, ask)
  } finally {
    await client.destroy().catch(() => undefined)
  }
}

export async function json<T>(endpoint: Endpoint, ask: Ask): Promise<{ status: number; value: T }> {
  const answer = await once(endpoint, { ...ask, keep: true })
  let value: T
  try {
    value = JSON.parse(answer.text ?? '') as T
  } catch {
    value = answer.text as T
  }
  return { status: answer.status, value }
}

export interface LoadResult {
  /** Answers completed inside the measured window. */
  count: number
  /** Answers that were not 2xx, or errors. */
  errors: number
  firstError?: string
  /** Per-request latency in ms for requests started and finished inside the window. */
  latencies: number[]
  windowMs: number
  /** CPU seconds used by this process (the client) during the window. */
  clientCpu: number
}

/**
 * A closed loop: `connections` keep-alive connections (raw sockets, see raw.ts), each
 * sending the next request as soon as the previous answer ended. A warm-up (connect, JIT)
 * runs first and is not measured. `onWindow` is called at the start and end of the
 * measured window (to read CPU counters).
 */
export async function closedLoop(
  endpoint: Endpoint,
  options: { connections: number; path: string; warmupMs: number; durationMs: number; onWindow?: (edge: 'start' | 'end') => void },
): Promise<LoadResult> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | undefined
  const payload = getRequest(options.path)
  const begin = performance.now()
  const windowStart = begin + options.warmupMs
  const windowEnd = windowStart + options.durationMs
  let cpuAtStart = 0
  let cpuAtEnd = 0
  const startMark = new Promise<void>((resolve) => setTimeout(() => { const u = process.cpuUsage(); cpuAtStart = u.user + u.system; options.onWindow?.('start'); resolve() }, options.warmupMs))
  const endMark = new Promise<void>((resolve) => setTimeout(() => { const u = process.cpuUsage(); cpuAtEnd = u.user + u.system; options.onWindow?.('end'); resolve() }, options.warmupMs + options.durationMs))
  const open = new Set<RawConnection>()
  const loop = async (): Promise<void> => {
    let connection: RawConnection | undefined
    for (;;) {
      const started = performance.now()
      if (started >= windowEnd) break
      try {
        if (connection === undefined) {
          connection = new RawConnection(endpoint)
          open.add(connection)
          await connection.ready()
        }
        const sent = performance.now()
        const answer = await connection.request(payload)
        const ended = performance.now()
        if (answer.status < 200 || answer.status >= 300) {
          errors++
          firstError ??= `HTTP ${answer.status}`
        } else if (sent >= windowStart && ended <= windowEnd) {
          latencies.push(ended - sent)
        }
        if (/\r\nconnection:[ \t]*close/i.test(answer.head)) {
          connection.close()
          connection = undefined
        }
      } catch (error) {
        errors++
        firstError ??= error instanceof Error ? error.message : String(error)
        connection?.close()
        connection = undefined
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    }
    connection?.close()
  }
  await Promise.all(Array.from({ length: options.connections }, loop))
  // Loops that failed early still wait for the window to close, so CPU marks are paired.
  await startMark
  await endMark
  for (const connection of open) connection.close()
  return { count: latencies.length, errors, ...(firstError === undefined ? {} : { firstError }), latencies, windowMs: options.durationMs, clientCpu: (cpuAtEnd - cpuAtStart) / 1e6 }
}
