// A seeded generator of (method, request-target) pairs for the differential conformance
// suite: every route of dockmoat's table (and a few dockerd paths from other API versions)
// filled with real-looking and fake ids, then bent the ways attackers bend them (encodings,
// version prefixes, dot segments, slashes, case, absolute form, query and fragment tricks,
// odd methods).
//
// Everything here is deterministic: case `i` of seed `s` is always the same pair, so a
// failure is reproduced from its seed and index alone (`caseAt(seed, i)`).
//
// SAFETY. The cases are sent to the real dockerd. `safety()` decides, independently of
// dockmoat's own code, whether a pair cannot change anything:
//   - GET, HEAD and OPTIONS are reads (OPTIONS does nothing at all), in any case; CONNECT
//     and TRACE only ever match the debug routes, which read. The few reads that
//     are not harmless are refused or pinned: registry lookups (distribution, image
//     search, plugin privileges) must name the unreachable registry 127.0.0.1:1, CPU
//     profiles and traces (30 s each) are never sent, and `attach/ws` (a GET that writes
//     to stdin) must name a container that cannot exist.
//   - Every other method must route, by Go's own decoding of the path, to an object name
//     that cannot exist (it holds the marker `zq`, which no hex id contains, or a random
//     64-hex id), and no word of the path, however decoded, may name an endpoint that
//     acts without an id (create, prune, pull, load, build, commit, auth, session, grpc,
//     swarm...). dockerd then answers 404 "No such ..." or refuses the empty body.
//   - No body is ever sent (Content-Length: 0), and no X-Registry-Auth header.

import { ROUTES } from '../../src/routes.ts'

// ---------------------------------------------------------------------------------------
// PRNG: mulberry32 seeded through a splitmix-style mixer of (seed, index, attempt).

export function mix(...parts: number[]): number {
  let h = 0x9e3779b9
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b)
    h ^= h >>> 13
    h = Math.imul(h, 0xc2b2ae35)
    h ^= h >>> 16
    h = (h + 0x6d2b79f5) >>> 0
  }
  return h >>> 0
}

export class Rng {
  private state: number
  constructor(seed: number) {
    this.state = seed >>> 0
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(list: readonly T[]): T {
    if (list.length === 0) throw new Error('pick from an empty list')
    return list[this.int(list.length)]!
  }
  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(list: readonly (readonly [number, T])[]): T {
    const total = list.reduce((sum, [w]) => sum + w, 0)
    let r = this.next() * total
    for (const [w, value] of list) {
      if ((r -= w) < 0) return value
    }
    return list[list.length - 1]![1]
  }
}

// ---------------------------------------------------------------------------------------
// Grammar pieces

export interface Case {
  /** Index within the seed. */
  index: number
  method: string
  /** The request-target exactly as written on the request line (latin1, one char per byte). */
  target: string
  /** Where the case came from: the template it started as and the tricks applied. */
  origin: string
}

/** The marker every made-up name holds; `z` and `q` are not hex, so no id prefix matches it. */
export const MARKER = 'zq'
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'
const HEX = '0123456789abcdef'

function token(rng: Rng): string {
  let s = MARKER
  const n = 3 + rng.int(6)
  for (let i = 0; i < n; i++) s += ALNUM[rng.int(ALNUM.length)]
  return s
}

function hex(rng: Rng, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += HEX[rng.int(16)]
  return s
}

/** Route words that make greedy `{name:.*}` variables swallow a different route's suffix. */
const ROUTE_WORDS = [
  'json', 'start', 'stop', 'kill', 'logs', 'attach', 'attach/ws', 'ws', 'exec', 'archive', 'export',
  'top', 'changes', 'stats', 'wait', 'resize', 'restart', 'pause', 'unpause', 'rename', 'update', 'copy',
  'checkpoints', 'history', 'get', 'tag', 'push', 'connect', 'disconnect', 'enable', 'disable', 'set',
  'upgrade', 'create', 'prune', 'v1.41', 'containers', 'images', 'exec/x/start', 'volumes', 'secrets',
]

/** Words that name real things on a typical engine; only ever read (GET/HEAD/OPTIONS). */
const REAL_WORDS = ['json', 'create', 'prune', 'bridge', 'host', 'none', 'local', 'latest', 'search', 'get', 'load', 'privileges']

const SPECIALS = [
  '/', '%2F', '%2f', '%252F', '%252f', '%25', '.', '..', '+', '%2B', ';', '%3B', '#', '%23', '%3F', '%3f',
  '%20', '%00', '%0A', '%0D', '%09', '%C3%A9', '\xe9', '\xff', '%FF', '%zz', '%', '%2', '\\', '%5C', '~',
  '!', '$', '&', "'", '(', ')', '*', ',', '=', ':', '@', '[', ']', '|', '{', '}', '^', '`', '"', '<', '>',
  '%2e', '%2E', '%2e%2e', '%u002f', '%c0%af', '%e2%80%8b',
]

/** Rare raw bytes that Go refuses in a request-target (control characters). */
const CONTROL = ['\t', '\x7f', '\x01', '\x00']

const VERSIONS = [
  '/v1.41', '/v1.41', '/v1.41', '/v1.41.0', '/v01.041', '/v1..41', '/V1.41', '/v', '/%761.41', '/%561.41',
  '/v1%2e41', '/v1.12', '/v1.24', '/v1.40', '/v1.99', '/v2', '/v1', '/v1.41.', '/v.', '/v..', '/v1.41/v1.41',
  '/v1.41%2F', '/v1.41%2f', '/v1,41', '/v1.41a', '/vv1.41', '/v-1.41', '/v1.4%31', '/v%31.41', '/v0', '/v1.11',
]

const ABSOLUTE = [
  'http://docker', 'HTTP://DOCKER', 'http://127.0.0.1:2375', 'https://docker', 'unix://', 'unix:///var/run/docker.sock',
  'http://u:p@docker', 'http:', 'http://', 'h2c://x', 'http://docker:', 'http://[::1]', 'http://do%63ker',
  'http://docker#x', 'x-y.z+1://h', '1http://h', '://h', 'http://docker:x', 'http://a@b@c', 'http:///',
  'HtTp://docker', '//docker', 'http://docker?', 'docker', 'http://dock er',
  // Hosts Go accepts although they look odd: `%25`, escapes of bytes from 0x80, raw such
  // bytes, `<`, `>` and `"`, and escapes in the userinfo.
  'http://do%25cker', 'http://caf%C3%A9', 'http://caf\xe9', 'http://a<b>', 'http://"h"', 'http://u%40x@docker',
  'http://[::1]:2375', 'http://h:', 'http://:80', 'http://a:b:c', 'http://h%2Fx',
]

const QUERIES = [
  '?', '?a=b', '?a=b&c=d', '??', '?/../../x', '?#', '?#/x', '?a=%zz', '?a;b', '?all=1', '?x=/containers/create',
  '?%3F', '?&', '?=&=', '#x', '#', '#?a', '#/../../x', '%3Fa=b', ';a=b', ';', '%23x', '?stdout=1', '?since=0&until=1',
  '?filters=%7B%7D', '?a=b#c', '?a=b?c',
]

const METHODS_OTHER = [
  'GET', 'GET', 'GET', 'HEAD', 'HEAD', 'OPTIONS', 'OPTIONS', 'POST', 'POST', 'PUT', 'DELETE', 'DELETE', 'PATCH',
  'CONNECT', 'get', 'post', 'Get', 'delete', 'head', 'options', 'TRACE', 'PROPFIND', 'FOO', 'M-SEARCH', 'PURGE',
]

type Family = 'container' | 'exec' | 'image' | 'volume' | 'network' | 'plugin' | 'swarm' | 'distribution' | 'debug' | 'checkpoint' | 'any'

/** Paths of dockerd routes from other API versions and near-misses, independent of dockmoat's table. */
const EXTRA_TEMPLATES: readonly [string, string][] = [
  ['POST', '/images/{name:.*}/insert'], ['GET', '/images/viz'], ['PUT', '/volumes/{name:.*}'], ['GET', '/system/info'],
  ['GET', '/containers/{name:.*}/prune'], ['GET', '/volumes/{name:.*}/json'], ['GET', '/networks/{id}/json'],
  ['GET', '/exec/{id}'], ['GET', '/images/{name:.*}'], ['GET', '/debug/pprof/goroutine'], ['GET', '/debug/pprof/heap'],
  ['GET', '/debug/vars/x'], ['GET', '/debug/pprof'], ['GET', '/debug/pprof/cmdline/x'], ['GET', '/containers'],
  ['GET', '/images'], ['GET', '/plugins/{name:.*}'], ['GET', '/swarm/join-tokens'], ['GET', '/grpc'],
  ['GET', '/session'], ['POST', '/containers/{name:.*}/attach/ws'], ['GET', '/containers/{name:.*}/attach'],
  ['GET', '/exec/{id}/start'], ['DELETE', '/exec/{id}'], ['GET', '/containers/{name:.*}'], ['GET', '/_ping/x'],
  ['GET', '/events/x'], ['GET', '/secrets/{id}/json'], ['GET', '/nodes/{id}/json'], ['POST', '/containers/{name:.*}/export'],
]

const TEMPLATES: readonly [string, string][] = [
  ...ROUTES.map((r) => [r.method, r.template] as [string, string]),
  ...EXTRA_TEMPLATES,
]

function familyOfTemplate(template: string): Family {
  if (template.includes('/checkpoints/{')) return 'checkpoint'
  const first = template.split('/')[1] ?? ''
  switch (first) {
    case 'containers': return 'container'
    case 'exec': return 'exec'
    case 'images': return 'image'
    case 'volumes': return 'volume'
    case 'networks': return 'network'
    case 'plugins': return 'plugin'
    case 'distribution': return 'distribution'
    case 'debug': return 'debug'
    case 'services': case 'nodes': case 'tasks': case 'secrets': case 'configs': case 'swarm': return 'swarm'
    default: return 'any'
  }
}

function familyValue(rng: Rng, family: Family): string {
  const tok = token(rng)
  switch (family) {
    case 'image':
    case 'plugin':
      return rng.pick([
        `${tok}:${rng.pick(['latest', '1.0', 'x'])}`, `library/${tok}`, `127.0.0.1:1/${tok}`, `${tok}@sha256:${hex(rng, 64)}`,
        `sha256:${hex(rng, 64)}`, `docker.io/${tok}`, `${tok}/${token(rng)}:1`, `127.0.0.1:1/${tok}/x:2`,
      ])
    case 'distribution':
      return rng.pick([`127.0.0.1:1/${tok}`, `127.0.0.1:1/${tok}:1`, `127.0.0.1:1/${tok}/${token(rng)}`, `127.0.0.1:1%2F${tok}`, tok.toUpperCase()])
    case 'debug':
      return rng.pick(['goroutine', 'heap', 'allocs', 'block', 'mutex', 'threadcreate', tok, 'cmdline', 'symbol'])
    default:
      return rng.pick([`${tok}_${token(rng)}`, `${tok}-1`, `${tok}.${token(rng)}`, hex(rng, 64)])
  }
}

/** A value for a route variable: fake ids, ids holding tricks, and (for reads) real words. */
function variableValue(rng: Rng, family: Family): string {
  const tok = token(rng)
  return rng.weighted<() => string>([
    [28, () => tok],
    [6, () => hex(rng, 64)],
    [10, () => familyValue(rng, family)],
    [8, () => tok + rng.pick(['/', '/', '%2F', '%2f', '%252F']) + rng.pick(ROUTE_WORDS)],
    [3, () => rng.pick(ROUTE_WORDS) + '/' + tok],
    [4, () => tok + '/' + token(rng) + (rng.chance(0.5) ? '/' + rng.pick(ROUTE_WORDS) : '')],
    [22, () => tok + rng.pick(SPECIALS) + (rng.chance(0.7) ? token(rng).slice(2) : '')],
    [3, () => tok + rng.pick(CONTROL) + 'x'],
    [5, () => rng.pick(['', '.', '..', '%2e', '%2e%2e', '.%2e', `${tok}/.`, `${tok}/..`, `./${tok}`, `${tok}/`, `/${tok}`])],
    [5, () => rng.pick(REAL_WORDS)],
    [3, () => tok.toUpperCase()],
    [3, () => `${tok}${rng.pick(SPECIALS)}${rng.pick(ROUTE_WORDS)}`],
  ])()
}

function fillTemplate(rng: Rng, template: string, family: Family): string {
  if (template === '/{anyroute:.*}') {
    // OPTIONS matches every path: give it the path of some other route.
    const [, other] = rng.pick(TEMPLATES.filter(([, t]) => t !== template))
    return fillTemplate(rng, other, familyOfTemplate(other))
  }
  return template.replace(/\{[^}]+\}/g, () => variableValue(rng, family))
}

// ---------------------------------------------------------------------------------------
// Mutations of the path (version prefix included)

function positions(s: string, ch: string): number[] {
  const out: number[] = []
  for (let i = 0; i < s.length; i++) if (s[i] === ch) out.push(i)
  return out
}

function percent(rng: Rng, c: string): string {
  const h = c.charCodeAt(0).toString(16).padStart(2, '0')
  return '%' + (rng.chance(0.5) ? h.toUpperCase() : h.toLowerCase())
}

const MUTATIONS: readonly [number, string, (rng: Rng, s: string) => string][] = [
  [10, 'encode-char', (rng, s) => {
    const candidates = [...s].map((c, i) => [c, i] as const).filter(([c]) => c !== '%')
    if (candidates.length === 0) return s
    const [c, i] = rng.pick(candidates)
    const enc = percent(rng, c)
    return s.slice(0, i) + (rng.chance(0.15) ? '%25' + enc.slice(1) : enc) + s.slice(i + 1)
  }],
  [6, 'encode-slash', (rng, s) => {
    const slashes = positions(s, '/').filter((i) => i > 0)
    if (slashes.length === 0) return s
    const i = rng.pick(slashes)
    return s.slice(0, i) + rng.pick(['%2F', '%2f', '%252F']) + s.slice(i + 1)
  }],
  [6, 'dot-segment', (rng, s) => {
    const i = rng.pick(positions(s, '/').concat([s.length]))
    return s.slice(0, i) + rng.pick(['/.', '/..', '/%2e', '/%2E%2E', '/.%2e', '/%2e.', '/x/..', '/./.', '/..%2F', '/%2e%2e%2f']) + s.slice(i)
  }],
  [5, 'double-slash', (rng, s) => {
    const slashes = positions(s, '/')
    if (slashes.length === 0) return s
    const i = rng.pick(slashes)
    return s.slice(0, i) + rng.pick(['//', '///', '/%2F']) + s.slice(i + 1)
  }],
  [5, 'trailing', (rng, s) => s + rng.pick(['/', '/.', '%2F', '//', '/..', '.', '%20', '/%2e', ';', '#'])],
  [7, 'case', (rng, s) => {
    const mode = rng.int(4)
    if (mode === 0) return s.toUpperCase()
    const letters = [...s].map((c, i) => [c, i] as const).filter(([c]) => /[a-z]/.test(c))
    if (letters.length === 0) return s
    if (mode === 1) {
      const [c, i] = rng.pick(letters)
      return s.slice(0, i) + c.toUpperCase() + s.slice(i + 1)
    }
    const segs = s.split('/')
    const k = 1 + rng.int(Math.max(1, segs.length - 1))
    segs[k] = (segs[k] ?? '').toUpperCase()
    return segs.join('/')
  }],
  [6, 'insert-special', (rng, s) => {
    const i = rng.int(s.length + 1)
    return s.slice(0, i) + rng.pick(SPECIALS) + s.slice(i)
  }],
  [4, 'cut-question', (rng, s) => {
    const i = 1 + rng.int(Math.max(1, s.length))
    return s.slice(0, i) + rng.pick(['?', '?/', '?x=']) + s.slice(i)
  }],
  [4, 'cut-fragment', (rng, s) => {
    const i = 1 + rng.int(Math.max(1, s.length))
    return s.slice(0, i) + rng.pick(['#', '#/', '%23']) + s.slice(i)
  }],
  [3, 'delete-char', (rng, s) => {
    if (s.length < 2) return s
    const i = 1 + rng.int(s.length - 1)
    return s.slice(0, i) + s.slice(i + 1)
  }],
  [3, 'repeat-segment', (rng, s) => {
    const segs = s.split('/')
    if (segs.length < 2) return s
    const k = 1 + rng.int(segs.length - 1)
    segs.splice(k, 0, segs[k] ?? '')
    return segs.join('/')
  }],
  [2, 'semicolon', (rng, s) => {
    const slashes = positions(s, '/').filter((i) => i > 0).concat([s.length])
    const i = rng.pick(slashes)
    return s.slice(0, i) + rng.pick([';', ';x', ';a=b', '%3B']) + s.slice(i)
  }],
  [2, 'backslash', (rng, s) => {
    const slashes = positions(s, '/').filter((i) => i > 0)
    if (slashes.length === 0) return s
    const i = rng.pick(slashes)
    return s.slice(0, i) + rng.pick(['\\', '%5C', '%5c']) + s.slice(i + 1)
  }],
]

// ---------------------------------------------------------------------------------------
// The case generator

function draw(rng: Rng): { method: string; target: string; origin: string } {
  const special = rng.next()
  if (special < 0.003) return { method: rng.pick(['OPTIONS', 'GET', 'DELETE']), target: '*', origin: 'asterisk' }
  if (special < 0.005) return { method: 'GET', target: rng.pick(['', 'docker', ':', '?', '#']), origin: 'empty/odd' }

  const [routeMethod, template] = rng.pick(TEMPLATES)
  const family = familyOfTemplate(template)
  const tricks: string[] = []

  let method = routeMethod === '*' ? rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'HEAD']) : routeMethod
  if (rng.chance(0.4)) {
    method = rng.pick(METHODS_OTHER)
    tricks.push(`method ${method}`)
  }

  let path = fillTemplate(rng, template, family)
  if (rng.chance(0.5)) {
    const version = rng.pick(VERSIONS)
    path = version + path
    tricks.push(`version ${version}`)
  }
  const count = rng.weighted([[40, 0], [35, 1], [18, 2], [7, 3]])
  for (let k = 0; k < count; k++) {
    const [, name, mutate] = rng.weighted(MUTATIONS.map((m) => [m[0], m] as const))
    path = mutate(rng, path)
    tricks.push(name)
  }
  let target = path
  if (rng.chance(0.3)) {
    const query = rng.pick(QUERIES)
    target += query
    tricks.push('query')
  }
  if (rng.chance(0.1)) {
    const prefix = rng.pick(ABSOLUTE)
    target = prefix + target
    tricks.push(`absolute ${prefix}`)
  }
  return { method, target, origin: `${routeMethod} ${template}${tricks.length ? ' + ' + tricks.join(', ') : ''}` }
}

/** Case `index` of `seed`: always the same, and always safe to send to dockerd. */
export function caseAt(seed: number, index: number): Case {
  for (let attempt = 0; attempt < 64; attempt++) {
    const rng = new Rng(mix(seed, index, attempt))
    const drawn = draw(rng)
    if (safety(drawn.method, drawn.target).ok) return { index, ...drawn }
  }
  return { index, method: 'GET', target: '/_ping', origin: 'fallback (no safe draw)' }
}

export function* cases(seed: number, count: number, start = 0): Generator<Case> {
  for (let i = start; i < start + count; i++) yield caseAt(seed, i)
}

// ---------------------------------------------------------------------------------------
// Safety: an independent model of how Go's net/http and gorilla/mux read the target.

/** The path Go's server would hand to the router, or why it would answer 400 itself. */
export function goRoutingPath(method: string, target: string): { ok: true; path: string; query: string } | { ok: false; why: string } {
  let raw = target
  if (raw === '*') return { ok: true, path: '*', query: '' }
  if (method === 'CONNECT' && !raw.startsWith('/')) raw = 'http://' + raw
  if (raw === '') return { ok: false, why: 'empty url' }
  if (/[\x00-\x1f\x7f]/.test(raw)) return { ok: false, why: 'control character in URL' }
  let rest = raw
  let scheme = ''
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest)
  if (m) {
    scheme = m[1]!
    rest = rest.slice(m[0].length)
  } else if (rest.startsWith(':')) {
    return { ok: false, why: 'missing protocol scheme' }
  }
  let query = ''
  const q = rest.indexOf('?')
  if (q !== -1) {
    query = rest.slice(q + 1)
    rest = rest.slice(0, q)
  }
  if (!rest.startsWith('/')) {
    if (scheme !== '') return { ok: true, path: '', query } // opaque: mux redirects
    return { ok: false, why: 'invalid URI for request' }
  }
  if (scheme !== '' && rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2)
    rest = slash === -1 ? '' : rest.slice(slash)
  }
  const decoded = unescapeOnce(rest)
  if (decoded === undefined) return { ok: false, why: 'invalid URL escape' }
  return { ok: true, path: decoded, query }
}

function unescapeOnce(s: string): string | undefined {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '%') {
      out += s[i]
      continue
    }
    const h = s.slice(i + 1, i + 3)
    if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined
    out += String.fromCharCode(parseInt(h, 16))
    i += 2
  }
  return out
}

/** Decodes until stable (at most 4 rounds), skipping invalid escapes: for conservative word checks. */
function decodeDeep(s: string): string {
  let cur = s
  for (let round = 0; round < 4; round++) {
    const next = cur.replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
    if (next === cur) break
    cur = next
  }
  return cur
}

/** Endpoints that act without naming an existing object: never aimed at with a write. */
const DANGEROUS_WORDS = new Set([
  'create', 'prune', 'pull', 'load', 'build', 'commit', 'auth', 'session', 'grpc', 'swarm', 'init', 'join',
  'leave', 'unlock', 'cancel', 'unlockkey', 'install',
])

/**
 * Reads. Method matching is case-sensitive in dockerd, so `get` reaches nothing, and
 * CONNECT and TRACE match only the debug routes (which take any method and only read).
 */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE'])

function words(s: string): string[] {
  return decodeDeep(s).toLowerCase().split(/[^a-z0-9_]+/).filter(Boolean)
}

const VERSION = '(?:/v[0-9.]+)?'
const REGISTRY_NAME_ROUTES = [
  new RegExp(`^${VERSION}/distribution/([^\\n]*)/json$`),
]
const REGISTRY_QUERY_ROUTES: readonly [RegExp, string][] = [
  [new RegExp(`^${VERSION}/images/search$`), 'term'],
  [new RegExp(`^${VERSION}/plugins/privileges$`), 'remote'],
]

/** Whether sending this pair to the real dockerd can change nothing (see the header). */
export function safety(method: string, target: string): { ok: true } | { ok: false; why: string } {
  const go = goRoutingPath(method, target)
  const rawPath = target.split('?')[0] ?? ''
  const path = go.ok ? go.path : rawPath
  const everyReading = [path, rawPath, decodeDeep(path)]

  // CPU profiles and execution traces take 30 s and load the daemon.
  if (everyReading.some((p) => /\/debug\/pprof\/(profile|trace)/i.test(p))) return { ok: false, why: 'pprof profile/trace' }

  // `attach/ws` is a GET that writes to a container's stdin.
  if (everyReading.some((p) => /attach\/ws/i.test(p)) && !hasMarker(path)) return { ok: false, why: 'attach/ws without a made-up name' }

  if (go.ok) {
    for (const re of REGISTRY_NAME_ROUTES) {
      const m = re.exec(go.path)
      if (m && !unreachableRegistry(m[1]!)) return { ok: false, why: 'registry lookup of a reachable registry' }
    }
    for (const [re, key] of REGISTRY_QUERY_ROUTES) {
      if (re.test(go.path) && !new RegExp(`(^|&)${key}=127\\.0\\.0\\.1(:|%3A)1`, 'i').test(go.query)) {
        return { ok: false, why: 'registry query without the unreachable registry' }
      }
    }
  }

  if (SAFE_METHODS.has(method.toUpperCase())) return { ok: true }

  // Writes (and every unknown method): only at made-up objects, never at id-less endpoints.
  if (!hasMarker(path) || !hasMarker(rawPath)) return { ok: false, why: 'write without a made-up name' }
  const all = [...words(path), ...words(rawPath), ...words(target)]
  const bad = all.find((w) => DANGEROUS_WORDS.has(w))
  if (bad !== undefined) return { ok: false, why: `write near the id-less endpoint word ${bad}` }
  return { ok: true }
}

function hasMarker(s: string): boolean {
  const d = decodeDeep(s).toLowerCase()
  return d.includes(MARKER) || /[0-9a-f]{64}/.test(d)
}

function unreachableRegistry(name: string): boolean {
  // Lookups go to 127.0.0.1:1 (refused at once), or fail locally as invalid references.
  return name.startsWith('127.0.0.1:1/') || /[^a-z0-9._/:@-]/.test(name) || name === ''
}
