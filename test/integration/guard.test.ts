// The body guard against real clients: the docker CLI, docker-compose 1.29 and dockerode
// through dockmoat with CONTAINERS=1 POST=1, against the REAL dockerd. Every escalation is
// refused naming its variable, then allowed with exactly the variable the refusal named,
// and every outcome is read back from dockerd itself, straight on its socket: a refusal
// leaves no container and no volume; an allowed one shows the escalation in inspect.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import {
  DOCKER_DIRECT_HOST, api as dockerApi, cleanup, compose, docker, requireDocker, testImage, uniqueName, type RunResult,
} from '../helpers/docker.ts'
import { BUNDLE, startProxy, type RunningProxy } from '../helpers/proxy.ts'

// The machine has 2 cores and other test files may run at the same time.
t.setTimeout(600_000)
const CLI_TIMEOUT = 120_000

await requireDocker()
const IMAGE = await testImage()

/** Every container and volume this file makes carries this label (value unique per run). */
const RUN_LABEL = 'org.dockmoat.test.guard'
const RUN = `${process.pid}-${randomBytes(4).toString('hex')}`

// ---------------------------------------------------------------------------
// Bookkeeping and cleanup (always directly against dockerd, even when a test failed)

const made = { container: [] as string[], volume: [] as string[], image: [] as string[] }
const dirs: string[] = []
const projects: { name: string; file: string }[] = []
const proxies = new Map<string, Promise<RunningProxy>>()

t.teardown(async () => {
  for (const p of projects) {
    await compose(['-p', p.name, '-f', p.file, 'down', '-v', '--timeout', '1'], { timeoutMs: 120_000 }).catch(() => undefined)
  }
  const labelled = await api('GET', `/containers/json?all=1&filters=${filters({ label: [`${RUN_LABEL}=${RUN}`] })}`).catch(() => undefined)
  const leftIds = Array.isArray(labelled?.json) ? (labelled.json as { Id: string }[]).map((c) => c.Id) : []
  await cleanup('container', [...made.container, ...leftIds])
  const volumes = await api('GET', `/volumes?filters=${filters({ label: [`${RUN_LABEL}=${RUN}`] })}`).catch(() => undefined)
  const leftVolumes = ((volumes?.json as { Volumes?: { Name: string }[] } | undefined)?.Volumes ?? []).map((v) => v.Name)
  await cleanup('volume', [...made.volume, ...leftVolumes])
  await cleanup('image', made.image)
  for (const p of proxies.values()) await (await p.catch(() => undefined))?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function name(kind: keyof typeof made, prefix: string): string {
  const n = uniqueName(`guard-${prefix}`)
  made[kind].push(n)
  return n
}

function tempDir(prefix = 'dm-guard-'): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}${process.pid}-`))
  dirs.push(dir)
  return dir
}

// ---------------------------------------------------------------------------
// Proxies: one per configuration, started once and shared by every test that needs it

/** What every proxy in this file grants: the writes a CI runner or Portainer would get. */
const BASE: Record<string, string> = { CONTAINERS: '1', POST: '1', EXEC: '1', VOLUMES: '1', BUILD: '1', IMAGES: '1', ALLOW_ARCHIVE: '1' }
/** docker-compose 1.29 also needs INFO and NETWORKS (see compose.test.ts). */
const COMPOSE: Record<string, string> = { ...BASE, INFO: '1', NETWORKS: '1' }

function proxyWith(env: Record<string, string>): Promise<RunningProxy> {
  const key = JSON.stringify(Object.entries(env).sort(([a], [b]) => a.localeCompare(b)))
  let p = proxies.get(key)
  if (p === undefined) {
    p = startProxy(env)
    proxies.set(key, p)
  }
  return p
}

/** CONTAINERS=1 POST=1 (and the other sections), no ALLOW_* guard variable. */
const guarded = (): Promise<RunningProxy> => proxyWith(BASE)

// ---------------------------------------------------------------------------
// dockerd straight on its socket

interface Reply { status: number; text: string; json: unknown }

/** One HTTP request to dockerd's socket (default) or to a proxy (`port`). */
/** One HTTP request to dockerd's socket (default) or to a proxy (`port`). */
const api = (method: string, path: string, body?: unknown, port?: number): Promise<Reply> => dockerApi(method, path, body, port)

const filters = (f: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(f))

interface Mount { Type?: string; Source?: string; Target?: string; Destination?: string; Name?: string; ReadOnly?: boolean }
interface ContainerInfo {
  Id: string
  Name: string
  State: { Status: string; ExitCode: number; StartedAt: string }
  HostConfig: {
    Privileged: boolean; Binds: string[] | null; Mounts?: Mount[] | null; NetworkMode: string; PidMode: string
    CapAdd: string[] | null; Devices: { PathOnHost: string; PathInContainer: string }[] | null
    SecurityOpt: string[] | null; MaskedPaths: string[] | null; ReadonlyPaths: string[] | null; Tmpfs?: Record<string, string> | null
  }
  Mounts: Mount[]
  Config: { Labels: Record<string, string> | null }
}

/** `GET /containers/{name}/json` on dockerd's socket; undefined when there is no such container. */
async function inspect(ref: string): Promise<ContainerInfo | undefined> {
  const r = await api('GET', `/containers/${encodeURIComponent(ref)}/json`)
  if (r.status === 404) return undefined
  if (r.status !== 200) throw new Error(`inspect ${ref}: HTTP ${r.status} ${r.text}`)
  return r.json as ContainerInfo
}

/** Names of the containers (all states) and volumes dockerd holds with label key=value. */
async function labelled(key: string, value: string): Promise<{ containers: string[]; volumes: string[] }> {
  const f = filters({ label: [`${key}=${value}`] })
  const c = await api('GET', `/containers/json?all=1&filters=${f}`)
  const v = await api('GET', `/volumes?filters=${f}`)
  if (c.status !== 200 || v.status !== 200) throw new Error(`listing by label: ${c.status} ${c.text} / ${v.status} ${v.text}`)
  return {
    containers: (c.json as { Names: string[] }[]).flatMap((x) => x.Names.map((n) => n.replace(/^\//, ''))).sort(),
    volumes: ((v.json as { Volumes: { Name: string }[] | null }).Volumes ?? []).map((x) => x.Name).sort(),
  }
}

// ---------------------------------------------------------------------------
// The docker CLI

type T = Test

function via(p: RunningProxy, args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<RunResult> {
  return docker(args, { host: p.dockerHost, timeoutMs: CLI_TIMEOUT, ...opts })
}

function direct(args: string[]): Promise<RunResult> {
  return docker(args, { host: DOCKER_DIRECT_HOST, timeoutMs: CLI_TIMEOUT })
}

function ok(tt: T, r: RunResult, what: string): void {
  tt.equal(r.code, 0, `${what} succeeds (stderr: ${r.stderr.trim()})`)
  tt.notMatch(r.stderr, 'dockmoat refused', `${what}: nothing refused`)
}

/**
 * Asserts the CLI printed dockmoat's guard refusal for `route` and returns the
 * assignments it asks for (`set ALLOW_X=value`), which must be exactly `expected`.
 */
function refusedBy(tt: T, r: RunResult, route: string, expected: Record<string, string>): Record<string, string> {
  tt.not(r.code, 0, 'the CLI exits non-zero')
  tt.notOk(r.timedOut, 'the CLI did not hang')
  tt.match(r.stderr, /Error response from daemon: dockmoat refused /, 'the CLI prints dockmoat\'s refusal')
  tt.match(r.stderr, `(${route}): `, `for the route ${route}`)
  const asked = variablesIn(r.stderr)
  tt.same(asked, expected, `the refusal names ${Object.entries(expected).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  return asked
}

/** Every `set ALLOW_X=value` in a refusal message. */
function variablesIn(text: string): Record<string, string> {
  const found: Record<string, string> = {}
  for (const m of text.matchAll(/set (ALLOW_[A-Z_]+)=([^\s;]+)/g)) found[m[1]!] = m[2]!
  return found
}

// ---------------------------------------------------------------------------
// 1 and 2. Each escalation: refused naming its variable (nothing created), then allowed
// with exactly that variable, and dockerd shows the escalation

/** Run inside the allowed containers that are harmless to start. */
const PROBE = ['sh', '-c', 'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status; echo "net $(readlink /proc/self/ns/net)"; echo "pid $(readlink /proc/self/ns/pid)"; echo "procmounts $(grep -c " /proc/" /proc/mounts)"']

interface Escalation {
  what: string
  flags: string[]
  /** What the refusal must ask for (and what the allowing proxy then gets). */
  variables: Record<string, string>
  /** `run`: harmless to start (the PROBE runs); `create`: only created, never started. */
  mode: 'run' | 'create'
  verify(tt: T, info: ContainerInfo, stdout: string): void | Promise<void>
}

/** What the PROBE prints in a container with dockerd's defaults, run directly. */
let baseline: Promise<string> | undefined
const defaultProbe = (): Promise<string> => (baseline ??= direct(['run', '--rm', IMAGE, ...PROBE]).then((r) => {
  if (r.code !== 0) throw new Error(`baseline probe failed: ${r.stderr}`)
  return r.stdout
}))
/** The PROBE directly in a container with the host's network and pid namespaces. */
let hostProbe: Promise<string> | undefined
const hostNamespaces = (): Promise<string> => (hostProbe ??= direct(['run', '--rm', '--network', 'host', '--pid', 'host', IMAGE, ...PROBE]).then((r) => {
  if (r.code !== 0) throw new Error(`host namespace probe failed: ${r.stderr}`)
  return r.stdout
}))
const line = (out: string, key: string): string => new RegExp(`^${key}:?\\s+(.*)$`, 'm').exec(out)?.[1] ?? `(no ${key} line in ${JSON.stringify(out)})`

const ESCALATIONS: Escalation[] = [
  {
    what: 'run --privileged',
    flags: ['--privileged'],
    variables: { ALLOW_PRIVILEGED: '1' },
    // Created only: this dockerd may not be able to grant every capability (nested), and
    // inspect is dockerd's own record of what it would run.
    mode: 'create',
    verify(tt, info) { tt.equal(info.HostConfig.Privileged, true, 'HostConfig.Privileged is true') },
  },
  {
    what: 'run -v /:/host',
    flags: ['-v', '/:/host'],
    variables: { ALLOW_BIND: '/' },
    mode: 'create',
    verify(tt, info) {
      tt.same(info.HostConfig.Binds, ['/:/host'], 'HostConfig.Binds holds /:/host')
      tt.ok(info.Mounts.some((m) => m.Type === 'bind' && m.Source === '/' && m.Destination === '/host'), 'a bind mount of / at /host')
    },
  },
  {
    what: 'run --mount type=bind,src=/etc,dst=/x',
    flags: ['--mount', 'type=bind,src=/etc,dst=/x'],
    variables: { ALLOW_BIND: '/etc' },
    mode: 'create',
    verify(tt, info) {
      tt.match(info.HostConfig.Mounts ?? [], [{ Type: 'bind', Source: '/etc', Target: '/x' }], 'HostConfig.Mounts binds /etc at /x')
    },
  },
  {
    what: 'run --network host',
    flags: ['--network', 'host'],
    variables: { ALLOW_HOST_NAMESPACES: '1' },
    mode: 'run',
    async verify(tt, info, stdout) {
      tt.equal(info.HostConfig.NetworkMode, 'host', 'HostConfig.NetworkMode is host')
      tt.equal(line(stdout, 'net'), line(await hostNamespaces(), 'net'), 'it ran in the host\'s network namespace')
      tt.not(line(stdout, 'net'), line(await defaultProbe(), 'net'), 'not in a namespace of its own')
    },
  },
  {
    what: 'run --pid host',
    flags: ['--pid', 'host'],
    variables: { ALLOW_HOST_NAMESPACES: '1' },
    mode: 'run',
    async verify(tt, info, stdout) {
      tt.equal(info.HostConfig.PidMode, 'host', 'HostConfig.PidMode is host')
      tt.equal(line(stdout, 'pid'), line(await hostNamespaces(), 'pid'), 'it ran in the host\'s pid namespace')
      tt.not(line(stdout, 'pid'), line(await defaultProbe(), 'pid'), 'not in a namespace of its own')
    },
  },
  {
    what: 'run --cap-add SYS_ADMIN',
    flags: ['--cap-add', 'SYS_ADMIN'],
    variables: { ALLOW_CAPS: 'SYS_ADMIN' },
    mode: 'run',
    async verify(tt, info, stdout) {
      tt.match(info.HostConfig.CapAdd ?? [], [/^(CAP_)?SYS_ADMIN$/], 'HostConfig.CapAdd holds SYS_ADMIN')
      const capEff = BigInt(`0x${line(stdout, 'CapEff')}`)
      const CAP_SYS_ADMIN = 1n << 21n
      tt.equal(capEff & CAP_SYS_ADMIN, CAP_SYS_ADMIN, 'the process had CAP_SYS_ADMIN')
      tt.equal(BigInt(`0x${line(await defaultProbe(), 'CapEff')}`) & CAP_SYS_ADMIN, 0n, 'which dockerd\'s default set lacks')
    },
  },
  {
    what: 'run --device /dev/null',
    flags: ['--device', '/dev/null'],
    variables: { ALLOW_DEVICES: '1' },
    mode: 'run',
    verify(tt, info) {
      tt.match(info.HostConfig.Devices ?? [], [{ PathOnHost: '/dev/null', PathInContainer: '/dev/null' }], 'HostConfig.Devices holds /dev/null')
      tt.equal(info.State.ExitCode, 0, 'and it ran')
    },
  },
  {
    what: 'run --security-opt seccomp=unconfined',
    flags: ['--security-opt', 'seccomp=unconfined'],
    variables: { ALLOW_UNCONFINED: '1' },
    mode: 'run',
    async verify(tt, info, stdout) {
      tt.same(info.HostConfig.SecurityOpt, ['seccomp=unconfined'], 'HostConfig.SecurityOpt is seccomp=unconfined')
      tt.equal(line(stdout, 'Seccomp'), '0', 'the process ran without a seccomp filter')
      tt.equal(line(await defaultProbe(), 'Seccomp'), '2', 'where dockerd\'s default has one')
    },
  },
  {
    what: 'run --security-opt systempaths=unconfined',
    flags: ['--security-opt', 'systempaths=unconfined'],
    variables: { ALLOW_UNCONFINED: '1' },
    mode: 'run',
    async verify(tt, info, stdout) {
      tt.same(info.HostConfig.MaskedPaths ?? [], [], 'HostConfig.MaskedPaths is empty')
      tt.same(info.HostConfig.ReadonlyPaths ?? [], [], 'HostConfig.ReadonlyPaths is empty')
      // dockerd masks and remounts read-only paths under /proc (tmpfs, /dev/null, ro proc).
      tt.equal(line(stdout, 'procmounts'), '0', 'nothing under /proc was masked or made read-only')
      tt.not(line(await defaultProbe(), 'procmounts'), '0', `where dockerd's default mounts over ${line(await defaultProbe(), 'procmounts')} paths`)
    },
  },
]

t.test('docker CLI: each escalation is refused naming its variable, then allowed with exactly it', async (t) => {
  const nothing = await guarded()
  for (const e of ESCALATIONS) {
    t.test(e.what, async (t) => {
      const label = `${RUN_LABEL}.case=${uniqueName('case')}`
      const [key, value] = label.split('=') as [string, string]
      t.same(await labelled(key, value), { containers: [], volumes: [] }, 'before: nothing with the case label (direct)')

      const refusedName = name('container', 'refused')
      const r = await via(nothing, ['run', '--rm', '--name', refusedName, '--label', `${RUN_LABEL}=${RUN}`, '--label', label, ...e.flags, IMAGE, 'true'])
      const asked = refusedBy(t, r, 'POST /containers/create', e.variables)
      t.equal(await inspect(refusedName), undefined, `no container ${refusedName} (direct)`)
      t.same(await labelled(key, value), { containers: [], volumes: [] }, 'after: still nothing with the case label (direct)')

      const allowing = await proxyWith({ ...BASE, ...asked })
      const allowedName = name('container', 'allowed')
      const args = [e.mode, '--name', allowedName, '--label', `${RUN_LABEL}=${RUN}`, '--label', label, ...e.flags, IMAGE, ...(e.mode === 'run' ? PROBE : ['true'])]
      const a = await via(allowing, args)
      ok(t, a, `docker ${e.mode} ${e.flags.join(' ')} with ${Object.entries(asked).map(([k, v]) => `${k}=${v}`).join(' ')}`)
      const info = await inspect(allowedName)
      t.ok(info, `dockerd holds ${allowedName} (direct)`)
      if (info === undefined) return
      t.equal(info.State.Status, e.mode === 'run' ? 'exited' : 'created', `it was ${e.mode === 'run' ? 'run' : 'created, not started'}`)
      await e.verify(t, info, a.stdout)
    })
  }
})

t.test('docker volume create -o type=none -o o=bind -o device=/etc', async (t) => {
  const nothing = await guarded()
  const label = `${RUN_LABEL}.case=${uniqueName('vol')}`
  const [key, value] = label.split('=') as [string, string]
  const opts = ['-o', 'type=none', '-o', 'o=bind', '-o', 'device=/etc']
  t.same(await labelled(key, value), { containers: [], volumes: [] }, 'before: no volume with the case label (direct)')

  const refusedName = name('volume', 'bindvol-refused')
  const r = await via(nothing, ['volume', 'create', '--label', `${RUN_LABEL}=${RUN}`, '--label', label, ...opts, refusedName])
  const asked = refusedBy(t, r, 'POST /volumes/create', { ALLOW_BIND: '/etc' })
  t.equal((await api('GET', `/volumes/${refusedName}`)).status, 404, `no volume ${refusedName} (direct)`)
  t.same(await labelled(key, value), { containers: [], volumes: [] }, 'after: still no volume with the case label (direct)')

  const allowedName = name('volume', 'bindvol-allowed')
  const a = await via(await proxyWith({ ...BASE, ...asked }), ['volume', 'create', '--label', `${RUN_LABEL}=${RUN}`, '--label', label, ...opts, allowedName])
  ok(t, a, 'docker volume create with ALLOW_BIND=/etc')
  const v = await api('GET', `/volumes/${allowedName}`)
  t.equal(v.status, 200, 'dockerd holds the volume (direct)')
  t.match(v.json, { Name: allowedName, Driver: 'local', Options: { type: 'none', o: 'bind', device: '/etc' } }, 'with the bind options as given')
  t.same(await labelled(key, value), { containers: [], volumes: [allowedName] }, 'exactly the allowed volume carries the case label')
})

t.test('docker exec --privileged', async (t) => {
  const nothing = await guarded()
  const c = name('container', 'exec')
  const started = await direct(['run', '-d', '--name', c, '--label', `${RUN_LABEL}=${RUN}`, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'])
  t.equal(started.code, 0, `setup: a running container (direct): ${started.stderr}`)

  const r = await via(nothing, ['exec', '--privileged', c, 'touch', '/tmp/privileged-exec-ran'])
  const asked = refusedBy(t, r, 'POST /containers/{name}/exec', { ALLOW_PRIVILEGED: '1' })
  t.equal((await direct(['exec', c, 'test', '-e', '/tmp/privileged-exec-ran'])).code, 1, 'the refused exec never ran (direct)')
  t.same((await inspect(c))?.HostConfig.Privileged, false, 'the container is not privileged')

  const allowing = await proxyWith({ ...BASE, ...asked })
  // dockerd's own record of the exec it was asked for: created through the proxy with the
  // CLI's body, inspected directly (an exec that has not started stays in dockerd's store).
  const created = await api('POST', `/v1.41/containers/${c}/exec`, { Cmd: ['true'], Privileged: true, AttachStdout: true, AttachStderr: true }, allowing.port)
  t.equal(created.status, 201, `exec create with Privileged passes with ALLOW_PRIVILEGED=1: ${created.text}`)
  const execId = (created.json as { Id?: string } | undefined)?.Id ?? ''
  const execInfo = await api('GET', `/exec/${execId}/json`)
  t.equal(execInfo.status, 200, 'dockerd holds the exec (direct)')
  t.match(execInfo.json, { ContainerID: (await inspect(c))?.Id, ProcessConfig: { privileged: true } }, 'dockerd will run it privileged')

  // The CLI itself: dockmoat lets it through; dockerd then runs it with every capability,
  // or, where dockerd runs nested without them, the runtime says it cannot.
  const a = await via(allowing, ['exec', '--privileged', c, 'sh', '-c', 'grep ^CapEff: /proc/self/status'])
  t.notMatch(a.stderr, 'dockmoat refused', 'the CLI\'s privileged exec is not refused')
  const plain = await direct(['exec', c, 'sh', '-c', 'grep ^CapEff: /proc/self/status'])
  if (a.code === 0) t.not(a.stdout.trim(), plain.stdout.trim(), `the privileged exec had more capabilities (${a.stdout.trim()} vs ${plain.stdout.trim()})`)
  else t.match(a.stdout + a.stderr, /OCI runtime exec failed: .*unable to apply caps/, `dockerd tried, and the runtime could not grant the capabilities: ${(a.stdout + a.stderr).trim()}`)
})

t.test('ALLOW_BIND allows by path segment: /tmp/dm-x allows /tmp/dm-x/sub, not /tmp/dm-xy', async (t) => {
  const root = tempDir()
  const allowedDir = join(root, 'dm-x')
  const sub = join(allowedDir, 'sub')
  const sibling = join(root, 'dm-xy')
  mkdirSync(sub, { recursive: true })
  mkdirSync(sibling, { recursive: true })
  writeFileSync(join(sub, 'hello.txt'), 'from the host\n')
  const p = await proxyWith({ ...BASE, ALLOW_BIND: allowedDir })
  const label = `${RUN_LABEL}.case=${uniqueName('segment')}`
  const [key, value] = label.split('=') as [string, string]

  const inside = name('container', 'seg-sub')
  const a = await via(p, ['run', '--name', inside, '--label', `${RUN_LABEL}=${RUN}`, '--label', label, '-v', `${sub}:/a`, IMAGE, 'cat', '/a/hello.txt'])
  ok(t, a, `-v ${sub}:/a with ALLOW_BIND=${allowedDir}`)
  t.equal(a.stdout, 'from the host\n', 'the container read the bound host directory')
  t.same((await inspect(inside))?.HostConfig.Binds, [`${sub}:/a`], 'dockerd bound it (direct)')

  const outside = name('container', 'seg-xy')
  const r = await via(p, ['run', '--rm', '--name', outside, '--label', `${RUN_LABEL}=${RUN}`, '--label', label, '-v', `${sibling}:/a`, IMAGE, 'true'])
  refusedBy(t, r, 'POST /containers/create', { ALLOW_BIND: `${allowedDir},${sibling}` })
  t.match(r.stderr, `(ALLOW_BIND is ${allowedDir})`, 'the refusal says what ALLOW_BIND is now')
  t.equal(await inspect(outside), undefined, `no container ${outside} (direct)`)
  t.same(await labelled(key, value), { containers: [inside], volumes: [] }, 'only the allowed container carries the case label')
})

// ---------------------------------------------------------------------------
// 3. Benign work passes untouched with no ALLOW_* guard variable

t.test('benign work passes with no ALLOW_* guard variable (CONTAINERS=1 POST=1)', async (t) => {
  const p = await guarded()

  t.test('docker run --rm', async (t) => {
    const n = name('container', 'rm')
    const stamp = randomBytes(6).toString('hex')
    const r = await via(p, ['run', '--rm', '--name', n, '--label', `${RUN_LABEL}=${RUN}`, IMAGE, 'echo', stamp])
    ok(t, r, 'docker run --rm')
    t.equal(r.stdout, `${stamp}\n`, 'the container ran and its output came back')
    const gone = await (async () => { for (let i = 0; i < 40; i++) { if (await inspect(n) === undefined) return true; await new Promise((res) => setTimeout(res, 250)) } return false })()
    t.ok(gone, 'dockerd removed it afterwards (direct)')
  })

  t.test('a named volume (-v name:/data)', async (t) => {
    const vol = name('volume', 'data')
    const c = name('container', 'vol')
    const r = await via(p, ['run', '--name', c, '--label', `${RUN_LABEL}=${RUN}`, '-v', `${vol}:/data`, IMAGE, 'sh', '-c', 'echo kept > /data/f'])
    ok(t, r, 'docker run -v name:/data')
    t.ok((await inspect(c))?.Mounts.some((m) => m.Type === 'volume' && m.Name === vol && m.Destination === '/data'), 'dockerd mounted the named volume (direct)')
    const read = await direct(['run', '--rm', '-v', `${vol}:/data`, IMAGE, 'cat', '/data/f'])
    t.equal(read.stdout, 'kept\n', 'the volume holds what the container wrote (direct)')
  })

  t.test('--tmpfs', async (t) => {
    const c = name('container', 'tmpfs')
    const r = await via(p, ['run', '--name', c, '--label', `${RUN_LABEL}=${RUN}`, '--tmpfs', '/scratch', IMAGE, 'sh', '-c', 'grep " /scratch " /proc/mounts'])
    ok(t, r, 'docker run --tmpfs /scratch')
    t.match(r.stdout, /^tmpfs \/scratch tmpfs /, 'a tmpfs at /scratch')
    t.same(Object.keys((await inspect(c))?.HostConfig.Tmpfs ?? {}), ['/scratch'], 'HostConfig.Tmpfs (direct)')
  })

  t.test('--cap-add CHOWN (in dockerd\'s default set)', async (t) => {
    const c = name('container', 'chown')
    const r = await via(p, ['run', '--name', c, '--label', `${RUN_LABEL}=${RUN}`, '--cap-add', 'CHOWN', IMAGE, 'sh', '-c', 'touch /tmp/f && chown 1234 /tmp/f && stat -c %u /tmp/f'])
    ok(t, r, 'docker run --cap-add CHOWN')
    t.equal(r.stdout, '1234\n', 'chown worked')
    t.match((await inspect(c))?.HostConfig.CapAdd ?? [], [/^(CAP_)?CHOWN$/], 'HostConfig.CapAdd holds CHOWN (direct)')
  })

  t.test('--security-opt no-new-privileges', async (t) => {
    const c = name('container', 'nnp')
    const r = await via(p, ['run', '--name', c, '--label', `${RUN_LABEL}=${RUN}`, '--security-opt', 'no-new-privileges', IMAGE, ...PROBE])
    ok(t, r, 'docker run --security-opt no-new-privileges')
    t.equal(line(r.stdout, 'NoNewPrivs'), '1', 'the process ran with no_new_privs')
    t.same((await inspect(c))?.HostConfig.SecurityOpt, ['no-new-privileges'], 'HostConfig.SecurityOpt (direct)')
  })

  t.test('docker cp in and out (ALLOW_ARCHIVE=1)', async (t) => {
    const c = name('container', 'cp')
    const started = await direct(['run', '-d', '--name', c, '--label', `${RUN_LABEL}=${RUN}`, IMAGE, 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'])
    t.equal(started.code, 0, `setup (direct): ${started.stderr}`)
    const dir = tempDir()
    const content = `uploaded ${randomBytes(8).toString('hex')}\n`
    writeFileSync(join(dir, 'up.txt'), content)
    ok(t, await via(p, ['cp', join(dir, 'up.txt'), `${c}:/tmp/up.txt`]), 'docker cp into the container')
    t.equal((await direct(['exec', c, 'cat', '/tmp/up.txt'])).stdout, content, 'the file is in the container (direct)')
    ok(t, await via(p, ['cp', `${c}:/tmp/up.txt`, join(dir, 'down.txt')]), 'docker cp out of the container')
    t.equal(readFileSync(join(dir, 'down.txt'), 'utf8'), content, 'and back on the host')
  })

  t.test('docker build with the legacy builder (DOCKER_BUILDKIT=0)', async (t) => {
    const dir = tempDir()
    const stamp = randomBytes(6).toString('hex')
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGE}\nRUN echo built > /built\nCOPY ctx.txt /ctx.txt\n`)
    writeFileSync(join(dir, 'ctx.txt'), `${stamp}\n`)
    const img = name('image', 'build')
    const r = await via(p, ['build', '-t', img, dir], { env: { DOCKER_BUILDKIT: '0' } })
    ok(t, r, 'docker build')
    t.match(r.stdout, `Successfully tagged ${img}:latest`, 'the build finished and was tagged')
    const check = await direct(['run', '--rm', img, 'cat', '/built', '/ctx.txt'])
    t.equal(check.stdout, `built\n${stamp}\n`, 'the image holds the RUN output and the context file (direct)')

    const hostImg = name('image', 'build-host')
    const h = await via(p, ['build', '--network', 'host', '-t', hostImg, dir], { env: { DOCKER_BUILDKIT: '0' } })
    refusedBy(t, h, 'POST /build', { ALLOW_HOST_NAMESPACES: '1' })
    t.match(h.stderr, 'build networkmode=host', 'names the build option')
    t.equal((await api('GET', `/images/${hostImg}/json`)).status, 404, 'no image was built (direct)')
  })
})

// ---------------------------------------------------------------------------
// 4. docker-compose 1.29

function composeProject(prefix: string, lines: string[]): { name: string; file: string } {
  const dir = tempDir()
  const file = join(dir, 'docker-compose.yml')
  writeFileSync(file, lines.join('\n') + '\n')
  const p = { name: uniqueName(`guard-${prefix}`), file }
  projects.push(p)
  return p
}

/** What dockerd holds for a compose project (by compose's own project label). */
async function projectState(project: string): Promise<{ containers: string[]; volumes: string[]; networks: string[] }> {
  const { containers, volumes } = await labelled('com.docker.compose.project', project)
  const n = await api('GET', `/networks?filters=${filters({ label: [`com.docker.compose.project=${project}`] })}`)
  return { containers, volumes, networks: (n.json as { Name: string }[]).map((x) => x.Name).sort() }
}

t.test('docker-compose: privileged, a host bind and network_mode host', { timeout: 300_000 }, async (t) => {
  const hostDir = tempDir()
  writeFileSync(join(hostDir, 'marker'), 'host file\n')
  const p = composeProject('compose-esc', [
    'version: "3.8"',
    'services:',
    '  app:',
    `    image: ${IMAGE}`,
    '    command: sleep 300',
    '    privileged: true',
    '    network_mode: host',
    '    volumes:',
    `      - ${hostDir}:/hostdir:ro`,
    '    labels:',
    `      ${RUN_LABEL}: "${RUN}"`,
  ])
  const empty = { containers: [], volumes: [], networks: [] }
  t.same(await projectState(p.name), empty, 'before: dockerd holds nothing of the project')

  const up = await compose(['-p', p.name, '-f', p.file, 'up', '-d'], { host: (await proxyWith(COMPOSE)).dockerHost, timeoutMs: 120_000 })
  t.not(up.code, 0, 'compose up -d fails')
  const out = up.stdout + up.stderr
  t.match(out, /dockmoat refused POST \S*\/containers\/create\S* \(POST \/containers\/create\)/, 'compose prints dockmoat\'s refusal')
  const asked = variablesIn(out)
  t.same(asked, { ALLOW_PRIVILEGED: '1', ALLOW_BIND: hostDir, ALLOW_HOST_NAMESPACES: '1' }, 'naming all three variables')
  t.same(await projectState(p.name), empty, 'after: no container, volume or network of the project (direct)')

  const allowing = await proxyWith({ ...COMPOSE, ...asked })
  const up2 = await compose(['-p', p.name, '-f', p.file, 'up', '-d'], { host: allowing.dockerHost, timeoutMs: 120_000 })
  const out2 = up2.stdout + up2.stderr
  t.notMatch(out2, 'dockmoat refused', 'compose up -d with the three variables: nothing refused')
  const state = await projectState(p.name)
  t.equal(state.containers.length, 1, `one container (${state.containers.join(', ')})`)
  const info = state.containers[0] === undefined ? undefined : await inspect(state.containers[0])
  t.match(info, {
    HostConfig: { Privileged: true, NetworkMode: 'host', Binds: [`${hostDir}:/hostdir:ro`] },
  }, 'dockerd created it privileged, on the host network, with the bind (direct)')
  if (info?.State.Status === 'running') {
    t.equal(up2.code, 0, `compose up -d exits 0\n${out2}`)
    const read = await direct(['exec', info.Id, 'cat', '/hostdir/marker'])
    t.equal(read.stdout, 'host file\n', 'the host directory is bound')
  } else {
    // A dockerd that itself runs without every capability (nested) cannot start a
    // privileged container: the start passed dockmoat and failed in the runtime.
    t.match(out2, /Cannot start service app: .*unable to apply caps/, `dockerd tried to start it; the runtime could not grant the capabilities (state ${info?.State.Status})`)
  }

  const down = await compose(['-p', p.name, '-f', p.file, 'down', '-v', '--timeout', '1'], { host: allowing.dockerHost, timeoutMs: 120_000 })
  t.equal(down.code, 0, `compose down -v\n${down.stdout}\n${down.stderr}`)
  t.same(await projectState(p.name), empty, 'down removed everything (direct)')
})

t.test('docker-compose: a benign project with a named volume passes untouched', { timeout: 300_000 }, async (t) => {
  const p = composeProject('compose-ok', [
    'version: "3.8"',
    'services:',
    '  app:',
    `    image: ${IMAGE}`,
    '    command: sh -c "echo composed > /data/f; exec sleep 300"',
    '    cap_add: [CHOWN]',
    '    security_opt: ["no-new-privileges:true"]',
    '    tmpfs: [/scratch]',
    '    volumes:',
    '      - data:/data',
    '    labels:',
    `      ${RUN_LABEL}: "${RUN}"`,
    'volumes:',
    '  data: {}',
  ])
  const proxy = await proxyWith(COMPOSE)
  const up = await compose(['-p', p.name, '-f', p.file, 'up', '-d'], { host: proxy.dockerHost, timeoutMs: 120_000 })
  t.equal(up.code, 0, `compose up -d with no ALLOW_* variable\n${up.stdout}\n${up.stderr}`)
  t.notMatch(up.stdout + up.stderr, 'dockmoat refused', 'nothing refused')
  const state = await projectState(p.name)
  t.same(state.volumes, [`${p.name}_data`], 'the named volume exists (direct)')
  t.equal(state.containers.length, 1, 'one container (direct)')
  const info = state.containers[0] === undefined ? undefined : await inspect(state.containers[0])
  t.match(info, { State: { Status: 'running' }, HostConfig: { Privileged: false } }, 'running, unprivileged (direct)')
  t.ok(info?.Mounts.some((m) => m.Type === 'volume' && m.Name === `${p.name}_data`), 'with the named volume mounted')
  if (info !== undefined) {
    let wrote = ''
    for (let i = 0; i < 40 && wrote === ''; i++) {
      wrote = (await direct(['exec', info.Id, 'cat', '/data/f'])).stdout
      if (wrote === '') await new Promise((res) => setTimeout(res, 250))
    }
    t.equal(wrote, 'composed\n', 'the service wrote to its volume')
  }

  const down = await compose(['-p', p.name, '-f', p.file, 'down', '-v', '--timeout', '1'], { host: proxy.dockerHost, timeoutMs: 120_000 })
  t.equal(down.code, 0, `compose down -v\n${down.stdout}\n${down.stderr}`)
  t.same(await projectState(p.name), { containers: [], volumes: [], networks: [] }, 'down -v removed everything (direct)')
})

// ---------------------------------------------------------------------------
// 5. dockerode

t.test('dockerode: createContainer with HostConfig.Privileged', async (t) => {
  const refusedName = name('container', 'ode-refused')
  await t.rejects(new Docker({ host: '127.0.0.1', port: (await guarded()).port }).createContainer({
    Image: IMAGE, Cmd: ['true'], name: refusedName, Labels: { [RUN_LABEL]: RUN }, HostConfig: { Privileged: true },
  }), {
    statusCode: 403,
    json: { message: /^dockmoat refused POST \/containers\/create\S* \(POST \/containers\/create\): HostConfig\.Privileged is true: set ALLOW_PRIVILEGED=1$/ },
    message: /HTTP code 403.*ALLOW_PRIVILEGED=1/,
  }, 'refused with 403 naming ALLOW_PRIVILEGED=1')
  t.equal(await inspect(refusedName), undefined, 'no container (direct)')

  const allowedName = name('container', 'ode-allowed')
  const d = new Docker({ host: '127.0.0.1', port: (await proxyWith({ ...BASE, ALLOW_PRIVILEGED: '1' })).port })
  const container = await d.createContainer({ Image: IMAGE, Cmd: ['true'], name: allowedName, Labels: { [RUN_LABEL]: RUN }, HostConfig: { Privileged: true } })
  t.match(container.id, /^[0-9a-f]{64}$/, 'created with ALLOW_PRIVILEGED=1')
  t.match(await inspect(allowedName), { Id: container.id, HostConfig: { Privileged: true } }, 'dockerd holds it privileged (direct)')
})

// ---------------------------------------------------------------------------
// 6. The legacy start body (API < 1.24): 20.10 applies a HostConfig given at start

t.test('POST /v1.23/containers/{id}/start with a HostConfig body', async (t) => {
  const startOnly = await proxyWith({ ALLOW_START: '1' })
  const nothing = await guarded()
  const never = '0001-01-01T00:00:00Z'

  /** A container created directly on the socket, never started. */
  async function created(tt: T, prefix: string): Promise<string> {
    const n = name('container', prefix)
    const r = await api('POST', `/containers/create?name=${n}`, { Image: IMAGE, Cmd: ['true'], Labels: { [RUN_LABEL]: RUN } })
    tt.equal(r.status, 201, `setup: create ${n} (direct): ${r.text}`)
    return n
  }

  for (const [label, proxy] of [['ALLOW_START=1 only', startOnly], ['CONTAINERS=1 POST=1', nothing]] as const) {
    t.test(label, async (t) => {
      const c = await created(t, 'legacy')
      const priv = await api('POST', `/v1.23/containers/${c}/start`, { Privileged: true }, proxy.port)
      t.equal(priv.status, 403, '{"Privileged":true} is refused with 403')
      t.match(priv.json, { message: /\(POST \/containers\/\{name\}\/start\): Privileged \(top level.*\) is true: set ALLOW_PRIVILEGED=1$/ }, 'naming ALLOW_PRIVILEGED=1')
      const binds = await api('POST', `/v1.23/containers/${c}/start`, { Binds: ['/:/host'] }, proxy.port)
      t.equal(binds.status, 403, '{"Binds":["/:/host"]} is refused with 403')
      t.match(binds.json, { message: /Binds .*"\/:\/host".*: set ALLOW_BIND=\/$/ }, 'naming ALLOW_BIND=/')
      t.match(await inspect(c), {
        State: { Status: 'created', StartedAt: never },
        HostConfig: { Privileged: false, Binds: null },
      }, 'the container was not started, is not privileged and binds nothing (direct)')

      // dockerd reads a start body of more than 7 bytes; a benign one passes and is applied.
      const benign = await api('POST', `/v1.23/containers/${c}/start`, { CapAdd: ['CHOWN'] }, proxy.port)
      t.equal(benign.status, 204, `a start with a benign HostConfig ({"CapAdd":["CHOWN"]}) passes: ${benign.text}`)
      const after = await inspect(c)
      t.match(after, { State: { ExitCode: 0 }, HostConfig: { Privileged: false, CapAdd: ['CHOWN'] } }, 'dockerd applied it and ran the container, unprivileged (direct)')
      t.not(after?.State.StartedAt, never, 'it was started (direct)')
    })
  }

  t.test('with ALLOW_START=1 ALLOW_PRIVILEGED=1 dockerd applies it (why the guard matters)', async (t) => {
    const c = await created(t, 'legacy-allowed')
    const r = await api('POST', `/v1.23/containers/${c}/start`, { Privileged: true }, (await proxyWith({ ALLOW_START: '1', ALLOW_PRIVILEGED: '1' })).port)
    t.not(r.status, 403, `not refused by dockmoat (HTTP ${r.status} ${r.text.trim()})`)
    t.notMatch(r.text, 'dockmoat refused', 'no dockmoat refusal')
    // Started, or (where dockerd runs without every capability) failed in the runtime:
    // either way dockerd took the start body's HostConfig.
    t.equal((await inspect(c))?.HostConfig.Privileged, true, 'dockerd made the container privileged from the start body (direct)')
  })
})

// ---------------------------------------------------------------------------
// 7. dockmoat check with a body on stdin

t.test('dockmoat check POST /containers/create < body', async (t) => {
  const check = (body: unknown, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [BUNDLE, 'check', 'POST', '/containers/create'], {
      input: JSON.stringify(body),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env },
      encoding: 'utf8',
      timeout: 20_000,
    })
    return { status: r.status, stdout: r.stdout, stderr: r.stderr }
  }
  const privileged = { Image: IMAGE, Cmd: ['true'], HostConfig: { Privileged: true } }
  const benign = { Image: IMAGE, Cmd: ['true'], HostConfig: { Binds: ['data:/data'], CapAdd: ['CHOWN'], SecurityOpt: ['no-new-privileges'] } }
  const env = { CONTAINERS: '1', POST: '1' }

  const r1 = check(privileged, env)
  t.equal(r1.status, 1, `a privileged body is refused (exit 1): ${r1.stderr}`)
  t.equal(r1.stdout, 'refused: dockmoat refused POST /containers/create (POST /containers/create): HostConfig.Privileged is true: set ALLOW_PRIVILEGED=1\n', 'with the message the proxy would send')

  const r2 = check(benign, env)
  t.equal(r2.status, 0, `a benign body is allowed (exit 0): ${r2.stdout}${r2.stderr}`)
  t.match(r2.stdout, /^allowed: /, 'says allowed')

  const r3 = check(privileged, { ...env, ALLOW_PRIVILEGED: '1' })
  t.equal(r3.status, 0, `the privileged body with ALLOW_PRIVILEGED=1 is allowed (exit 0): ${r3.stdout}${r3.stderr}`)
  t.match(r3.stdout, /^allowed: /, 'says allowed')
})

// ---------------------------------------------------------------------------
// 2, over the whole file: what dockerd holds under this run's label is exactly what was allowed

t.test('dockerd holds only what was allowed', async (t) => {
  const { containers, volumes } = await labelled(RUN_LABEL, RUN)
  const refusedNames = made.container.filter((n) => /-(refused|seg-xy|ode-refused)-/.test(n))
  t.ok(refusedNames.length >= ESCALATIONS.length + 2, `refused names were tried (${refusedNames.length})`)
  t.same(containers.filter((n) => refusedNames.includes(n)), [], 'no container of a refused request exists (direct)')
  t.same(volumes.filter((v) => /-bindvol-refused-/.test(v)), [], 'no volume of a refused request exists (direct)')
  t.ok(containers.length > 0 && volumes.length > 0, `the allowed ones do (${containers.length} containers, ${volumes.length} volumes)`)
})

