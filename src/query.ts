// Query strings as Go's url.ParseQuery reads them (dockerd's r.Form): pairs split on `&`,
// `+` is a space, a pair that does not unescape is dropped, and so is one with a `;` in it
// (Go 1.17 and later, which builds dockerd 20.10.24), and r.FormValue takes the first
// value of a key. Strings are latin1, one character per byte, as Node gives them.

export interface QueryPair { raw: string; key: string | undefined; value: string | undefined }

export function queryPairs(query: string): QueryPair[] {
  if (query === '') return []
  return query.split('&').map((raw) => {
    if (raw.includes(';')) return { raw, key: undefined, value: undefined }
    const equals = raw.indexOf('=')
    return { raw, key: unescapeQuery(equals === -1 ? raw : raw.slice(0, equals)), value: unescapeQuery(equals === -1 ? '' : raw.slice(equals + 1)) }
  })
}

/** Every value of `key` dockerd would see, in order (the first is r.FormValue's). */
export function queryValues(query: string, key: string): string[] {
  const values: string[] = []
  for (const pair of queryPairs(query)) if (pair.key === key && pair.value !== undefined) values.push(pair.value)
  return values
}

// unicode.IsSpace: JavaScript's \s differs (it has U+FEFF, lacks U+0085).
const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+'
const GO_TRIM = new RegExp(`^${GO_SPACE}|${GO_SPACE}$`, 'g')

/**
 * A boolean parameter as dockerd reads it: `absent` when r.Form has no such key
 * (httputils.BoolValueOrDefault), else httputils.BoolValue of the first value: false only
 * for "", "0", "no", "false" and "none", in any case, once strings.TrimSpace took off what
 * unicode.IsSpace calls space from the UTF-8 the value's bytes hold.
 */
export function queryFlag(query: string, key: string, absent: boolean): boolean {
  const first = queryValues(query, key)[0]
  if (first === undefined) return absent
  return !['', '0', 'no', 'false', 'none'].includes(Buffer.from(first, 'latin1').toString('utf8').replace(GO_TRIM, '').toLowerCase())
}

/** The query without any pair dockerd would read as one of `keys`, then `key=value` for each. */
export function setQuery(query: string, values: Readonly<Record<string, string>>): string {
  const kept = queryPairs(query).filter((pair) => pair.key === undefined || !(pair.key in values)).map((pair) => pair.raw)
  for (const [key, value] of Object.entries(values)) kept.push(`${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
  return kept.join('&')
}

/** Whether Go's r.ParseForm would read parameters from this body (POST, PUT, PATCH). */
export function isFormContentType(contentType: string | undefined): boolean {
  const media = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  return media === 'application/x-www-form-urlencoded' || media === 'multipart/form-data'
}

function unescapeQuery(raw: string): string | undefined {
  const spaced = raw.replaceAll('+', ' ')
  if (/%(?![0-9A-Fa-f]{2})/.test(spaced)) return undefined
  return spaced.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
}
