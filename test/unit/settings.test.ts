// Configuration parsing: defaults, boolean spellings, rejected values, listen settings,
// misspelt-variable hints and the README table.
import t from 'tap'
import {
  ConfigError,
  SETTINGS,
  TOGGLES,
  misspeltVariables,
  parseConfig,
  renderEnvTable,
  type Config,
} from '../../src/settings.ts'

// Hard-coded on purpose: the table in settings.ts must agree with these, not define them.
const DEFAULT_ON = new Set(['EVENTS', 'PING', 'VERSION'])
const EXPECTED_TOGGLES = [
  'EVENTS', 'PING', 'VERSION', 'AUTH', 'BUILD', 'COMMIT', 'CONFIGS', 'CONTAINERS', 'DISTRIBUTION',
  'EXEC', 'GRPC', 'IMAGES', 'INFO', 'NETWORKS', 'NODES', 'PLUGINS', 'SECRETS', 'SERVICES',
  'SESSION', 'SWARM', 'SYSTEM', 'TASKS', 'VOLUMES', 'POST',
  'ALLOW_START', 'ALLOW_STOP', 'ALLOW_RESTARTS', 'ALLOW_PAUSE', 'ALLOW_UNPAUSE',
  'ALLOW_ARCHIVE', 'ALLOW_EXPORT', 'ALLOW_LOGS', 'ALLOW_CHANGES', 'ALLOW_TOP',
  'ALLOW_PRIVILEGED', 'ALLOW_HOST_NAMESPACES', 'ALLOW_DEVICES', 'ALLOW_UNCONFINED',
]
const EXPECTED_SETTINGS = [
  'SOCKET_PATH', 'LISTEN_ADDRESS', 'LISTEN_PORT', 'DISABLE_IPV6', 'LISTEN_SOCKET',
  'LISTEN_SOCKET_MODE', 'LOG_LEVEL', 'SHUTDOWN_GRACE_MS', 'ALLOW_BIND', 'ALLOW_CAPS', 'MAX_BODY_BYTES', 'CGROUP_PARENT', 'OWNER', 'OWNER_LABEL', 'OWNER_ADOPT',
  'MODE', 'METRICS_LISTEN', 'TLS_CERT', 'TLS_KEY', 'TLS_CA', 'TLS_PORT', 'POLICY_FILE', 'ALLOW_NAMES', 'ALLOW_IMAGES',
]

const TRUE_SPELLINGS = ['1', 'true', 'TRUE', 'True', 'tRuE', 'yes', 'YES', 'Yes', 'on', 'ON', 'On', ' 1 ', ' true', 'yes  ', '\ton\n', '  TRUE  ']
const FALSE_SPELLINGS = ['0', 'false', 'FALSE', 'False', 'fAlSe', 'no', 'NO', 'No', 'off', 'OFF', 'Off', ' 0 ', ' false', 'no  ', '\toff\n', '  FALSE  ']
const BAD_BOOLEANS = ['ture', '2', 'enabled', '', 'y', 'n', ' ', 'truee', '-1', '1 0', 'yes please', 'nope', '01', 't', 'f']

// the type of a subtest (the last overload of t.test takes only the callback)
type TestT = Parameters<Parameters<typeof t.test>[0]>[0]

/** The ConfigError thrown by parseConfig(env); fails the test if there is none. */
function configError(t: TestT, env: NodeJS.ProcessEnv): ConfigError | undefined {
  try {
    const config = parseConfig(env)
    t.fail(`expected a ConfigError for ${JSON.stringify(env)}, got ${JSON.stringify(config)}`)
    return undefined
  } catch (error) {
    t.ok(error instanceof ConfigError, `ConfigError (not ${(error as Error)?.constructor?.name}) for ${JSON.stringify(env)}`)
    return error as ConfigError
  }
}


t.test('the declared toggles are exactly the documented ones', async (t) => {
  t.same(TOGGLES.map((x) => x.name).sort(), [...EXPECTED_TOGGLES].sort(), 'toggle names')
  t.equal(new Set(TOGGLES.map((x) => x.name)).size, TOGGLES.length, 'no toggle declared twice')
  t.same(SETTINGS.map((s) => s.name).sort(), [...EXPECTED_SETTINGS].sort(), 'setting names')
  t.same(TOGGLES.filter((x) => x.default).map((x) => x.name).sort(), [...DEFAULT_ON].sort(), 'declared default-on toggles')
})

t.test('every toggle has its default when unset', async (t) => {
  const { grants } = parseConfig({})
  t.same(Object.keys(grants).sort(), [...EXPECTED_TOGGLES].sort(), 'grants has one key per toggle')
  for (const toggle of TOGGLES) {
    t.equal(grants[toggle.name], DEFAULT_ON.has(toggle.name), `${toggle.name} defaults to ${DEFAULT_ON.has(toggle.name) ? 'on' : 'off'}`)
  }
  for (const name of EXPECTED_TOGGLES) {
    t.equal(grants[name as keyof Config['grants']], DEFAULT_ON.has(name), `${name} (hard-coded list) default`)
  }
  t.equal(grants.POST, false, 'POST is off by default')
  t.equal(grants.CONTAINERS, false, 'CONTAINERS is off by default')
  t.equal(grants.EVENTS, true, 'EVENTS is on by default')
  t.equal(grants.PING, true, 'PING is on by default')
  t.equal(grants.VERSION, true, 'VERSION is on by default')
})

t.test('every accepted boolean spelling, for every toggle', async (t) => {
  const defaults = parseConfig({}).grants
  for (const toggle of TOGGLES) {
    for (const [spellings, expected] of [[TRUE_SPELLINGS, true], [FALSE_SPELLINGS, false]] as const) {
      for (const value of spellings) {
        const { grants } = parseConfig({ [toggle.name]: value })
        t.equal(grants[toggle.name], expected, `${toggle.name}=${JSON.stringify(value)} is ${expected}`)
        const others = TOGGLES.filter((o) => o.name !== toggle.name && grants[o.name] !== defaults[o.name])
        t.same(others.map((o) => o.name), [], `${toggle.name}=${JSON.stringify(value)} leaves the other toggles alone`)
      }
    }
  }
})

t.test('bad boolean values are refused, naming the variable, the value and the accepted words', async (t) => {
  for (const toggle of TOGGLES) {
    for (const value of BAD_BOOLEANS) {
      const error = configError(t, { [toggle.name]: value })
      if (error === undefined) continue
      t.ok(error.message.includes(`${toggle.name}=`), `names ${toggle.name}: ${error.message}`)
      t.ok(error.message.includes(JSON.stringify(value)), `quotes the value ${JSON.stringify(value)}: ${error.message}`)
      for (const word of ['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off']) {
        t.match(error.message, new RegExp(`\\b${word}\\b`), `lists ${word} as accepted`)
      }
    }
  }
  // the first bad toggle in the environment is enough to stop startup, whatever the others say
  configError(t, { POST: 'true', CONTAINERS: 'ture' })
  const e = configError(t, { POST: 'enabled' })
  t.equal(e?.message, 'POST="enabled" is not a boolean; use one of 1/0, true/false, yes/no, on/off (any case)', 'exact wording')
})

t.test('LOG_LEVEL: syslog and pino names', async (t) => {
  t.equal(parseConfig({}).logLevel, 'info', 'default info')
  const expected: Record<string, string> = {
    // syslog names, as Tecnativa's HAProxy takes them
    debug: 'debug', info: 'info', notice: 'info', warning: 'warn', err: 'error', crit: 'fatal', alert: 'fatal', emerg: 'fatal',
    // pino's own
    trace: 'trace', warn: 'warn', error: 'error', fatal: 'fatal', silent: 'silent',
  }
  for (const [given, level] of Object.entries(expected)) {
    t.equal(parseConfig({ LOG_LEVEL: given }).logLevel, level, `LOG_LEVEL=${given} -> ${level}`)
    t.equal(parseConfig({ LOG_LEVEL: given.toUpperCase() }).logLevel, level, `LOG_LEVEL=${given.toUpperCase()} -> ${level}`)
    t.equal(parseConfig({ LOG_LEVEL: ` ${given} ` }).logLevel, level, `LOG_LEVEL=" ${given} " -> ${level}`)
  }
  for (const bad of ['verbose', 'critical', 'warnings', 'information', 'emergency', '5', 'debug info', '']) {
    const error = configError(t, { LOG_LEVEL: bad })
    if (error === undefined) continue
    t.ok(error.message.includes('LOG_LEVEL='), `names LOG_LEVEL: ${error.message}`)
    t.ok(error.message.includes(JSON.stringify(bad)), `quotes ${JSON.stringify(bad)}`)
    for (const name of ['debug', 'info', 'notice', 'warning', 'err', 'crit', 'alert', 'emerg', 'trace', 'warn', 'error', 'fatal', 'silent']) {
      t.match(error.message, new RegExp(`\\b${name}\\b`), `lists ${name}`)
    }
  }
})

t.test('SOCKET_PATH', async (t) => {
  t.equal(parseConfig({}).socketPath, '/var/run/docker.sock', 'default')
  t.equal(parseConfig({ SOCKET_PATH: '/run/user/1000/docker.sock' }).socketPath, '/run/user/1000/docker.sock', 'override')
  const error = configError(t, { SOCKET_PATH: '' })
  t.match(error?.message, /SOCKET_PATH/, 'empty SOCKET_PATH is named')
})

t.test('TCP listen defaults and overrides', async (t) => {
  const { listen } = parseConfig({})
  t.equal(listen.kind, 'tcp', 'tcp by default')
  if (listen.kind !== 'tcp') return
  t.equal(listen.port, 2375, 'port 2375')
  t.equal(listen.host, undefined, 'host unset (all interfaces)')
  t.equal(listen.ipv6, true, 'IPv6 on')

  for (const value of ['1', 'true', 'YES', ' on ']) {
    const l = parseConfig({ DISABLE_IPV6: value }).listen
    t.same(l, { kind: 'tcp', host: undefined, port: 2375, ipv6: false }, `DISABLE_IPV6=${JSON.stringify(value)} turns IPv6 off`)
  }
  for (const value of ['0', 'false', 'no', 'OFF']) {
    const l = parseConfig({ DISABLE_IPV6: value }).listen
    t.equal(l.kind === 'tcp' && l.ipv6, true, `DISABLE_IPV6=${JSON.stringify(value)} keeps IPv6`)
  }
  for (const value of ['ture', '2', '']) {
    const error = configError(t, { DISABLE_IPV6: value })
    t.match(error?.message, /DISABLE_IPV6=/, `DISABLE_IPV6=${JSON.stringify(value)} is named`)
  }

  for (const address of ['127.0.0.1', '::', '0.0.0.0', '::1', 'fe80::1%eth0', 'localhost', 'docker-proxy.internal']) {
    const l = parseConfig({ LISTEN_ADDRESS: address }).listen
    t.equal(l.kind === 'tcp' && l.host, address, `LISTEN_ADDRESS=${address}`)
  }
  const empty = parseConfig({ LISTEN_ADDRESS: '' }).listen
  t.equal(empty.kind === 'tcp' ? empty.host : 'not tcp', undefined, 'LISTEN_ADDRESS="" means all interfaces')
  for (const bad of ['127.0.0.1/8', 'a b', 'http://x', '[::1]']) {
    const error = configError(t, { LISTEN_ADDRESS: bad })
    t.match(error?.message, /LISTEN_ADDRESS=/, `LISTEN_ADDRESS=${JSON.stringify(bad)} refused and named`)
  }

  for (const [value, port] of [['8080', 8080], ['0', 0], ['1', 1], ['65535', 65535], ['2375', 2375]] as const) {
    const l = parseConfig({ LISTEN_PORT: value }).listen
    t.same(l, { kind: 'tcp', host: undefined, port, ipv6: true }, `LISTEN_PORT=${value}`)
  }
  for (const bad of ['abc', '70000', '-1', '65536', '80.5', '1e3', '0x50', '80abc']) {
    const error = configError(t, { LISTEN_PORT: bad })
    if (error === undefined) continue
    t.ok(error.message.includes(`LISTEN_PORT=${JSON.stringify(bad)}`), `names LISTEN_PORT and ${bad}: ${error.message}`)
    t.match(error.message, /0 to 65535/, 'says which range is accepted')
  }
})

t.test('unix socket listening', async (t) => {
  t.same(parseConfig({ LISTEN_SOCKET: '/run/dockmoat/docker.sock' }).listen,
    { kind: 'unix', path: '/run/dockmoat/docker.sock', mode: 0o660 }, 'LISTEN_SOCKET alone: mode 660')
  for (const [value, mode] of [['660', 0o660], ['0600', 0o600], ['600', 0o600], ['0660', 0o660], ['777', 0o777], ['0', 0], ['2770', 0o2770]] as const) {
    t.same(parseConfig({ LISTEN_SOCKET: '/tmp/d.sock', LISTEN_SOCKET_MODE: value }).listen,
      { kind: 'unix', path: '/tmp/d.sock', mode }, `LISTEN_SOCKET_MODE=${value} is octal ${mode.toString(8)}`)
  }
  for (const bad of ['999', 'abc', '8', '0o660', '-660', '77777', 'rw-rw----', '']) {
    const error = configError(t, { LISTEN_SOCKET: '/tmp/d.sock', LISTEN_SOCKET_MODE: bad })
    if (error === undefined) continue
    t.ok(error.message.includes(`LISTEN_SOCKET_MODE=${JSON.stringify(bad)}`), `names LISTEN_SOCKET_MODE and ${JSON.stringify(bad)}: ${error.message}`)
    t.match(error.message, /octal/, 'says an octal mode is wanted')
  }
  for (const env of [
    { LISTEN_SOCKET: '/tmp/d.sock', LISTEN_PORT: '2375' },
    { LISTEN_SOCKET: '/tmp/d.sock', LISTEN_ADDRESS: '127.0.0.1' },
    { LISTEN_SOCKET: '/tmp/d.sock', LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: '8080' },
  ]) {
    const error = configError(t, env)
    t.match(error?.message, /LISTEN_SOCKET/, `${JSON.stringify(env)}: names LISTEN_SOCKET`)
    t.match(error?.message, env.LISTEN_PORT !== undefined ? /LISTEN_PORT/ : /LISTEN_ADDRESS/, 'and the conflicting variable')
  }
  t.equal(parseConfig({ LISTEN_SOCKET: '' }).listen.kind, 'tcp', 'LISTEN_SOCKET="" means TCP')
  t.equal(parseConfig({ LISTEN_SOCKET: '', LISTEN_PORT: '8080' }).listen.kind, 'tcp', 'LISTEN_SOCKET="" with LISTEN_PORT is TCP, not a conflict')
})

t.test('SHUTDOWN_GRACE_MS', async (t) => {
  t.equal(parseConfig({}).shutdownGraceMs, 1500, 'default 1500')
  for (const [value, ms] of [['0', 0], ['250', 250], ['10000', 10000], ['600000', 600000]] as const) {
    t.equal(parseConfig({ SHUTDOWN_GRACE_MS: value }).shutdownGraceMs, ms, `SHUTDOWN_GRACE_MS=${value}`)
  }
  for (const bad of ['abc', '-1', '1.5', '600001', '1e3', '']) {
    const error = configError(t, { SHUTDOWN_GRACE_MS: bad })
    t.ok(error?.message.includes(`SHUTDOWN_GRACE_MS=${JSON.stringify(bad)}`), `SHUTDOWN_GRACE_MS=${JSON.stringify(bad)} refused and named: ${error?.message}`)
  }
})

t.test('ALLOW_BIND: absolute host paths, cleaned as dockerd cleans bind sources', async (t) => {
  t.same(parseConfig({}).allowBind, [], 'default: no host path')
  t.same(parseConfig({ ALLOW_BIND: '' }).allowBind, [], 'empty: no host path')
  t.same(parseConfig({ ALLOW_BIND: '/srv/app' }).allowBind, ['/srv/app'], 'one path')
  t.same(parseConfig({ ALLOW_BIND: ' /srv/app/ , //home//ci ,/x/../y' }).allowBind, ['/srv/app', '/home/ci', '/y'], 'trimmed and path.Clean-ed')
  t.same(parseConfig({ ALLOW_BIND: '/' }).allowBind, ['/'], '/ allows any')
  for (const bad of ['srv/app', '1', 'true', '/a,,/b', '/a,', './x', '/a\0b']) {
    const error = configError(t, { ALLOW_BIND: bad })
    t.match(error?.message, /^ALLOW_BIND/, `ALLOW_BIND=${JSON.stringify(bad)} refused and named: ${error?.message}`)
  }
  t.match(configError(t, { ALLOW_BIND: 'srv' })?.message, /absolute path.*\/srv\/app/, 'says what is accepted')
})

t.test('ALLOW_CAPS: capability names as dockerd normalises them, or ALL', async (t) => {
  t.same([...(parseConfig({}).allowCaps as Set<string>)], [], 'default: none beyond dockerd\'s set')
  t.same([...(parseConfig({ ALLOW_CAPS: 'NET_ADMIN, cap_sys_time' }).allowCaps as Set<string>)], ['NET_ADMIN', 'SYS_TIME'], 'with or without CAP_, any case')
  t.equal(parseConfig({ ALLOW_CAPS: 'all' }).allowCaps, 'ALL', 'ALL in any case')
  t.equal(parseConfig({ ALLOW_CAPS: 'NET_ADMIN,ALL' }).allowCaps, 'ALL', 'ALL among others is ALL')
  for (const bad of ['SYS_ADMINN', 'CAP_FOO', '1', 'NET_ADMIN,']) {
    const error = configError(t, { ALLOW_CAPS: bad })
    t.match(error?.message, /^ALLOW_CAPS/, `ALLOW_CAPS=${JSON.stringify(bad)} refused and named: ${error?.message}`)
  }
})

t.test('CGROUP_PARENT', async (t) => {
  t.equal(parseConfig({}).cgroupParent, undefined, 'default: unset')
  t.equal(parseConfig({ CGROUP_PARENT: '' }).cgroupParent, undefined, 'empty: unset')
  t.equal(parseConfig({ CGROUP_PARENT: '/ci/runner-1' }).cgroupParent, '/ci/runner-1', 'a cgroupfs path')
  t.equal(parseConfig({ CGROUP_PARENT: 'ci-runner.slice' }).cgroupParent, 'ci-runner.slice', 'a systemd slice')
  for (const bad of ['/ci/../..', 'a b', '/ci\n', '"x"']) {
    t.match(configError(t, { CGROUP_PARENT: bad })?.message, /^CGROUP_PARENT=.*use a path/, `CGROUP_PARENT=${JSON.stringify(bad)} refused, saying what is accepted`)
  }
})

t.test('MAX_BODY_BYTES', async (t) => {
  t.equal(parseConfig({}).maxBodyBytes, 1024 * 1024, 'default 1 MiB')
  t.equal(parseConfig({ MAX_BODY_BYTES: '65536' }).maxBodyBytes, 65536, 'set')
  for (const bad of ['1k', '-1', '100', '']) {
    t.match(configError(t, { MAX_BODY_BYTES: bad })?.message, /^MAX_BODY_BYTES=/, `MAX_BODY_BYTES=${JSON.stringify(bad)} refused`)
  }
})

t.test('ConfigError is an Error', async (t) => {
  const error = configError(t, { POST: 'ture' })
  t.ok(error instanceof Error, 'instanceof Error')
})

t.test('misspeltVariables', async (t) => {
  t.same(misspeltVariables({ CONTAINER: '1' }), [{ name: 'CONTAINER', suggestion: 'CONTAINERS' }], 'CONTAINER=1')
  t.same(misspeltVariables({ ALLOW_RESTART: '1' }), [{ name: 'ALLOW_RESTART', suggestion: 'ALLOW_RESTARTS' }], 'ALLOW_RESTART=1 suggests ALLOW_RESTARTS (the closest name)')
  t.same(misspeltVariables({ container: '1' }), [{ name: 'container', suggestion: 'CONTAINERS' }], 'container=1 (lower case is not read)')
  t.same(misspeltVariables({ post: 'true' }), [{ name: 'post', suggestion: 'POST' }], 'post=true')
  t.same(misspeltVariables({ EVENT: '0' }), [{ name: 'EVENT', suggestion: 'EVENTS' }], 'EVENT=0')
  t.same(misspeltVariables({ ALLOW_LOG: 'yes' }), [{ name: 'ALLOW_LOG', suggestion: 'ALLOW_LOGS' }], 'ALLOW_LOG=yes')
  t.same(misspeltVariables({ ALLOW_STARTS: 'on' }), [{ name: 'ALLOW_STARTS', suggestion: 'ALLOW_START' }], 'ALLOW_STARTS=on')
  t.same(misspeltVariables({ IMAGE: ' 1 ' }), [{ name: 'IMAGE', suggestion: 'IMAGES' }], 'IMAGE=" 1 "')

  // not boolean values: never reported (container=docker is what systemd and podman set)
  t.same(misspeltVariables({ CONTAINER: 'abc' }), [], 'CONTAINER=abc')
  t.same(misspeltVariables({ container: 'docker' }), [], 'container=docker')
  t.same(misspeltVariables({ container: 'podman' }), [], 'container=podman')
  // known names are never reported, whatever their value
  t.same(misspeltVariables({ CONTAINERS: '1', POST: '0', ALLOW_RESTARTS: 'true', LISTEN_PORT: '1', DISABLE_IPV6: 'yes' }), [], 'known names')
  // the usual environment of a container
  t.same(misspeltVariables({
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    HOSTNAME: 'abc',
    SHLVL: '1',
    TERM: 'xterm',
    NODE_VERSION: '24.0.0',
    CI: 'true',
    DEBUG: '1',
    NO_COLOR: '1',
    FORCE_COLOR: '1',
  }), [], 'PATH, HOME, LANG, HOSTNAME, SHLVL, TERM, ... produce nothing')

  const mixed = misspeltVariables({ PATH: '/bin', CONTAINER: 'true', SHLVL: '1', POST: '1', NETWORK: '1' })
  t.same(mixed.map((m) => m.name).sort(), ['CONTAINER', 'NETWORK'], 'only the misspelt ones among others')
  t.same(mixed.find((m) => m.name === 'NETWORK')?.suggestion, 'NETWORKS', 'NETWORK suggests NETWORKS')
})

t.test('renderEnvTable: one row per toggle and setting', async (t) => {
  const table = renderEnvTable()
  t.ok(table.endsWith('\n'), 'ends with a newline')
  const lines = table.trimEnd().split('\n')
  t.equal(lines[0], '| Variable | Default | What it grants or sets |', 'header')
  t.equal(lines[1], '|---|---|---|', 'separator')
  const rows = lines.slice(2)
  t.equal(rows.length, TOGGLES.length + SETTINGS.length, 'one row per declared variable')
  t.equal(rows.length, EXPECTED_TOGGLES.length + EXPECTED_SETTINGS.length, 'one row per documented variable')
  for (const row of rows) {
    // three cells: a `|` inside a help text would split the table
    t.equal(row.replace(/\\\|/g, '').split('|').length, 5, `three cells: ${row}`)
  }
  for (const name of EXPECTED_TOGGLES) {
    const mine = rows.filter((row) => row.startsWith(`| \`${name}\` |`))
    t.equal(mine.length, 1, `exactly one row for ${name}`)
    t.ok(mine[0]?.startsWith(`| \`${name}\` | \`${DEFAULT_ON.has(name) ? 1 : 0}\` | `), `${name} shows its default: ${mine[0]}`)
  }
  for (const name of EXPECTED_SETTINGS) {
    t.equal(rows.filter((row) => row.startsWith(`| \`${name}\` |`)).length, 1, `exactly one row for ${name}`)
  }
  // the documented defaults are the parser's defaults
  const config = parseConfig({})
  const documented = (name: string): string | undefined => SETTINGS.find((s) => s.name === name)?.default
  t.equal(documented('SOCKET_PATH'), config.socketPath, 'SOCKET_PATH default as documented')
  t.equal(documented('LISTEN_PORT'), String(config.listen.kind === 'tcp' && config.listen.port), 'LISTEN_PORT default as documented')
  t.equal(documented('LOG_LEVEL'), config.logLevel, 'LOG_LEVEL default as documented')
  t.equal(documented('SHUTDOWN_GRACE_MS'), String(config.shutdownGraceMs), 'SHUTDOWN_GRACE_MS default as documented')
  t.equal(documented('DISABLE_IPV6'), '0', 'DISABLE_IPV6 default as documented')
  t.equal(documented('MAX_BODY_BYTES'), String(config.maxBodyBytes), 'MAX_BODY_BYTES default as documented')
  t.equal(documented('MODE'), config.mode, 'MODE default as documented')
  t.equal(config.metricsListen, undefined, 'METRICS_LISTEN off by default, as documented')
  const unix = parseConfig({ LISTEN_SOCKET: '/tmp/d.sock' }).listen
  t.equal(documented('LISTEN_SOCKET_MODE'), unix.kind === 'unix' ? unix.mode.toString(8) : 'not unix', 'LISTEN_SOCKET_MODE default as documented')
  t.ok(table.includes('| `SOCKET_PATH` | `/var/run/docker.sock` |'), 'SOCKET_PATH row shows its default')
})

t.test('MODE: enforce or audit, anything else stops startup naming the variable', async (t) => {
  t.equal(parseConfig({}).mode, 'enforce', 'default enforce')
  for (const given of ['audit', 'AUDIT', ' audit ']) t.equal(parseConfig({ MODE: given }).mode, 'audit', `MODE=${JSON.stringify(given)}`)
  t.equal(parseConfig({ MODE: 'enforce' }).mode, 'enforce', 'MODE=enforce')
  for (const bad of ['learn', 'permissive', '1']) {
    const error = configError(t, { MODE: bad })
    t.match(error?.message, /^MODE=.* is not a mode; use enforce \(the default\) or audit$/, `MODE=${bad}: ${error?.message}`)
  }
})

t.test('METRICS_LISTEN: an address and a port', async (t) => {
  t.same(parseConfig({ METRICS_LISTEN: '127.0.0.1:9375' }).metricsListen, { host: '127.0.0.1', port: 9375 }, 'IPv4')
  t.same(parseConfig({ METRICS_LISTEN: '[::]:9375' }).metricsListen, { host: '::', port: 9375 }, 'IPv6 in brackets')
  t.same(parseConfig({ METRICS_LISTEN: 'localhost:0' }).metricsListen, { host: 'localhost', port: 0 }, 'host name, any port')
  for (const bad of ['9375', '127.0.0.1', ':9375', '127.0.0.1:99999', 'http://127.0.0.1:9375', '::1:9375']) {
    const error = configError(t, { METRICS_LISTEN: bad })
    t.match(error?.message, /^METRICS_LISTEN=.* is not an address and port; use one such as 127\.0\.0\.1:9375 or \[::\]:9375$/, `METRICS_LISTEN=${bad}`)
  }
})
