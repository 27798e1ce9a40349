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
      // The authority is dropped: dockmoat forwards only the path it classified, so the
      // host needs no judging (Go accepts far more there than RFC 3986 does).
      const slash = beforeQuery.indexOf('/', 2)
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
