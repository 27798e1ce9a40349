// dockerd's hijack routes (attach, exec start, attach/ws, session, grpc) answer
// `101 UPGRADED` and then carry raw bytes both ways. The request reaches here only
// when the policy allowed it (shouldUpgradeCallback). Its body (exec start's JSON) is
// read whole and re-sent with a fresh Content-Length; bytes the client sends after it
// are held back until dockerd has answered 101, because after any other answer dockerd
// would parse them as a new, unchecked request. Any other answer is relayed and the
// connection closed.
import type { Request } from './http1.ts'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import type { Dispatcher } from 'undici'
import type { Decision } from './policy.ts'
import { clientResponseHeaders, rawResponseHead, upstreamRequestHeaders } from './headers.ts'
import { clientOf, closed, elapsedMs, logExchange, opened, upstreamError, writeRawJson, type Context, type Stream } from './exchange.ts'

/** Bodies of hijack requests are small JSON documents (exec start options). */
const MAX_BODY = 1024 * 1024

export function hijack(ctx: Context, req: Request, client: Duplex, head: Buffer, decision: Decision): void {
  if (!decision.allow) {
    // Unreachable by construction (only allowed hijacks upgrade); refuse rather than trust it.
    writeRawJson(client, 403, decision.reason)
    return
  }
  const started = performance.now()
  const from = clientOf(req)
  const counts = { up: 0, down: 0 }
  let status = 0
  let upstreamSocket: Socket | undefined
  // The request to dockerd until it answers: a client gone before the 101 must end it, or
  // dockerd's attach would stay open, and a stalled attach holds up the container's output
  // for every other attached client.
  let waiting: Dispatcher.DispatchController | undefined
  const stream: Stream = { destroy: () => { client.destroy(); upstreamSocket?.destroy() } }
  opened(ctx, stream)
  client.on('close', () => {
    closed(ctx, stream)
    upstreamSocket?.destroy()
    waiting?.abort(new Error('the client went away before dockerd answered'))
    logExchange(ctx, req, decision, { status, bytesUp: counts.up, bytesDown: counts.down, ms: elapsedMs(started), client: from })
  })
  client.on('error', () => client.destroy())

  readBody(req, client, head, (error, body, early) => {
    if (error !== undefined) {
      status = 400
      writeRawJson(client, 400, `dockmoat refused ${req.method} ${req.url}: ${error}`)
      return
    }
    const headers = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, true)
    if (body.length > 0) headers.push('content-length', String(body.length))
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (client.destroyed) return controller.abort(new Error('the client went away before the request was sent'))
        waiting = controller
      },
      onRequestUpgrade(_controller, statusCode, responseHeaders, socket) {
        waiting = undefined
        status = statusCode
        upstreamSocket = socket as Socket
        if (client.destroyed) return void upstreamSocket.destroy()
        const text = String(req.headers.upgrade).toLowerCase() === 'websocket' ? 'Switching Protocols' : 'UPGRADED'
        client.write(rawResponseHead(statusCode, text, responseHeaders))
        tunnel(client, upstreamSocket, early, counts)
      },
      onResponseStart(controller, statusCode, responseHeaders, statusMessage) {
        // Not upgraded (404, 409, or exec start with Detach): relay, then close.
        status = statusCode
        client.write(rawResponseHead(statusCode, statusMessage ?? '', { ...clientResponseHeaders(responseHeaders, false), connection: 'close' }))
        client.on('drain', () => controller.resume())
      },
      onResponseData(controller, chunk) {
        counts.down += chunk.length
        if (!client.write(chunk)) controller.pause()
      },
      onResponseEnd() {
        waiting = undefined
        client.end()
      },
      onResponseError(_controller, err) {
        waiting = undefined
        ctx.log.debug({ err }, 'upstream error on a hijack route')
        if (status === 0) {
          status = 502
          writeRawJson(client, 502, upstreamError(ctx, err))
        } else {
          client.destroy()
        }
      },
    }
    if (client.destroyed) return
    void ctx.upstream().then((pool) => pool.dispatch({
      path: decision.forward,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: body.length > 0 ? body : null,
      upgrade: req.headers.upgrade ?? 'tcp',
    }, handler))
  })
}

/** Raw bytes both ways; each side's end is passed on as a half-close. */
function tunnel(client: Duplex, upstream: Socket, early: Buffer, counts: { up: number; down: number }): void {
  upstream.setNoDelay(true)
  upstream.on('error', () => { upstream.destroy(); client.destroy() })
  upstream.on('close', () => { if (!client.writableEnded) client.end() })
  upstream.on('data', (chunk: Buffer) => { counts.down += chunk.length })
  client.on('data', (chunk: Buffer) => { counts.up += chunk.length })
  if (early.length > 0) {
    counts.up += early.length
    upstream.write(early)
  }
  client.pipe(upstream)
  upstream.pipe(client)
  client.resume()
}

type BodyCallback = (error: string | undefined, body: Buffer, early: Buffer) => void

/** Reads the request body as framed by Content-Length or chunked encoding. */
function readBody(req: Request, client: Duplex, head: Buffer, done: BodyCallback): void {
  const chunked = req.headers['transfer-encoding'] !== undefined
  if (chunked && req.headers['transfer-encoding']?.toLowerCase() !== 'chunked') {
    done('only chunked transfer-encoding is accepted', Buffer.alloc(0), Buffer.alloc(0))
    return
  }
  const length = chunked ? -1 : Number(req.headers['content-length'] ?? 0)
  let buffered = head
  let finished = false

  const attempt = (): void => {
    const framed = chunked ? decodeChunked(buffered) : buffered.length >= length ? { body: buffered.subarray(0, length), rest: buffered.subarray(length) } : 'more'
    if (framed === 'more' && buffered.length <= MAX_BODY + 64) return
    finished = true
    client.off('data', onData)
    client.off('end', onEnd)
    client.pause()
    if (framed === 'more') done(`the request body is larger than ${MAX_BODY} bytes`, Buffer.alloc(0), Buffer.alloc(0))
    else if (framed === 'invalid') done('the chunked request body is malformed', Buffer.alloc(0), Buffer.alloc(0))
    else done(undefined, framed.body, framed.rest)
  }
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk])
    attempt()
  }
  const onEnd = (): void => { if (!finished) client.destroy() }
  client.on('data', onData)
  client.on('end', onEnd)
  // http1.ts hands the connection over paused: nothing is read until someone listens.
  client.resume()
  attempt()
}

/** Decodes a complete chunked body, or says it needs more bytes or is malformed. */
function decodeChunked(buffer: Buffer): { body: Buffer; rest: Buffer } | 'more' | 'invalid' {
  const parts: Buffer[] = []
  let offset = 0
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', offset)
    if (lineEnd === -1) return 'more'
    const sizeText = buffer.subarray(offset, lineEnd).toString('latin1').split(';')[0]!
    if (!/^[0-9A-Fa-f]{1,8}$/.test(sizeText)) return 'invalid'
    const size = Number.parseInt(sizeText, 16)
    offset = lineEnd + 2
    if (size === 0) {
      // Trailers end at an empty line.
      const trailerEnd = buffer.indexOf('\r\n\r\n', offset - 2)
      if (trailerEnd === -1) return 'more'
      return { body: Buffer.concat(parts), rest: buffer.subarray(trailerEnd + 4) }
    }
    if (buffer.length < offset + size + 2) return 'more'
    if (buffer[offset + size] !== 0x0d || buffer[offset + size + 1] !== 0x0a) return 'invalid'
    parts.push(buffer.subarray(offset, offset + size))
    offset += size + 2
  }
}
