// Derives the path dockerd routes on from a raw request-target, as Go's net/url
// (ParseRequestURI) and gorilla/mux do it. Strings here are latin1: one character per
// byte, which is how Node hands us the request line and how Go's router compares.

export type Target =
  | { ok: true; path: string; forward: string }
  | { ok: false; problem: string }

/**
 * `forward` is the origin-form target to send upstream: the raw, still-encoded path and
 * query, so that dockerd decodes exactly what we decoded.
 */
export function deriveTarget(raw: string): Target {
  let rest = raw
  if (!rest.startsWith('/')) {
    // Absolute-form (`http://docker/v1.41/info`): Go takes any scheme, cuts the query,
    // then the authority up to the next `/`, and routes on the path that follows.
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(rest)
    if (scheme === null) return { ok: false, problem: 'the request target is neither a path nor an absolute URL' }
    rest = rest.slice(scheme[0].length)
    const question = rest.indexOf('?')
    const beforeQuery = question === -1 ? rest : rest.slice(0, question)
    if (beforeQuery.startsWith('//')) {
      // The authority is dropped (dockmoat forwards only the path it classified), but one
      // Go's url.Parse rejects gets dockerd's 400, so it is refused here as well.
      const slash = beforeQuery.indexOf('/', 2)
      const authority = beforeQuery.slice(2, slash === -1 ? undefined : slash)
      const problem = authorityProblem(authority)
      if (problem !== undefined) return { ok: false, problem: `the absolute URL's authority ${JSON.stringify(authority)} is not valid: ${problem}` }
      rest = rest.slice(slash === -1 ? beforeQuery.length : slash)
    }
    if (!rest.startsWith('/')) return { ok: false, problem: 'the absolute URL has no path (dockerd would only redirect it)' }
  }

  const question = rest.indexOf('?')
  const rawPath = question === -1 ? rest : rest.slice(0, question)
  const path = percentDecode(rawPath)
  if (path === undefined) return { ok: false, problem: 'the path has an invalid percent-escape' }
  if (cleanPath(path) !== path) {
    return { ok: false, problem: `the path is not in clean form (dockerd would only redirect it to ${JSON.stringify(cleanPath(path))})` }
  }
  return { ok: true, path, forward: rest }
}

/** Go's net/url parseAuthority: parseHost, then the userinfo (Go 1.19, as dockerd 20.10 is built). */
function authorityProblem(authority: string): string | undefined {
  const at = authority.lastIndexOf('@')
  const problem = hostProblem(authority.slice(at + 1))
  if (problem !== undefined || at === -1) return problem
  // validUserinfo: ASCII letters, digits and these only (no byte above 0x7f).
  const userinfo = authority.slice(0, at)
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) return 'invalid userinfo'
  return escapeProblem(userinfo, 'userinfo')
}

function hostProblem(host: string): string | undefined {
  const port = (colonPort: string): string | undefined => (/^(:[0-9]*)?$/.test(colonPort) ? undefined : `invalid port ${JSON.stringify(colonPort)} after host`)
  if (!host.startsWith('[')) return port(host.includes(':') ? host.slice(host.lastIndexOf(':')) : '') ?? escapeProblem(host, 'host')
  const close = host.lastIndexOf(']')
  if (close === -1) return "missing ']' in host"
  const portProblem = port(host.slice(close + 1))
  if (portProblem !== undefined) return portProblem
  // An IPv6 zone (RFC 6874) starts at `%25` and is unescaped by rules of its own.
  const zone = host.slice(0, close).indexOf('%25')
  if (zone === -1) return escapeProblem(host, 'host')
  return escapeProblem(host.slice(0, zone), 'host') ?? escapeProblem(host.slice(zone, close), 'zone') ?? escapeProblem(host.slice(close), 'host')
}

// shouldEscape(c, encodeHost) is false for these ASCII bytes (letters and digits aside).
const HOST_BYTES = /^[A-Za-z0-9!$&'()*+,;=:[\]<>"\-_.~]$/

/** Go's url unescape: each `%` starts two hex digits; a host escapes only bytes above 0x7f (and `%25`). */
function escapeProblem(text: string, mode: 'host' | 'zone' | 'userinfo'): string | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '%') {
      const escape = text.slice(i, i + 3)
      if (!/^%[0-9A-Fa-f]{2}$/.test(escape)) return `invalid URL escape ${JSON.stringify(escape)}`
      const byte = Number.parseInt(escape.slice(1), 16)
      if (mode === 'host' && byte < 0x80 && escape !== '%25') return `invalid URL escape ${JSON.stringify(escape)}`
      // A zone may escape only what a host may hold unescaped, and a space.
      if (mode === 'zone' && escape !== '%25' && byte !== 0x20 && (byte >= 0x80 || !HOST_BYTES.test(String.fromCharCode(byte)))) return `invalid URL escape ${JSON.stringify(escape)}`
      i += 2
    } else if (mode !== 'userinfo' && c.charCodeAt(0) < 0x80 && !HOST_BYTES.test(c)) {
      return `invalid character ${JSON.stringify(c)} in host name`
    }
  }
  return undefined
}

/** Go's url.PathUnescape: every `%` must start two hex digits; `+` stays `+`. */
function percentDecode(raw: string): string | undefined {
  if (!raw.includes('%')) return raw
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (c !== '%') {
      out += c
      continue
    }
    const hex = raw.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined
    out += String.fromCharCode(Number.parseInt(hex, 16))
    i += 2
  }
  return out
}

/** gorilla/mux cleanPath: Go's path.Clean, keeping a trailing slash. */
export function cleanPath(path: string): string {
  if (path === '') return '/'
  const rooted = path.startsWith('/') ? path : '/' + path
  const parts: string[] = []
  for (const segment of rooted.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') parts.pop()
    else parts.push(segment)
  }
  let cleaned = '/' + parts.join('/')
  if (rooted.endsWith('/') && cleaned !== '/') cleaned += '/'
  return cleaned
}
