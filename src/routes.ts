// dockerd's route table (Engine API 1.41 to 1.55), in dockerd's registration order,
// and the grant each route needs. dockerd's router (gorilla/mux) takes the FIRST route
// whose method and anchored path pattern match, so the order below is load-bearing.
// Variables like `{name:.*}` are greedy and may hold `/`: `GET /containers/x/logs/json`
// is inspect of container `x/logs`, not the logs of `x`.
//
// Columns: method, dockerd's path template, section that grants it, then words:
//   ALLOW_<X>  an extra grant (needed on top) or an action grant (enough alone),
//              as declared in settings.ts;
//   write      needs POST=1 although the method is GET (attach/ws writes to stdin);
//   hijack     dockerd may take over the connection (101 UPGRADED);
//   stream     the answer may last indefinitely: shutdown ends it at once, where a finite
//              answer (a pull, a build, an archive) gets SHUTDOWN_GRACE_MS to finish;
//   follow-stream  a stream when the query's `follow` is true (logs -f; dockerd's
//              httputils.BoolValue);
//   stats-stream   a stream unless the query's `stream` is false (stats --no-stream asks
//              one sample; httputils.BoolValueOrDefault(r, "stream", true)).
// Section NEVER: dockmoat refuses these whatever the configuration.

import { TOGGLES, type ActionGrant, type ExtraGrant, type Section } from './settings.ts'
import { queryFlag } from './query.ts'

type Row = [method: string, template: string, section: Section | 'NEVER', words?: string]

const ROWS: readonly Row[] = [
  // checkpoint router: registered first and always (501 unless experimental), so
  // `DELETE /containers/a/checkpoints/b` is a checkpoint delete, not a container delete
  ['GET', '/containers/{name:.*}/checkpoints', 'CONTAINERS'],
  ['POST', '/containers/{name:.*}/checkpoints', 'CONTAINERS'],
  ['DELETE', '/containers/{name}/checkpoints/{checkpoint}', 'CONTAINERS'],

  // container router
  ['HEAD', '/containers/{name:.*}/archive', 'CONTAINERS', 'ALLOW_ARCHIVE'],
  ['GET', '/containers/json', 'CONTAINERS'],
  ['GET', '/containers/{name:.*}/export', 'CONTAINERS', 'ALLOW_EXPORT'],
  ['GET', '/containers/{name:.*}/changes', 'CONTAINERS', 'ALLOW_CHANGES'],
  ['GET', '/containers/{name:.*}/json', 'CONTAINERS'],
  ['GET', '/containers/{name:.*}/top', 'CONTAINERS', 'ALLOW_TOP'],
  ['GET', '/containers/{name:.*}/logs', 'CONTAINERS', 'ALLOW_LOGS follow-stream'],
  ['GET', '/containers/{name:.*}/stats', 'CONTAINERS', 'stats-stream'],
  ['GET', '/containers/{name:.*}/attach/ws', 'CONTAINERS', 'write hijack stream'],
  ['GET', '/exec/{id:.*}/json', 'EXEC'],
  ['GET', '/containers/{name:.*}/archive', 'CONTAINERS', 'ALLOW_ARCHIVE'],
  ['POST', '/containers/create', 'CONTAINERS'],
  ['POST', '/containers/{name:.*}/kill', 'CONTAINERS', 'ALLOW_RESTARTS'],
  ['POST', '/containers/{name:.*}/pause', 'CONTAINERS', 'ALLOW_PAUSE'],
  ['POST', '/containers/{name:.*}/unpause', 'CONTAINERS', 'ALLOW_UNPAUSE'],
  ['POST', '/containers/{name:.*}/restart', 'CONTAINERS', 'ALLOW_RESTARTS'],
  ['POST', '/containers/{name:.*}/start', 'CONTAINERS', 'ALLOW_START'],
  ['POST', '/containers/{name:.*}/stop', 'CONTAINERS', 'ALLOW_STOP ALLOW_RESTARTS'],
  ['POST', '/containers/{name:.*}/wait', 'CONTAINERS', 'stream'],
  ['POST', '/containers/{name:.*}/resize', 'CONTAINERS'],
  ['POST', '/containers/{name:.*}/attach', 'CONTAINERS', 'hijack stream'],
  // Engines up to 24.x; with API < 1.24 it copies files out of the container
  ['POST', '/containers/{name:.*}/copy', 'CONTAINERS', 'ALLOW_ARCHIVE'],
  ['POST', '/containers/{name:.*}/exec', 'EXEC'],
  ['POST', '/exec/{name:.*}/start', 'EXEC', 'hijack stream'],
  ['POST', '/exec/{name:.*}/resize', 'EXEC'],
  ['POST', '/containers/{name:.*}/rename', 'CONTAINERS'],
  ['POST', '/containers/{name:.*}/update', 'CONTAINERS'],
  ['POST', '/containers/prune', 'CONTAINERS'],
  ['POST', '/commit', 'COMMIT'],
  ['PUT', '/containers/{name:.*}/archive', 'CONTAINERS', 'ALLOW_ARCHIVE'],
  ['DELETE', '/containers/{name:.*}', 'CONTAINERS'],

  // image router
  ['GET', '/images/json', 'IMAGES'],
  ['GET', '/images/search', 'IMAGES'],
  ['GET', '/images/get', 'IMAGES'],
  ['GET', '/images/{name:.*}/get', 'IMAGES'],
  ['GET', '/images/{name:.*}/history', 'IMAGES'],
  ['GET', '/images/{name:.*}/json', 'IMAGES'],
  ['GET', '/images/{name:.*}/attestations', 'IMAGES'], // API 1.55+
  ['POST', '/images/load', 'IMAGES'],
  ['POST', '/images/create', 'IMAGES'],
  ['POST', '/images/{name:.*}/push', 'IMAGES'],
  ['POST', '/images/{name:.*}/tag', 'IMAGES'],
  ['POST', '/images/prune', 'IMAGES'],
  ['DELETE', '/images/{name:.*}', 'IMAGES'],

  // system router; OPTIONS answers 200 on every path and does nothing, so it is not forwarded
  ['OPTIONS', '/{anyroute:.*}', 'NEVER'],
  ['GET', '/_ping', 'PING'],
  ['HEAD', '/_ping', 'PING'],
  ['GET', '/events', 'EVENTS', 'stream'],
  ['GET', '/info', 'INFO'],
  ['GET', '/version', 'VERSION'],
  ['GET', '/system/df', 'SYSTEM'],
  ['POST', '/auth', 'AUTH'],

  // volume router
  ['GET', '/volumes', 'VOLUMES'],
  ['GET', '/volumes/{name:.*}', 'VOLUMES'],
  ['POST', '/volumes/create', 'VOLUMES'],
  ['POST', '/volumes/prune', 'VOLUMES'],
  ['PUT', '/volumes/{name:.*}', 'VOLUMES'], // API 1.42+: cluster volumes
  ['DELETE', '/volumes/{name:.*}', 'VOLUMES'],

  // build, session and gRPC routers
  ['POST', '/build', 'BUILD'],
  ['POST', '/build/prune', 'BUILD'],
  ['POST', '/build/cancel', 'BUILD'],
  ['POST', '/session', 'SESSION', 'hijack stream'],
  ['POST', '/grpc', 'GRPC', 'hijack stream'],

  // swarm router
  ['POST', '/swarm/init', 'SWARM'],
  ['POST', '/swarm/join', 'SWARM'],
  ['POST', '/swarm/leave', 'SWARM'],
  ['GET', '/swarm', 'SWARM'],
  ['GET', '/swarm/unlockkey', 'SWARM'],
  ['POST', '/swarm/update', 'SWARM'],
  ['POST', '/swarm/unlock', 'SWARM'],
  ['GET', '/services', 'SERVICES'],
  ['GET', '/services/{id}', 'SERVICES'],
  ['POST', '/services/create', 'SERVICES'],
  ['POST', '/services/{id}/update', 'SERVICES'],
  ['DELETE', '/services/{id}', 'SERVICES'],
  ['GET', '/services/{id}/logs', 'SERVICES', 'ALLOW_LOGS follow-stream'],
  ['GET', '/nodes', 'NODES'],
  ['GET', '/nodes/{id}', 'NODES'],
  ['DELETE', '/nodes/{id}', 'NODES'],
  ['POST', '/nodes/{id}/update', 'NODES'],
  ['GET', '/tasks', 'TASKS'],
  ['GET', '/tasks/{id}', 'TASKS'],
  ['GET', '/tasks/{id}/logs', 'TASKS', 'ALLOW_LOGS follow-stream'],
  ['GET', '/secrets', 'SECRETS'],
  ['POST', '/secrets/create', 'SECRETS'],
  ['DELETE', '/secrets/{id}', 'SECRETS'],
  ['GET', '/secrets/{id}', 'SECRETS'],
  ['POST', '/secrets/{id}/update', 'SECRETS'],
  ['GET', '/configs', 'CONFIGS'],
  ['POST', '/configs/create', 'CONFIGS'],
  ['DELETE', '/configs/{id}', 'CONFIGS'],
  ['GET', '/configs/{id}', 'CONFIGS'],
  ['POST', '/configs/{id}/update', 'CONFIGS'],

  // plugin router
  ['GET', '/plugins', 'PLUGINS'],
  ['GET', '/plugins/{name:.*}/json', 'PLUGINS'],
  ['GET', '/plugins/privileges', 'PLUGINS'],
  ['DELETE', '/plugins/{name:.*}', 'PLUGINS'],
  ['POST', '/plugins/{name:.*}/enable', 'PLUGINS'],
  ['POST', '/plugins/{name:.*}/disable', 'PLUGINS'],
  ['POST', '/plugins/pull', 'PLUGINS'],
  ['POST', '/plugins/{name:.*}/push', 'PLUGINS'],
  ['POST', '/plugins/{name:.*}/upgrade', 'PLUGINS'],
  ['POST', '/plugins/{name:.*}/set', 'PLUGINS'],
  ['POST', '/plugins/create', 'PLUGINS'],

  // distribution and network routers (grpc sits between them on 20.10, after debug on
  // 29.x; no pattern of one router overlaps another's, so that order cannot matter)
  ['GET', '/distribution/{name:.*}/json', 'DISTRIBUTION'],
  ['GET', '/networks', 'NETWORKS'],
  ['GET', '/networks/', 'NETWORKS'],
  ['GET', '/networks/{id:.+}', 'NETWORKS'],
  ['POST', '/networks/create', 'NETWORKS'],
  ['POST', '/networks/{id:.*}/connect', 'NETWORKS'],
  ['POST', '/networks/{id:.*}/disconnect', 'NETWORKS'],
  ['POST', '/networks/prune', 'NETWORKS'],
  ['DELETE', '/networks/{id:.*}', 'NETWORKS'],

  // debug routes: leak the daemon's command line and memory. Up to 27.x any method and
  // unversioned; from 28.0 GET and versioned. Both are covered here, and always refused.
  ['*', '/debug/vars', 'NEVER'],
  ['*', '/debug/pprof/', 'NEVER'],
  ['*', '/debug/pprof/cmdline', 'NEVER'],
  ['*', '/debug/pprof/profile', 'NEVER'],
  ['*', '/debug/pprof/symbol', 'NEVER'],
  ['*', '/debug/pprof/trace', 'NEVER'],
  ['*', '/debug/pprof/{name}', 'NEVER'],
]

export interface Route {
  method: string
  template: string
  /** How messages and logs show it: `POST /containers/{name}/stop`. */
  display: string
  section: Section | 'NEVER'
  /** Grants needed on top of the section (all of them). */
  extras: ExtraGrant[]
  /** Grants that allow this route on their own, whatever POST and the section say. */
  actions: ActionGrant[]
  /** Needs POST=1: every method but GET and HEAD, and GETs that write. */
  write: boolean
  hijack: boolean
  /** Whether the answer may last indefinitely: always, never, or as the query says (see `isEndless`). */
  stream: boolean | 'follow' | 'stats'
  pattern: RegExp
}

const STREAM_WORDS = { stream: true, 'follow-stream': 'follow', 'stats-stream': 'stats' } as const

const KIND_OF = new Map(TOGGLES.map((t) => [t.name as string, t.kind]))

function compile([method, template, section, words = '']: Row): Route {
  const list = words.split(' ').filter(Boolean)
  for (const word of list) {
    if (!['write', 'hijack', ...Object.keys(STREAM_WORDS)].includes(word) && !['extra', 'action'].includes(KIND_OF.get(word) ?? '')) {
      throw new Error(`route table: unknown word ${word} on ${method} ${template}`)
    }
  }
  return {
    method,
    template,
    display: `${method === '*' ? 'ANY' : method} ${template.replace(/\{([^}:]+):[^}]*\}/g, '{$1}')}`,
    section,
    extras: list.filter((w) => KIND_OF.get(w) === 'extra') as ExtraGrant[],
    actions: list.filter((w) => KIND_OF.get(w) === 'action') as ActionGrant[],
    write: list.includes('write') || (method !== 'GET' && method !== 'HEAD'),
    hijack: list.includes('hijack'),
    stream: list.map((word) => STREAM_WORDS[word as keyof typeof STREAM_WORDS]).find((kind) => kind !== undefined) ?? false,
    pattern: templateToRegExp(template),
  }
}

/**
 * gorilla/mux turns `{name}` into `[^/]+` and `{name:re}` into `(re)`, anchors both ends,
 * and dockerd registers every route twice: behind `/v{version:[0-9.]+}` and bare. Go's
 * `.` matches any byte but `\n`; JavaScript's also skips `\r`, so it is spelt out.
 * Paths are matched as latin1 strings, one character per byte, as Go matches bytes.
 */
function templateToRegExp(template: string): RegExp {
  let source = ''
  for (const part of template.split(/(\{[^}]+\})/)) {
    if (part.startsWith('{')) {
      const colon = part.indexOf(':')
      const re = colon === -1 ? '[^/]+' : part.slice(colon + 1, -1)
      if (!['[^/]+', '.*', '.+'].includes(re)) throw new Error(`route table: unsupported variable ${part} in ${template}`)
      source += '(' + re.replace('.', '[^\\n]') + ')'
    } else {
      source += part.replace(/[.*+?^$()[\]\\|]/g, '\\$&')
    }
  }
  return new RegExp('^(/v[0-9.]+)?' + source + '$')
}

/** Whether the answer to `target` (path and query, as forwarded) may last indefinitely, as dockerd reads the query. */
export function isEndless(route: Route, target: string): boolean {
  if (typeof route.stream === 'boolean') return route.stream
  const question = target.indexOf('?')
  const query = question === -1 ? '' : target.slice(question + 1)
  return route.stream === 'follow' ? queryFlag(query, 'follow', false) : queryFlag(query, 'stream', true)
}

/** The version prefix (or '') and the variables' values of a path `route` matches. */
export function routeParams(route: Route, path: string): { version: string; params: string[] } | undefined {
  const match = route.pattern.exec(path)
  return match === null ? undefined : { version: match[1] ?? '', params: match.slice(2) }
}

/** A path for `route` with these variable values, each percent-encoded as one segment's bytes. */
export function routePath(route: Route, version: string, params: readonly string[]): string {
  let i = 0
  return version + route.template.replace(/\{[^}]+\}/g, () => encodeLatin1(params[i++] ?? ''))
}

// Path strings are latin1 (one character per byte), so encode byte-wise, keeping `/`
// inside greedy names as dockerd would decode it back.
function encodeLatin1(value: string): string {
  return value.replace(/[^A-Za-z0-9._~\-/:@]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0'))
}

export const ROUTES: readonly Route[] = ROWS.map(compile)

export type Match =
  | { kind: 'route'; route: Route }
  /** The path is a route, but not for this method (dockerd answers 404). */
  | { kind: 'method'; methods: string[] }
  | { kind: 'none' }

/** The route dockerd would run for this method and (decoded, clean) path. */
export function matchRoute(method: string, path: string): Match {
  for (const route of routesFor(method)) {
    if (route.pattern.test(path)) return { kind: 'route', route }
  }
  const methods = new Set<string>()
  for (const route of ROUTES) {
    if (route.method !== 'OPTIONS' && route.pattern.test(path)) methods.add(route.method)
  }
  return methods.size > 0 ? { kind: 'method', methods: [...methods] } : { kind: 'none' }
}

// The routes one method can run, in registration order (`*` routes included): dockerd
// runs the first whose path matches, so a request tests only these. Node's parser admits
// only known methods; the cap keeps the cache bounded all the same.
const routesByMethod = new Map<string, readonly Route[]>()
function routesFor(method: string): readonly Route[] {
  let routes = routesByMethod.get(method)
  if (routes === undefined) {
    routes = ROUTES.filter((route) => route.method === method || route.method === '*')
    if (routesByMethod.size < 64) routesByMethod.set(method, routes)
  }
  return routes
}
