// Header hygiene for requests built afresh for dockerd and responses relayed back.
import type { IncomingHttpHeaders } from 'node:http'
import { valuesOf, type Head } from './framing.ts'

// Hop-by-hop headers belong to one connection and are never relayed (RFC 9110 7.6.1).
// `upgrade` and `connection` are re-created by the hijack path where dockerd needs them.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', 'http2-settings'])

const NONE: ReadonlySet<string> = new Set()

function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return NONE
  const joined = Array.isArray(value) ? value.join(',') : value
  return new Set(joined.split(',').map((token) => token.trim().toLowerCase()).filter(Boolean))
}

/** The client's headers, as a flat [name, value, ...] list, minus hop-by-hop ones. */
export function upstreamRequestHeaders(rawHeaders: string[], connection: string | undefined, dropContentLength = false): string[] {
  const named = connectionTokens(connection)
  const out: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase()
    if (HOP_BY_HOP.has(name) || named.has(name) || (dropContentLength && name === 'content-length')) continue
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!)
  }
  return out
}

/** dockerd's response headers for the client; `keepFraming` keeps Content-Length. */
export function clientResponseHeaders(headers: IncomingHttpHeaders, keepFraming = true): IncomingHttpHeaders {
  const named = connectionTokens(headers.connection)
  const out: IncomingHttpHeaders = {}
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || named.has(name) || (!keepFraming && name === 'content-length')) continue
    out[name] = headers[name]
  }
  return out
}

/** A response head as framing.ts reads it. */
type ResponseHead = Pick<Head, 'version' | 'headers' | 'names'>

/** The tokens of every Connection header of `head`. */
function connectionOf(head: ResponseHead): ReadonlySet<string> {
  const values = valuesOf(head, 'connection')
  return values.length === 0 ? NONE : connectionTokens(values)
}

/**
 * Whether dockerd closes its connection after an answer with this head: `Connection:
 * close` (Go's server sends it when it will not read the rest of a request body larger
 * than 256 KiB), or HTTP/1.0 without `keep-alive`. Such a connection must not be pooled.
 */
export function closesAfter(head: ResponseHead): boolean {
  const tokens = connectionOf(head)
  return tokens.has('close') || (head.version === '1.0' && !tokens.has('keep-alive'))
}

/**
 * dockerd's headers for an answer relayed as it was framed (relay.ts): hop-by-hop
 * headers dropped as above, but Transfer-Encoding kept, as the body goes out chunked.
 * `head.headers` itself when nothing is dropped (the usual answer).
 */
export function relayedHeaders(head: ResponseHead): readonly (readonly [string, string])[] {
  const named = connectionOf(head)
  const dropped = (lower: string): boolean => lower !== 'transfer-encoding' && (HOP_BY_HOP.has(lower) || named.has(lower))
  if (!head.names.some(dropped)) return head.headers
  return head.headers.filter((_, i) => !dropped(head.names[i]!))
}

/** Serialises a status line and headers for a connection we write to by hand. */
export function rawResponseHead(status: number, statusText: string, headers: IncomingHttpHeaders): string {
  let head = `HTTP/1.1 ${status} ${statusText}\r\n`
  for (const [name, value] of Object.entries(headers)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined) head += `${name}: ${item}\r\n`
    }
  }
  return head + '\r\n'
}
