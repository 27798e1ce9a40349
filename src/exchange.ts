// What the plain and the hijack paths share: the context, the bookkeeping of open
// exchanges (for shutdown), hand-written error answers and the per-request log line.
import type { IncomingHttpHeaders } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Pool } from 'undici'
import type { Logger } from 'pino'
import type { Decision } from './policy.ts'
import type { Config } from './settings.ts'
import { rawResponseHead } from './headers.ts'
import type { Clients } from './clients.ts'
import { ask, type UpstreamSockets } from './relay.ts'
import type { GoObject } from './guard/go-decode.ts'
import { peerOf } from './identity.ts'
import { jsonBody, reasonOf, type Request } from './http1.ts'
import { logRequest } from './log.ts'

/** A long-lived exchange (events, logs -f, attach, exec): ended at once on shutdown. */
export interface Stream {
  destroy(): void
}

/** An exchange as it ended, for the log line and the metrics. */
export interface Outcome {
  status: number
  ms: number
  client: string
  bytes?: number
  /** Hijacked exchanges count both directions. */
  bytesUp?: number
  bytesDown?: number
  complete?: boolean
}

/** Told about every exchange and upstream failure (metrics.ts, when METRICS_LISTEN is set). */
export interface Observer {
  exchange(decision: Decision, outcome: Outcome): void
  upstreamError(): void
}

export interface Context {
  config: Config
  metrics?: Observer
  log: Logger
  /** undici, for the hijack routes (attach, exec start): loaded at the first. */
  upstream: () => Promise<Pool>
  /** Raw connections to dockerd for relaying clients' calls (relay.ts). */
  relayPool: UpstreamSockets
  /** Who is asking, and the configuration that decides their calls (clients.ts). */
  clients: Clients
  /** Exchanges being answered; shutdown gives them a grace period to finish. */
  open: number
  // Only streams are kept, as shutdown must end them by name; the rest are counted and,
  // after the grace period, ended with their connections. A Set entry per request that
  // closed over it kept whole requests alive through V8's young-generation collections:
  // measured on /_ping, ~4 KiB promoted per request and 4x the scavenge time.
  streams: Set<Stream>
}

/** Counts an exchange as open until `closed`; a stream can also be ended on shutdown. */
export function opened(ctx: Context, stream?: Stream): void {
  ctx.open++
  if (stream !== undefined) ctx.streams.add(stream)
}

export function closed(ctx: Context, stream?: Stream): void {
  ctx.open--
  if (stream !== undefined) ctx.streams.delete(stream)
}

export function upstreamError(ctx: Context, error: unknown): string {
  ctx.metrics?.upstreamError()
  const detail = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)
  return `dockmoat cannot reach the Docker Engine at ${ctx.config.socketPath}: ${detail}`
}

/** dockerd's answer to one of dockmoat's own requests; status 0 when it could not be reached. */
export interface Answer { status: number; headers: IncomingHttpHeaders; body: Buffer; json: GoObject; message: string }

/** One request of dockmoat's own to dockerd (health, ownership lookups), answered whole. */
export function askDockerd(ctx: Context, path: string, method: 'GET' | 'POST' = 'GET', body?: string, timeoutMs = 30_000): Promise<Answer> {
  return ask(ctx.relayPool, method, path, body, timeoutMs).then(({ status, headers, body: answer }) => {
    const text = answer.toString('utf8')
    let json: GoObject = {}
    try {
      const parsed: unknown = JSON.parse(text)
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as GoObject
    } catch {
      // not JSON: kept as the message
    }
    return { status, headers, body: answer, json, message: typeof json.message === 'string' ? json.message : text }
  }, (error: unknown) => ({ status: 0, headers: {}, body: Buffer.alloc(0), json: {}, message: upstreamError(ctx, error) }))
}

/** A response written by hand on a connection that is then closed (hijack path). */
export function writeRawJson(socket: Duplex, status: number, message: string): void {
  const body = jsonBody(message)
  const head = rawResponseHead(status, reasonOf(status), {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  })
  socket.end(head + body)
}

/**
 * Milliseconds since `started` (a performance.now()), to the microsecond: whole
 * milliseconds put every sub-millisecond answer at 0 or 1 and skewed the duration
 * histogram's smallest buckets (0.5 ms, 1 ms).
 */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000
}

/** Where a request came from; read at the start, as the socket is gone by the end. */
export function clientOf(req: Request): string {
  return req.socket?.remoteAddress ?? 'unix'
}

export function logExchange(ctx: Context, req: Request, decision: Decision, fields: Outcome): void {
  ctx.metrics?.exchange(decision, fields)
  const cn = peerOf(req.socket)?.cn
  const profile = ctx.clients.profileOf(req)
  const line = {
    method: req.method,
    path: req.url,
    route: decision.route?.display ?? null,
    decision: decision.allow ? 'allow' : 'deny',
    ...fields,
    ...(cn === undefined ? {} : { cn }),
    ...(profile === undefined ? {} : { profile }),
    ...(decision.needs === undefined ? {} : { needs: decision.needs }),
    ...decision.subject,
  }
  // `variables`: what would allow it; none when no variable can (for `dockmoat learn`).
  if (!decision.allow) ctx.log.warn({ ...line, reason: decision.reason, variables: decision.variables ?? [] }, 'refused')
  else if (decision.wouldRefuse !== undefined) ctx.log.warn({ ...line, wouldRefuse: decision.wouldRefuse.reason }, 'would be refused')
  else logRequest(ctx.log, line)
}
