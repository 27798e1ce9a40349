// Every environment variable dockmoat reads, declared once. The README's table, the
// startup parser and the policy all read this list.
import { KNOWN_CAPABILITIES, normalizeCapability } from './capabilities.ts'
import { goPathClean } from './go-path.ts'
import { globToRegExp, imagePattern, type ImagePattern } from './images.ts'

export type Section =
  | 'AUTH' | 'BUILD' | 'COMMIT' | 'CONFIGS' | 'CONTAINERS' | 'DISTRIBUTION' | 'EVENTS'
  | 'EXEC' | 'GRPC' | 'IMAGES' | 'INFO' | 'NETWORKS' | 'NODES' | 'PING' | 'PLUGINS'
  | 'SECRETS' | 'SERVICES' | 'SESSION' | 'SWARM' | 'SYSTEM' | 'TASKS' | 'VERSION' | 'VOLUMES'

/** Grants for single container actions, usable without POST=1 or CONTAINERS=1. */
export type ActionGrant = 'ALLOW_START' | 'ALLOW_STOP' | 'ALLOW_RESTARTS' | 'ALLOW_PAUSE' | 'ALLOW_UNPAUSE'

/** Grants for container reads that leak data, needed on top of CONTAINERS=1. */
export type ExtraGrant = 'ALLOW_ARCHIVE' | 'ALLOW_EXPORT' | 'ALLOW_LOGS' | 'ALLOW_CHANGES' | 'ALLOW_TOP'

/** Body-guard grants: what a client that may create containers may also ask for. */
export type GuardGrant = 'ALLOW_PRIVILEGED' | 'ALLOW_HOST_NAMESPACES' | 'ALLOW_DEVICES' | 'ALLOW_UNCONFINED'

export type Toggle = Section | 'POST' | ActionGrant | ExtraGrant | GuardGrant

interface ToggleSpec {
  name: Toggle
  kind: 'section' | 'method' | 'action' | 'extra' | 'guard'
  default: boolean
  help: string
}

const section = (name: Section, help: string, on = false): ToggleSpec => ({ name, kind: 'section', default: on, help })

export const TOGGLES: readonly ToggleSpec[] = [
  section('EVENTS', '`/events`: the event stream (Traefik, nginx-proxy, Sablier).', true),
  section('PING', '`GET`/`HEAD /_ping`.', true),
  section('VERSION', '`/version`.', true),
  section('AUTH', '`/auth`: check registry credentials.'),
  section('BUILD', '`/build`, `/build/prune`, `/build/cancel`.'),
  section('COMMIT', '`/commit`: make an image from a container.'),
  section('CONFIGS', '`/configs` (Swarm configs; reading one returns its data).'),
  section('CONTAINERS', '`/containers/...`: list, inspect, stats, and with `POST=1` create, start, remove... Data-leaking reads need an `ALLOW_*` grant too.'),
  section('DISTRIBUTION', '`/distribution/{name}/json`: registry lookups.'),
  section('EXEC', '`/containers/{id}/exec` and `/exec/...`: run commands in containers (with `POST=1`).'),
  section('GRPC', '`/grpc`: BuildKit over HTTP/2 (with `POST=1`).'),
  section('IMAGES', '`/images/...`: list, inspect, and with `POST=1` pull, push, tag, remove, load.'),
  section('INFO', '`/info`.'),
  section('NETWORKS', '`/networks/...`.'),
  section('NODES', '`/nodes/...` (Swarm).'),
  section('PLUGINS', '`/plugins/...`.'),
  section('SECRETS', '`/secrets/...` (Swarm).'),
  section('SERVICES', '`/services/...` (Swarm). Service logs need `ALLOW_LOGS` too.'),
  section('SESSION', '`/session`: BuildKit sessions (with `POST=1`).'),
  section('SWARM', '`/swarm/...`. `GET /swarm` returns the join tokens.'),
  section('SYSTEM', '`/system/df`.'),
  section('TASKS', '`/tasks/...` (Swarm). Task logs need `ALLOW_LOGS` too.'),
  section('VOLUMES', '`/volumes/...`.'),
  { name: 'POST', kind: 'method', default: false, help: 'Off: only `GET` and `HEAD` pass. On: every method passes, per the sections above.' },
  { name: 'ALLOW_START', kind: 'action', default: false, help: '`POST /containers/{id}/start`, even with `POST=0` and `CONTAINERS=0`.' },
  { name: 'ALLOW_STOP', kind: 'action', default: false, help: '`POST /containers/{id}/stop`, even with `POST=0` and `CONTAINERS=0`.' },
  { name: 'ALLOW_RESTARTS', kind: 'action', default: false, help: '`POST /containers/{id}/restart`, `/stop` and `/kill`, even with `POST=0` and `CONTAINERS=0`.' },
  { name: 'ALLOW_PAUSE', kind: 'action', default: false, help: '`POST /containers/{id}/pause`, even with `POST=0` and `CONTAINERS=0`.' },
  { name: 'ALLOW_UNPAUSE', kind: 'action', default: false, help: '`POST /containers/{id}/unpause`, even with `POST=0` and `CONTAINERS=0`.' },
  { name: 'ALLOW_ARCHIVE', kind: 'extra', default: false, help: '`GET`/`HEAD`/`PUT /containers/{id}/archive` (`docker cp`: any file of the container and its mounts). Needs `CONTAINERS=1`, and `POST=1` for `PUT`.' },
  { name: 'ALLOW_EXPORT', kind: 'extra', default: false, help: '`GET /containers/{id}/export` (the whole filesystem). Needs `CONTAINERS=1`.' },
  { name: 'ALLOW_LOGS', kind: 'extra', default: false, help: '`GET /containers/{id}/logs`, and service and task logs. Needs `CONTAINERS=1` (or `SERVICES=1`/`TASKS=1`).' },
  { name: 'ALLOW_CHANGES', kind: 'extra', default: false, help: '`GET /containers/{id}/changes`. Needs `CONTAINERS=1`.' },
  { name: 'ALLOW_TOP', kind: 'extra', default: false, help: '`GET /containers/{id}/top` (process list with arguments). Needs `CONTAINERS=1`.' },
  { name: 'ALLOW_PRIVILEGED', kind: 'guard', default: false, help: 'Privileged containers (`--privileged`) and privileged exec. Also plugin installs and settings (`/plugins/pull`, `/create`, `/{name}/upgrade`, `/{name}/set`) and `/swarm/join`, which run code with powers no body shows.' },
  { name: 'ALLOW_HOST_NAMESPACES', kind: 'guard', default: false, help: 'The host\'s network, pid, ipc, uts, user and cgroup namespaces, and `container:<id>` network/pid/ipc modes, for containers, services and builds (`networkmode`). Also BuildKit (`/session`, `/grpc`, `/build?version=2`), which allows `RUN --network=host` by default.' },
  { name: 'ALLOW_DEVICES', kind: 'guard', default: false, help: '`Devices`, `DeviceCgroupRules`, `DeviceRequests` (`--device`, `--device-cgroup-rule`, `--gpus`).' },
  { name: 'ALLOW_UNCONFINED', kind: 'guard', default: false, help: 'Security options other than `no-new-privileges` (seccomp, AppArmor, SELinux label), `MaskedPaths`/`ReadonlyPaths` without dockerd\'s defaults (`systempaths=unconfined`), and services\' SELinux, seccomp and AppArmor settings.' },
]

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

// Tecnativa takes HAProxy's syslog level names; pino's own names are accepted too.
const LOG_LEVELS: Record<string, LogLevel> = {
  trace: 'trace', debug: 'debug', info: 'info', notice: 'info', warn: 'warn', warning: 'warn',
  error: 'error', err: 'error', fatal: 'fatal', crit: 'fatal', alert: 'fatal', emerg: 'fatal', silent: 'silent',
}

interface ValueSpec {
  name: string
  default: string
  help: string
}

export const SETTINGS: readonly ValueSpec[] = [
  { name: 'ALLOW_BIND', default: '(none)', help: 'Comma-separated host paths that bind mounts may use, at or below each path by segment (`/srv/app` does not allow `/srv/application`); `/` allows any. Covers `Binds`, `Mounts` of type bind, service mounts, `VolumesFrom` (only with `/`), and local volumes with a `device` (`-o o=bind`, block devices; other types such as overlay, proc or NFS only with `/`).' },
  { name: 'ALLOW_CAPS', default: '(none)', help: 'Comma-separated capabilities that containers and services may add beyond dockerd\'s default set (`NET_ADMIN,SYS_TIME`, with or without `CAP_`), or `ALL`.' },
  { name: 'ALLOW_NAMES', default: '(any)', help: 'Comma-separated patterns (`*`, `?`) a container\'s name must match when it is created or renamed, such as `ci-*` or `${CN}-*` in a profile; a create without a name is refused. Which existing containers a client may touch is `OWNER`\'s job.' },
  { name: 'ALLOW_IMAGES', default: '(any)', help: 'Comma-separated image patterns that may be pulled, run (containers and services), pushed, tagged, committed to and built to: `busybox` (any tag), `busybox:1.36`, `registry.example.com/team/*`. Names are compared as dockerd resolves them (`busybox` is `docker.io/library/busybox`); image IDs, `docker load` and `docker import` are refused. Base images a build pulls (`FROM`) are not judged.' },
  { name: 'OWNER', default: '(unset)', help: 'Turn ownership on: everything the client creates is labelled `OWNER_LABEL=<OWNER>`; lists, prunes and events show only what it owns, and any other object answers as dockerd answers for one that does not exist. Images it did not build stay readable and usable, but it cannot tag, build, commit or import over a name that points at one (`docker load` is refused). See "One socket per CI job".' },
  { name: 'OWNER_LABEL', default: 'dockmoat.owner', help: 'The label key `OWNER` is stamped under.' },
  { name: 'OWNER_ADOPT', default: '(none)', help: 'Comma-separated names or IDs of containers the owner may use although it did not create them (a Jenkins agent for `--volumes-from`, a runner\'s own container).' },
  { name: 'CGROUP_PARENT', default: '(unset)', help: 'Place every container and classic build under this cgroup parent (a path for the cgroupfs driver, a `.slice` for systemd); a body or build asking for another is refused, and BuildKit is refused (it does not honour it).' },
  { name: 'MODE', default: 'enforce', help: '`enforce`, or `audit`: forward every call dockerd\'s route table knows as if every grant were set (the body guard\'s grants included), and log each call the configuration would have refused at `warn`, with what it would need; `dockmoat learn` turns such a log into the least configuration. Unknown routes, `/debug/*`, malformed bodies and the rules that restrict rather than grant (`OWNER`, `CGROUP_PARENT`, `ALLOW_NAMES`, `ALLOW_IMAGES`) stay enforced. Never for production.' },
  { name: 'POLICY_FILE', default: '(unset)', help: 'A YAML file of named profiles, each a set of these variables with a `match` on who is asking (TLS client CN or SAN, source address, listener, the caller\'s container); the first profile that matches decides a client\'s calls. See "One dockmoat for many clients". `SIGHUP` reloads it.' },
  { name: 'MAX_BODY_BYTES', default: '1048576', help: 'Largest body dockmoat reads whole to judge it (container create and start, exec, volume and service bodies); a larger one gets 413.' },
  { name: 'SOCKET_PATH', default: '/var/run/docker.sock', help: 'The Docker Engine socket to forward to.' },
  { name: 'LISTEN_ADDRESS', default: '(all interfaces)', help: 'TCP address to listen on. Unset: `::` (IPv6 and IPv4), or `0.0.0.0` where the host has no IPv6.' },
  { name: 'LISTEN_PORT', default: '2375', help: 'TCP port to listen on.' },
  { name: 'DISABLE_IPV6', default: '0', help: 'Listen on IPv4 only (`0.0.0.0`) when `LISTEN_ADDRESS` is unset.' },
  { name: 'TLS_CERT', default: '(unset)', help: 'PEM server certificate (with its chain): serve HTTPS on `TLS_PORT` at `LISTEN_ADDRESS`. It needs a subjectAltName for the address clients use (the docker CLI ignores the CN).' },
  { name: 'TLS_KEY', default: '(unset)', help: 'PEM private key of `TLS_CERT`.' },
  { name: 'TLS_CA', default: '(unset)', help: 'PEM CA certificates: with it, a client certificate signed by one of them is required (`docker --tlsverify`), and its CN names the client in the log.' },
  { name: 'TLS_PORT', default: '2376', help: 'TCP port of the TLS listener. With `TLS_CERT` set, the plain listener is off unless `LISTEN_PORT` or `LISTEN_SOCKET` is set too.' },
  { name: 'LISTEN_SOCKET', default: '(unset)', help: 'Listen on this unix socket path instead of TCP.' },
  { name: 'LISTEN_SOCKET_MODE', default: '660', help: 'File mode (octal) of `LISTEN_SOCKET`.' },
  { name: 'METRICS_LISTEN', default: '(off)', help: 'Serve Prometheus metrics at `http://<address>:<port>/metrics` on a listener of their own (never the proxy\'s), such as `127.0.0.1:9375` or `[::]:9375`.' },
  { name: 'LOG_LEVEL', default: 'info', help: 'One of ' + Object.keys(LOG_LEVELS).join(', ') + ' (syslog names as in Tecnativa, or pino\'s).' },
  { name: 'SHUTDOWN_GRACE_MS', default: '1500', help: 'On SIGTERM/SIGINT, how long requests in flight (a pull, a build, `docker cp`) may finish; streams (`/events`, `logs -f`, `stats`, attach, exec) end at once.' },
]

export type Listen =
  | { kind: 'tcp'; host: string | undefined; port: number; ipv6: boolean }
  | { kind: 'unix'; path: string; mode: number }

export interface Config {
  grants: Record<Toggle, boolean>
  /** Cleaned absolute paths; `/` allows any. */
  allowBind: readonly string[]
  /** Normalised names (no `CAP_`), or every capability. */
  allowCaps: 'ALL' | ReadonlySet<string>
  maxBodyBytes: number
  /** Container names allowed at create and rename; undefined: any. */
  allowNames: readonly NamePattern[] | undefined
  /** Image references allowed; undefined: any. */
  allowImages: readonly ImagePattern[] | undefined
  /** Forced on every container and classic build, when set. */
  cgroupParent: string | undefined
  /** Ownership, when OWNER is set. */
  owner: Owner | undefined
  socketPath: string
  listen: Listen
  logLevel: LogLevel
  shutdownGraceMs: number
  /** `audit`: grants are reported, not enforced (policy.ts). */
  mode: 'enforce' | 'audit'
  /** The TLS listener's files (read at startup by tls.ts), when TLS_CERT is set. */
  tls: TlsFiles | undefined
  /** False when only the TLS listener serves. */
  plain: boolean
  /** POLICY_FILE's path, when set (read by policy-file.ts). */
  policyFile: string | undefined
  /** Where Prometheus metrics are served, when set. */
  metricsListen: { host: string; port: number } | undefined
}

export interface NamePattern { text: string; pattern: RegExp }

export interface TlsFiles { cert: string; key: string; ca: string | undefined; port: number }

export interface Owner {
  label: string
  id: string
  /** Container names (without `/`) and IDs the owner may use without owning them. */
  adopt: readonly string[]
}

export class ConfigError extends Error {}

const TRUE = ['1', 'true', 'yes', 'on']
const FALSE = ['0', 'false', 'no', 'off']
const BOOLEAN_WORDS = '1/0, true/false, yes/no, on/off (any case)'

function parseBoolean(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback
  const word = value.trim().toLowerCase()
  if (TRUE.includes(word)) return true
  if (FALSE.includes(word)) return false
  throw new ConfigError(`${name}=${JSON.stringify(value)} is not a boolean; use one of ${BOOLEAN_WORDS}`)
}

function parseInteger(name: string, value: string, min: number, max: number, radix = 10): number {
  const pattern = radix === 8 ? /^[0-7]{1,4}$/ : /^[0-9]+$/
  const number = Number.parseInt(value, radix)
  if (!pattern.test(value) || number < min || number > max) {
    const what = radix === 8 ? 'an octal file mode such as 660' : `a whole number from ${min} to ${max}`
    throw new ConfigError(`${name}=${JSON.stringify(value)} is not valid; use ${what}`)
  }
  return number
}

export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const grants = {} as Record<Toggle, boolean>
  for (const toggle of TOGGLES) grants[toggle.name] = parseBoolean(toggle.name, env[toggle.name], toggle.default)

  const level = (env.LOG_LEVEL ?? 'info').trim().toLowerCase()
  const logLevel = LOG_LEVELS[level]
  if (logLevel === undefined) {
    throw new ConfigError(`LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)} is not a log level; use one of ${Object.keys(LOG_LEVELS).join(', ')}`)
  }

  const socketPath = env.SOCKET_PATH ?? '/var/run/docker.sock'
  if (socketPath === '') throw new ConfigError('SOCKET_PATH is empty; give the path of the Docker Engine socket, such as /var/run/docker.sock')

  let listen: Listen
  if (env.LISTEN_SOCKET !== undefined && env.LISTEN_SOCKET !== '') {
    if (env.LISTEN_ADDRESS !== undefined || env.LISTEN_PORT !== undefined) {
      throw new ConfigError('LISTEN_SOCKET cannot be combined with LISTEN_ADDRESS or LISTEN_PORT; choose a unix socket or a TCP address')
    }
    listen = { kind: 'unix', path: env.LISTEN_SOCKET, mode: parseInteger('LISTEN_SOCKET_MODE', env.LISTEN_SOCKET_MODE ?? '660', 0, 0o7777, 8) }
  } else {
    const port = parseInteger('LISTEN_PORT', env.LISTEN_PORT ?? '2375', 0, 65535)
    const host = env.LISTEN_ADDRESS === '' ? undefined : env.LISTEN_ADDRESS
    if (host !== undefined && !/^[0-9A-Za-z.:%_-]+$/.test(host)) {
      throw new ConfigError(`LISTEN_ADDRESS=${JSON.stringify(host)} is not an address; use an IP address such as 127.0.0.1 or ::, or a host name`)
    }
    listen = { kind: 'tcp', host, port, ipv6: !parseBoolean('DISABLE_IPV6', env.DISABLE_IPV6, false) }
  }

  const tls = parseTls(env)
  const shutdownGraceMs = parseInteger('SHUTDOWN_GRACE_MS', env.SHUTDOWN_GRACE_MS ?? '1500', 0, 600_000)
  const maxBodyBytes = parseInteger('MAX_BODY_BYTES', env.MAX_BODY_BYTES ?? '1048576', 1024, 1024 ** 3)
  return {
    grants, allowBind: parseBindRoots(env.ALLOW_BIND), allowCaps: parseCapabilities(env.ALLOW_CAPS), maxBodyBytes,
    allowNames: parsePatterns('ALLOW_NAMES', env.ALLOW_NAMES, /^[A-Za-z0-9*?][A-Za-z0-9_.*?-]*$/, 'container name patterns such as ci-*,build-?', (text) => ({ text, pattern: globToRegExp(text) })),
    allowImages: parsePatterns('ALLOW_IMAGES', env.ALLOW_IMAGES, /^[a-z0-9*?][a-z0-9._\/:@*?-]*$/, 'image patterns such as busybox,registry.example.com/team/* (lowercase)', imagePattern),
    cgroupParent: parseCgroupParent(env.CGROUP_PARENT), owner: parseOwner(env), socketPath, listen, logLevel, shutdownGraceMs,
    mode: parseMode(env.MODE), metricsListen: parseMetricsListen(env.METRICS_LISTEN), tls,
    policyFile: env.POLICY_FILE === '' ? undefined : env.POLICY_FILE,
    plain: tls === undefined || env.LISTEN_PORT !== undefined || (env.LISTEN_SOCKET ?? '') !== '',
  }
}

function parseTls(env: NodeJS.ProcessEnv): TlsFiles | undefined {
  const cert = env.TLS_CERT ?? ''
  const key = env.TLS_KEY ?? ''
  const ca = env.TLS_CA ?? ''
  if (cert === '' && key === '') {
    if (ca !== '' || env.TLS_PORT !== undefined) throw new ConfigError('TLS_CA and TLS_PORT need TLS_CERT and TLS_KEY; give the server certificate and its key as PEM files')
    return undefined
  }
  if (cert === '' || key === '') throw new ConfigError(`${cert === '' ? 'TLS_CERT' : 'TLS_KEY'} is missing; TLS_CERT and TLS_KEY go together (the server certificate and its private key, PEM files)`)
  return { cert, key, ca: ca === '' ? undefined : ca, port: parseInteger('TLS_PORT', env.TLS_PORT ?? '2376', 0, 65535) }
}

function parseMode(value: string | undefined): 'enforce' | 'audit' {
  const mode = (value ?? 'enforce').trim().toLowerCase()
  if (mode === 'enforce' || mode === 'audit' || mode === '') return mode === 'audit' ? 'audit' : 'enforce'
  throw new ConfigError(`MODE=${JSON.stringify(value)} is not a mode; use enforce (the default) or audit`)
}

function parseMetricsListen(value: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const match = /^(?:\[([0-9A-Fa-f:.%]+)\]|([0-9A-Za-z.-]+)):([0-9]+)$/.exec(value.trim())
  const port = match === null ? NaN : Number(match[3])
  if (match === null || !(port >= 0 && port <= 65535)) {
    throw new ConfigError(`METRICS_LISTEN=${JSON.stringify(value)} is not an address and port; use one such as 127.0.0.1:9375 or [::]:9375`)
  }
  return { host: match[1] ?? match[2]!, port }
}

function listEntries(name: string, value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return []
  const entries = value.split(',').map((entry) => entry.trim())
  if (entries.includes('')) throw new ConfigError(`${name}=${JSON.stringify(value)} has an empty entry; separate entries with single commas`)
  return entries
}

function parseBindRoots(value: string | undefined): string[] {
  return listEntries('ALLOW_BIND', value).map((entry) => {
    if (!entry.startsWith('/') || entry.includes('\0')) {
      throw new ConfigError(`ALLOW_BIND entry ${JSON.stringify(entry)} is not an absolute path; use host paths such as /srv/app,/home/ci, or / to allow any`)
    }
    return goPathClean(entry)
  })
}

function parsePatterns<T>(name: string, value: string | undefined, valid: RegExp, what: string, compile: (pattern: string) => T): T[] | undefined {
  const entries = listEntries(name, value)
  if (entries.length === 0) return undefined
  for (const entry of entries) {
    if (!valid.test(entry)) throw new ConfigError(`${name} entry ${JSON.stringify(entry)} is not valid; use ${what}`)
  }
  return entries.map(compile)
}

function parseOwner(env: NodeJS.ProcessEnv): Owner | undefined {
  const id = env.OWNER ?? ''
  const label = env.OWNER_LABEL ?? 'dockmoat.owner'
  const adopt = listEntries('OWNER_ADOPT', env.OWNER_ADOPT).map((name) => name.replace(/^\//, ''))
  if (id === '') {
    if (env.OWNER_LABEL !== undefined || adopt.length > 0) throw new ConfigError('OWNER_LABEL and OWNER_ADOPT need OWNER; set OWNER to the owner\'s name, such as OWNER=ci-job-1')
    return undefined
  }
  // Label values travel in JSON bodies and filters; keep them printable and unambiguous.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/.test(id)) throw new ConfigError(`OWNER=${JSON.stringify(id)} is not valid; use letters, digits and _.:@- (up to 128), starting with a letter or digit`)
  if (!/^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$/.test(label)) throw new ConfigError(`OWNER_LABEL=${JSON.stringify(label)} is not a label key; use letters, digits and _./- such as dockmoat.owner`)
  for (const name of adopt) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new ConfigError(`OWNER_ADOPT entry ${JSON.stringify(name)} is not a container name or ID`)
  }
  return { label, id, adopt }
}

function parseCgroupParent(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined
  if (!/^[A-Za-z0-9_.@:\/-]+$/.test(value) || value.split('/').includes('..')) {
    throw new ConfigError(`CGROUP_PARENT=${JSON.stringify(value)} is not a cgroup parent; use a path such as /ci (cgroupfs driver) or a slice such as ci.slice (systemd driver)`)
  }
  return value
}

function parseCapabilities(value: string | undefined): 'ALL' | ReadonlySet<string> {
  const names = listEntries('ALLOW_CAPS', value).map(normalizeCapability)
  if (names.includes('ALL')) return 'ALL'
  for (const name of names) {
    if (!KNOWN_CAPABILITIES.has(name)) {
      throw new ConfigError(`ALLOW_CAPS entry ${JSON.stringify(name)} is not a Linux capability; use names such as NET_ADMIN,SYS_TIME (with or without CAP_), or ALL`)
    }
  }
  return new Set(names)
}

const KNOWN_NAMES: readonly string[] = [...TOGGLES.map((t) => t.name), ...SETTINGS.map((s) => s.name)]

/**
 * Names in the environment that look like a misspelt dockmoat variable (`CONTAINER=1`,
 * `ALLOW_RESTART=1`): close to a known name and holding a boolean value. Other
 * variables (PATH, LANG, ...) are never reported.
 */
export function misspeltVariables(env: NodeJS.ProcessEnv): { name: string; suggestion: string }[] {
  const found: { name: string; suggestion: string }[] = []
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || KNOWN_NAMES.includes(name)) continue
    if (![...TRUE, ...FALSE].includes(value.trim().toLowerCase())) continue
    if (name.length < 4) continue
    const suggestion = closestVariable(name)
    if (suggestion !== undefined) found.push({ name, suggestion })
  }
  return found
}

/** The known variable within two edits of `name` (any case), if there is one. */
export function closestVariable(name: string): string | undefined {
  const upper = name.toUpperCase()
  return KNOWN_NAMES
    // Names whose lengths differ by more than two are more than two edits apart.
    .filter((known) => Math.abs(known.length - upper.length) <= 2)
    .map((known) => ({ known, distance: editDistance(upper, known) }))
    .filter(({ distance }) => distance <= 2)
    .sort((a, b) => a.distance - b.distance)[0]?.known
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

/** The README's configuration table, generated from the declarations above. */
export function renderEnvTable(): string {
  const rows = [
    '| Variable | Default | What it grants or sets |',
    '|---|---|---|',
    ...TOGGLES.map((t) => `| \`${t.name}\` | \`${t.default ? 1 : 0}\` | ${t.help} |`),
    ...SETTINGS.map((s) => `| \`${s.name}\` | \`${s.default}\` | ${s.help} |`),
  ]
  return rows.join('\n') + '\n'
}
