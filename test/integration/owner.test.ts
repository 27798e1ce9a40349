// OWNER against the REAL dockerd: two proxies on the one daemon, OWNER=a-<run> and
// OWNER=b-<run>, driven by the docker CLI, docker-compose 1.29 and plain HTTP. Each owner
// sees only its own; every reach for the other's object answers exactly as dockerd answers
// for an object that does not exist (compared with dockerd's own answer for a name that was
// never created); and every outcome is read back from dockerd itself, straight on its socket.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  DOCKER_DIRECT_HOST, api as dockerApi, cleanup, compose, docker, requireDocker, testImage, uniqueName, inspectContainer, type RunResult,
} from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'

t.setTimeout(300_000)
const CLI_TIMEOUT = 60_000

await requireDocker()
const IMAGE = await testImage()

const RUN = `${process.pid}-${randomBytes(4).toString('hex')}`
const LABEL = 'dockmoat.owner'
const A_ID = `a-${RUN}`
const B_ID = `b-${RUN}`

/** What both proxies grant (IMAGES for `docker run`'s image inspect, INFO for compose). */
const GRANTS: Record<string, string> = {
  CONTAINERS: '1', POST: '1', EXEC: '1', VOLUMES: '1', NETWORKS: '1', ALLOW_LOGS: '1', ALLOW_ARCHIVE: '1', IMAGES: '1', INFO: '1',
}

// ---------------------------------------------------------------------------
// Bookkeeping and cleanup, always directly against dockerd

const made = { container: [] as string[], volume: [] as string[], network: [] as string[], image: [] as string[] }
const dirs: string[] = []
const projects: { name: string; file: string }[] = []

let pa: RunningProxy | undefined
let pb: RunningProxy | undefined

t.teardown(async () => {
  for (const p of projects) {
    await compose(['-p', p.name, '-f', p.file, 'down', '-v', '--timeout', '1'], { host: DOCKER_DIRECT_HOST, timeoutMs: 120_000 }).catch(() => undefined)
  }
  const containers: string[] = [...made.container]
  const volumes: string[] = [...made.volume]
  const networks: string[] = [...made.network]
  for (const id of [A_ID, B_ID]) {
    const f = filters({ label: [`${LABEL}=${id}`] })
    const c = await api('GET', `/containers/json?all=1&filters=${f}`).catch(() => undefined)
    if (Array.isArray(c?.json)) containers.push(...(c.json as { Id: string }[]).map((x) => x.Id))
    const v = await api('GET', `/volumes?filters=${f}`).catch(() => undefined)
    volumes.push(...((v?.json as { Volumes?: { Name: string }[] | null } | undefined)?.Volumes ?? []).map((x) => x.Name))
    const n = await api('GET', `/networks?filters=${f}`).catch(() => undefined)
    if (Array.isArray(n?.json)) networks.push(...(n.json as { Id: string }[]).map((x) => x.Id))
  }
  await cleanup('container', containers)
  await cleanup('volume', volumes)
  await cleanup('network', networks)
  await cleanup('image', made.image)
  await pa?.stop()
  await pb?.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function name(kind: keyof typeof made, prefix: string): string {
  const n = uniqueName(`owner-${prefix}`)
  made[kind].push(n)
  return n
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), `dm-owner-${process.pid}-`))
  dirs.push(dir)
  return dir
}

;[pa, pb] = await Promise.all([startProxy({ ...GRANTS, OWNER: A_ID }), startProxy({ ...GRANTS, OWNER: B_ID })])
const A: RunningProxy = pa
const B: RunningProxy = pb

// ---------------------------------------------------------------------------
// HTTP, to dockerd's socket (default) or to a proxy

interface Reply { status: number; text: string; json: unknown }

const api = (method: string, path: string, body?: unknown, via?: RunningProxy, headers: Record<string, string> = {}): Promise<Reply> =>
  dockerApi(method, path, body, via?.port, headers, 30_000)

const filters = (f: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(f))

interface ContainerInfo {
  Id: string
  Name: string
  State: { Status: string; Running: boolean; StartedAt: string; Pid: number }
  ExecIDs: string[] | null
  Config: { Labels: Record<string, string> | null }
  HostConfig: { NetworkMode: string }
  NetworkSettings: { Networks: Record<string, unknown> }
  Mounts: { Type: string; Name?: string; Destination: string }[]
}

/** dockerd's own inspect of a container, on its socket. */
const inspect = (ref: string): Promise<ContainerInfo | undefined> => inspectContainer<ContainerInfo>(ref)

async function mustInspect(ref: string): Promise<ContainerInfo> {
  const c = await inspect(ref)
  if (c === undefined) throw new Error(`dockerd has no container ${ref}`)
  return c
}

async function volumeLabels(volume: string): Promise<Record<string, string> | null | undefined> {
  const r = await api('GET', `/volumes/${encodeURIComponent(volume)}`)
  return r.status === 200 ? (r.json as { Labels: Record<string, string> | null }).Labels : undefined
}

async function networkInfo(net: string): Promise<{ Id: string; Labels: Record<string, string> | null; Containers: Record<string, unknown> } | undefined> {
  const r = await api('GET', `/networks/${encodeURIComponent(net)}`)
  return r.status === 200 ? (r.json as { Id: string; Labels: Record<string, string> | null; Containers: Record<string, unknown> }) : undefined
}

/** Names of what dockerd holds (containers of all states, volumes, networks) with label key=value. */
async function labelled(key: string, value: string): Promise<{ containers: string[]; volumes: string[]; networks: string[] }> {
  const f = filters({ label: [`${key}=${value}`] })
  const c = await api('GET', `/containers/json?all=1&filters=${f}`)
  const v = await api('GET', `/volumes?filters=${f}`)
  const n = await api('GET', `/networks?filters=${f}`)
  if (c.status !== 200 || v.status !== 200 || n.status !== 200) throw new Error(`listing by label: ${c.text} / ${v.text} / ${n.text}`)
  return {
    containers: (c.json as { Names: string[] }[]).flatMap((x) => x.Names.map((s) => s.replace(/^\//, ''))).sort(),
    volumes: ((v.json as { Volumes: { Name: string }[] | null }).Volumes ?? []).map((x) => x.Name).sort(),
    networks: (n.json as { Name: string }[]).map((x) => x.Name).sort(),
  }
}

// ---------------------------------------------------------------------------
// The docker CLI

type T = Test

function via(p: RunningProxy, args: string[], input?: string): Promise<RunResult> {
  return docker(args, { host: p.dockerHost, timeoutMs: CLI_TIMEOUT, ...(input === undefined ? {} : { input }) })
}

function direct(args: string[]): Promise<RunResult> {
  return docker(args, { host: DOCKER_DIRECT_HOST, timeoutMs: CLI_TIMEOUT })
}

function ok(tt: T, r: RunResult, what: string): void {
  tt.equal(r.code, 0, `${what} succeeds (stderr: ${r.stderr.trim()})`)
}

const lines = (s: string): string[] => s.split('\n').map((l) => l.trim()).filter(Boolean)
/** `docker ps --format {{.Names}}` prints a container's link aliases too (`a1,a2/db`). */
const names = (s: string): string[] => lines(s).flatMap((l) => l.split(',')).filter((n) => !n.includes('/'))

/** A reference of the same shape as `ref` (64 hex, 12 hex, name:tag, or a name) that names nothing in dockerd. */
function ghostLike(ref: string): string {
  if (/^[0-9a-f]+$/.test(ref)) return randomBytes(Math.ceil(ref.length / 2)).toString('hex').slice(0, ref.length)
  const colon = ref.lastIndexOf(':')
  return colon > 0 && !ref.slice(colon).includes('/') ? `${uniqueName('owner-ghost')}${ref.slice(colon)}` : uniqueName('owner-ghost')
}

/**
 * Runs `args(ref)` through `p`, and the same with `ghost` (a reference of the same shape that
 * was never created) both through `p` and straight on dockerd: the client must not be able
 * to tell b's object from a missing one (through `p`), and the answer must be dockerd's own
 * for a missing object (direct): same exit code, same stdout, same stderr.
 */
async function answersLikeMissing(tt: T, p: RunningProxy, args: (ref: string) => string[], ref: string, what: string): Promise<void> {
  const ghost = ghostLike(ref)
  const [through, ghostThrough, missing] = await Promise.all([via(p, args(ref)), via(p, args(ghost)), direct(args(ghost))])
  const same = (r: RunResult): RunResult => ({ code: r.code, stdout: r.stdout.replaceAll(ghost, ref), stderr: r.stderr.replaceAll(ghost, ref) })
  const seen = { code: through.code, stdout: through.stdout, stderr: through.stderr }
  tt.same(seen, same(ghostThrough), `${what}: through the proxy, indistinguishable from a missing object`)
  tt.same(seen, same(missing), `${what}: dockerd's own answer for a missing object (exit ${missing.code}: ${missing.stderr.trim()})`)
}

/** The same through the API: status and body equal to dockerd's for a ghost reference. */
async function apiLikeMissing(tt: T, method: string, path: (ref: string) => string, ref: string, what: string, body?: unknown): Promise<void> {
  const ghost = ghostLike(ref)
  const [through, ghostThrough, missing] = await Promise.all([api(method, path(ref), body, A), api(method, path(ghost), body, A), api(method, path(ghost), body)])
  const same = (r: Reply): { status: number; text: string } => ({ status: r.status, text: r.text.replaceAll(ghost, ref) })
  tt.same({ status: through.status, text: through.text }, same(ghostThrough), `${what}: through the proxy, indistinguishable from a missing object`)
  tt.same({ status: through.status, text: through.text }, same(missing), `${what}: dockerd's own answer for a missing object (HTTP ${missing.status} ${missing.text.trim()})`)
}

/** A container that keeps running for the whole file. */
async function runLong(tt: T, p: RunningProxy, n: string, extra: string[] = []): Promise<string> {
  const r = await via(p, ['run', '-d', '--name', n, ...extra, IMAGE, 'sh', '-c', `echo log-of-${n}; exec sleep 900`])
  ok(tt, r, `docker run -d --name ${n}`)
  return r.stdout.trim()
}

// ---------------------------------------------------------------------------
// The two owners' objects, made once (each through its own proxy)

const a1 = name('container', 'a1')
const a2 = name('container', 'a2-links-a1')
const aNet = name('network', 'a-net')
const aVol = name('volume', 'a-vol')
const b1 = name('container', 'b1')
const b2 = name('container', 'b2-links-b1')
const bNet = name('network', 'b-net')
const bVol = name('volume', 'b-vol')
let b1Id = ''
let bNetId = ''

t.before(async () => {
  // Each owner makes its own, through its own proxy; any failure fails the file.
  const steps: [RunningProxy, string[]][] = [
    [A, ['run', '-d', '--name', a1, IMAGE, 'sh', '-c', `echo log-of-${a1}; exec sleep 900`]],
    [A, ['run', '-d', '--name', a2, '--link', `${a1}:db`, IMAGE, 'sleep', '900']],
    [A, ['network', 'create', aNet]],
    [A, ['volume', 'create', aVol]],
    [B, ['run', '-d', '--name', b1, IMAGE, 'sh', '-c', `echo log-of-${b1}; exec sleep 900`]],
    [B, ['run', '-d', '--name', b2, '--link', `${b1}:db`, IMAGE, 'sleep', '900']],
    [B, ['network', 'create', bNet]],
    [B, ['volume', 'create', bVol]],
  ]
  for (const [p, args] of steps) {
    const r = await via(p, args)
    if (r.code !== 0) throw new Error(`setup: docker ${args.join(' ')} through ${p === A ? 'a' : 'b'} failed: ${r.stderr}`)
  }
  b1Id = (await mustInspect(b1)).Id
  bNetId = (await networkInfo(bNet))!.Id
})

// ---------------------------------------------------------------------------

t.test('everything each client creates carries its owner label (direct inspect)', async (t) => {
  for (const [c, id] of [[a1, A_ID], [a2, A_ID], [b1, B_ID], [b2, B_ID]] as const) {
    t.equal((await mustInspect(c)).Config.Labels?.[LABEL], id, `container ${c} is labelled ${id}`)
  }
  t.equal((await networkInfo(aNet))?.Labels?.[LABEL], A_ID, 'a\'s network is labelled a\'s')
  t.equal((await networkInfo(bNet))?.Labels?.[LABEL], B_ID, 'b\'s network is labelled b\'s')
  t.equal((await volumeLabels(aVol))?.[LABEL], A_ID, 'a\'s volume is labelled a\'s')
  t.equal((await volumeLabels(bVol))?.[LABEL], B_ID, 'b\'s volume is labelled b\'s')
})

t.test('a named volume made implicitly by `docker run -v newname:/x` is the owner\'s', async (t) => {
  const vol = name('volume', 'implicit')
  const c = name('container', 'implicit')
  const r = await via(A, ['run', '--name', c, '-v', `${vol}:/x`, IMAGE, 'sh', '-c', 'echo made > /x/f'])
  ok(t, r, 'docker run -v newname:/x through a')
  t.equal((await volumeLabels(vol))?.[LABEL], A_ID, 'dockerd holds the volume, labelled a\'s')
  const mounted = (await mustInspect(c)).Mounts.find((m) => m.Destination === '/x')
  t.equal(mounted?.Name, vol, 'the container mounts that very volume')
  const other = name('container', 'implicit-b')
  const rb = await via(B, ['run', '--name', other, '-v', `${vol}:/x`, IMAGE, 'true'])
  t.not(rb.code, 0, 'b cannot mount a\'s volume by name')
  t.match(rb.stderr, `the volume name ${vol} is in use by a volume that is not yours`, 'b is told the name is taken')
  t.equal(await inspect(other), undefined, 'no container was created for b (direct)')
  t.equal((await volumeLabels(vol))?.[LABEL], A_ID, 'the volume is still a\'s')
})

t.test('each owner\'s own work: ps, logs, exec, cp, network connect, link alias', async (t) => {
  const psA = await via(A, ['ps', '-a', '--no-trunc', '--format', '{{.Names}}'])
  ok(t, psA, 'docker ps -a through a')
  t.ok(names(psA.stdout).includes(a1) && names(psA.stdout).includes(a2), 'a lists its containers')
  const everything = await api('GET', '/containers/json?all=1')
  const foreign = (everything.json as { Names: string[]; Labels: Record<string, string> }[])
    .filter((c) => c.Labels[LABEL] !== A_ID).flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')))
  t.ok(foreign.includes(b1), 'dockerd holds b\'s containers (direct)')
  t.same(names(psA.stdout).filter((n) => foreign.includes(n)), [], 'a lists no container that is not a\'s')
  const psB = await via(B, ['ps', '-a', '--format', '{{.Names}}'])
  ok(t, psB, 'docker ps -a through b')
  t.ok(names(psB.stdout).includes(b1), 'b lists its container')
  t.notOk(names(psB.stdout).includes(a1), 'b does not list a\'s')

  // Filters the client sends cannot widen the view.
  const asB = await via(A, ['ps', '-a', '--filter', `label=${LABEL}=${B_ID}`, '--format', '{{.Names}}'])
  ok(t, asB, 'docker ps --filter label=dockmoat.owner=<b> through a')
  // dockerd ANDs label terms: label=<b's> AND label=<a's> matches nothing.
  t.same(names(asB.stdout), [], 'a\'s filter on b\'s label lists nothing')
  const byName = await via(A, ['ps', '-a', '--filter', `name=${b1}`, '--format', '{{.Names}}'])
  t.same(names(byName.stdout), [], 'a\'s filter on b\'s name lists nothing')

  const logs = await via(A, ['logs', a1])
  ok(t, logs, 'docker logs of a\'s container')
  t.equal(logs.stdout, `log-of-${a1}\n`, 'a reads its container\'s log')
  const exec = await via(A, ['exec', a1, 'sh', '-c', 'echo exec-ok > /tmp/e; cat /tmp/e'])
  ok(t, exec, 'docker exec in a\'s container')
  t.equal(exec.stdout, 'exec-ok\n', 'the exec ran in a\'s container')
  const dir = tempDir()
  writeFileSync(join(dir, 'in.txt'), 'copied in\n')
  ok(t, await via(A, ['cp', join(dir, 'in.txt'), `${a1}:/tmp/in.txt`]), 'docker cp into a\'s container')
  const back = await via(A, ['cp', `${a1}:/tmp/in.txt`, '-'])
  ok(t, back, 'docker cp out of a\'s container')
  t.match(back.stdout, 'copied in', 'the file came back')
  const check = await direct(['exec', a1, 'cat', '/tmp/in.txt'])
  t.equal(check.stdout, 'copied in\n', 'the file is in a\'s container (direct)')

  ok(t, await via(A, ['network', 'connect', aNet, a1]), 'docker network connect a\'s network a\'s container')
  t.ok((await networkInfo(aNet))?.Containers[(await mustInspect(a1)).Id] !== undefined, 'a1 is on a\'s network (direct)')

  const alias = await api('GET', `/containers/${a2}/db/json`, undefined, A)
  t.equal(alias.status, 200, 'a inspects its own link alias /<a2>/db')
  t.equal((alias.json as { Id?: string } | undefined)?.Id, (await mustInspect(a1)).Id, 'the alias resolves to a1')
})

t.test('every reach for b\'s container through a answers like a missing one and changes nothing', async (t) => {
  const before = await mustInspect(b1)
  const renamed = uniqueName('owner-renamed')
  made.container.push(renamed)
  const dir = tempDir()
  const refs: [string, string][] = [['full ID', b1Id], ['ID prefix', b1Id.slice(0, 12)], ['name', b1]]
  for (const [label, ref] of refs) {
    t.test(`by ${label}`, async (t) => {
      await answersLikeMissing(t, A, (r) => ['container', 'inspect', r], ref, 'docker container inspect')
      await answersLikeMissing(t, A, (r) => ['logs', r], ref, 'docker logs')
      await answersLikeMissing(t, A, (r) => ['exec', r, 'touch', '/tmp/pwned'], ref, 'docker exec')
      await answersLikeMissing(t, A, (r) => ['cp', `${r}:/etc/hostname`, join(dir, 'out')], ref, 'docker cp out')
      await answersLikeMissing(t, A, (r) => ['cp', join(dir), `${r}:/tmp/in`], ref, 'docker cp in')
      await answersLikeMissing(t, A, (r) => ['rename', r, renamed], ref, 'docker rename')
      await answersLikeMissing(t, A, (r) => ['stop', '-t', '1', r], ref, 'docker stop')
      await answersLikeMissing(t, A, (r) => ['kill', r], ref, 'docker kill')
      await answersLikeMissing(t, A, (r) => ['start', r], ref, 'docker start')
      await answersLikeMissing(t, A, (r) => ['port', r], ref, 'docker port')
      await answersLikeMissing(t, A, (r) => ['update', '--cpu-shares', '512', r], ref, 'docker update')
      await answersLikeMissing(t, A, (r) => ['restart', '-t', '1', r], ref, 'docker restart')
      await answersLikeMissing(t, A, (r) => ['rm', '-f', r], ref, 'docker rm -f')
      const after = await inspect(b1)
      t.ok(after !== undefined, 'b1 still exists (direct)')
      t.equal(after?.Name, `/${b1}`, 'b1 is not renamed')
      t.equal(after?.State.Running, true, 'b1 is still running')
      t.equal(after?.State.StartedAt, before.State.StartedAt, 'b1 was not restarted')
      t.same(after?.ExecIDs, before.ExecIDs, 'no exec was created in b1')
      t.equal(await inspect(renamed), undefined, 'no container took the new name')
      const touched = await direct(['exec', b1, 'sh', '-c', 'ls /tmp'])
      t.equal(touched.stdout, '', 'nothing was copied or touched in b1\'s /tmp (direct)')
    })
  }
  t.test('through the API: wait, stats, attach, archive, resize, top-level delete', async (t) => {
    await apiLikeMissing(t, 'POST', (r) => `/containers/${r}/wait`, b1, 'POST /containers/{b1}/wait')
    await apiLikeMissing(t, 'GET', (r) => `/containers/${r}/stats?stream=0`, b1, 'GET /containers/{b1}/stats')
    await apiLikeMissing(t, 'POST', (r) => `/containers/${r}/attach?stream=1&stdout=1`, b1, 'POST /containers/{b1}/attach')
    await apiLikeMissing(t, 'HEAD', (r) => `/containers/${r}/archive?path=/etc`, b1, 'HEAD /containers/{b1}/archive')
    await apiLikeMissing(t, 'POST', (r) => `/containers/${r}/resize?h=10&w=10`, b1Id.slice(0, 16), 'POST /containers/{prefix}/resize')
    await apiLikeMissing(t, 'POST', (r) => `/containers/${r}/update`, b1, 'POST /containers/{b1}/update', { Memory: 0 })
    await apiLikeMissing(t, 'DELETE', (r) => `/containers/${r}?force=1`, b1Id.slice(0, 20), 'DELETE /containers/{prefix}?force=1')
    t.equal((await inspect(b1))?.State.Running, true, 'b1 still runs (direct)')
  })
  t.test('the link alias path /containers/<b2>/db/json (b2 links b1 as db)', async (t) => {
    const own = await api('GET', `/containers/${b2}/db/json`)
    t.equal((own.json as { Id?: string } | undefined)?.Id, b1Id, 'dockerd resolves /<b2>/db to b1 (direct)')
    await apiLikeMissing(t, 'GET', (r) => `/containers/${r}/db/json`, b2, 'GET /containers/<b2>/db/json')
    await apiLikeMissing(t, 'POST', (r) => `/containers/${r}/db/stop?t=1`, b2, 'POST /containers/<b2>/db/stop')
    await apiLikeMissing(t, 'GET', (r) => `/containers/${r}/db/logs?stdout=1`, b2, 'GET /containers/<b2>/db/logs')
    t.equal((await inspect(b1))?.State.Running, true, 'b1 still runs (direct)')
  })
  t.test('b\'s exec instance', async (t) => {
    const made = await api('POST', `/containers/${b1}/exec`, { Cmd: ['touch', '/tmp/exec-ran'] }, B)
    t.equal(made.status, 201, `b creates an exec in b1 (${made.text.trim()})`)
    const execId = (made.json as { Id?: string } | undefined)?.Id ?? 'none'
    await apiLikeMissing(t, 'GET', (r) => `/exec/${r}/json`, execId, 'GET /exec/{b\'s}/json')
    await apiLikeMissing(t, 'POST', (r) => `/exec/${r}/start`, execId, 'POST /exec/{b\'s}/start', { Detach: true })
    await apiLikeMissing(t, 'POST', (r) => `/exec/${r}/resize?h=10&w=10`, execId, 'POST /exec/{b\'s}/resize')
    const upgraded = await api('POST', `/exec/${execId}/start`, { Detach: false, Tty: false }, A, { Connection: 'Upgrade', Upgrade: 'tcp' })
    t.equal(upgraded.status, 404, `POST /exec/{b's}/start with Upgrade: tcp answers 404 (${upgraded.status} ${upgraded.text.trim()})`)
    const state = await api('GET', `/exec/${execId}/json`)
    t.equal((state.json as { Running?: boolean; Pid?: number } | undefined)?.Pid, 0, 'the exec never started (direct)')
    t.equal((await direct(['exec', b1, 'ls', '/tmp'])).stdout, '', 'nothing ran in b1')
  })
})

t.test('networks and volumes across owners answer like missing ones and change nothing', async (t) => {
  const a1Id = (await mustInspect(a1)).Id
  await answersLikeMissing(t, A, (r) => ['network', 'connect', aNet, r], b1, 'docker network connect <a\'s net> <b\'s container>')
  await answersLikeMissing(t, A, (r) => ['network', 'connect', aNet, r], b1Id, 'docker network connect <a\'s net> <b\'s full ID>')
  await answersLikeMissing(t, A, (r) => ['network', 'connect', r, a1], bNet, 'docker network connect <b\'s net> <a\'s container>')
  await answersLikeMissing(t, A, (r) => ['network', 'connect', r, a1], bNetId, 'docker network connect <b\'s net ID> <a\'s container>')
  await answersLikeMissing(t, A, (r) => ['network', 'disconnect', 'bridge', r], b1, 'docker network disconnect bridge <b\'s container>')
  await answersLikeMissing(t, A, (r) => ['network', 'inspect', r], bNet, 'docker network inspect <b\'s net>')
  await answersLikeMissing(t, A, (r) => ['network', 'inspect', r], bNetId.slice(0, 12), 'docker network inspect <b\'s net ID prefix>')
  await answersLikeMissing(t, A, (r) => ['network', 'rm', r], bNet, 'docker network rm <b\'s net>')
  await answersLikeMissing(t, A, (r) => ['volume', 'inspect', r], bVol, 'docker volume inspect <b\'s volume>')
  await answersLikeMissing(t, A, (r) => ['volume', 'rm', '-f', r], bVol, 'docker volume rm -f <b\'s volume>')
  await answersLikeMissing(t, A, (r) => ['volume', 'rm', r], bVol, 'docker volume rm <b\'s volume>')

  const an = await networkInfo(aNet)
  t.equal(an?.Containers[b1Id], undefined, 'b1 is not on a\'s network (direct)')
  const bn = await networkInfo(bNet)
  t.ok(bn !== undefined, 'b\'s network still exists (direct)')
  t.equal(bn?.Containers[a1Id], undefined, 'a1 is not on b\'s network (direct)')
  t.ok((await mustInspect(b1)).NetworkSettings.Networks.bridge !== undefined, 'b1 is still on bridge')
  t.equal((await volumeLabels(bVol))?.[LABEL], B_ID, 'b\'s volume still exists, still b\'s')

  const create = await via(A, ['volume', 'create', bVol])
  t.not(create.code, 0, 'docker volume create <b\'s volume name> through a fails')
  t.match(create.stderr, `the volume name ${bVol} is in use by a volume that is not yours`, 'it is refused as taken')
  t.same(await volumeLabels(bVol), { [LABEL]: B_ID }, 'b\'s volume labels are untouched')
})

t.test('create bodies that name b\'s objects are refused like missing ones; nothing is created', async (t) => {
  const cases: { what: string; flags: (ref: string) => string[]; ref: string }[] = [
    { what: '--volumes-from <b\'s container>', flags: (r) => ['--volumes-from', r], ref: b1 },
    { what: '--volumes-from <b\'s ID prefix>:ro', flags: (r) => ['--volumes-from', `${r}:ro`], ref: b1Id.slice(0, 12) },
    { what: '--network container:<b\'s container>', flags: (r) => ['--network', `container:${r}`], ref: b1 },
    { what: '--pid container:<b\'s container>', flags: (r) => ['--pid', `container:${r}`], ref: b1 },
    { what: '--ipc container:<b\'s container>', flags: (r) => ['--ipc', `container:${r}`], ref: b1Id },
    { what: '--link <b\'s container>:x', flags: (r) => ['--link', `${r}:x`], ref: b1 },
    { what: '--link /<b2>/db:x (b\'s alias path)', flags: (r) => ['--link', `/${r}/db:x`], ref: b2 },
    { what: '--network <b\'s network>', flags: (r) => ['--network', r], ref: bNet },
  ]
  for (const c of cases) {
    const mine = name('container', 'ref')
    const ghost = ghostLike(c.ref)
    const ghostName = name('container', 'ref-ghost')
    const [through, missing] = await Promise.all([
      via(A, ['run', '-d', '--name', mine, ...c.flags(c.ref), IMAGE, 'true']),
      via(A, ['run', '-d', '--name', ghostName, ...c.flags(ghost), IMAGE, 'true']),
    ])
    t.not(through.code, 0, `${c.what}: docker run fails`)
    t.equal(through.stderr.replaceAll(mine, 'NAME'), missing.stderr.replaceAll(ghost, c.ref).replaceAll(ghostName, 'NAME'), `${c.what}: the same words as for a missing object`)
    t.equal(await inspect(mine), undefined, `${c.what}: no container was created (direct)`)
  }
  // dockerd's own words for the fields it checks at create.
  const ghost = uniqueName('owner-ghost')
  const vf = name('container', 'vf-direct')
  const missing = await direct(['run', '-d', '--name', vf, '--volumes-from', ghost, IMAGE, 'true'])
  const mine = name('container', 'vf')
  const through = await via(A, ['run', '-d', '--name', mine, '--volumes-from', b1, IMAGE, 'true'])
  t.equal(through.stderr, missing.stderr.replaceAll(ghost, b1), '--volumes-from: dockerd\'s own words for a missing container')

  const vol = name('container', 'vol')
  const r = await via(A, ['run', '-d', '--name', vol, '-v', `${bVol}:/x`, IMAGE, 'true'])
  t.not(r.code, 0, '-v <b\'s volume>:/x fails')
  t.match(r.stderr, `the volume name ${bVol} is in use by a volume that is not yours`, 'refused: the volume is not a\'s')
  t.equal(await inspect(vol), undefined, 'no container was created (direct)')
  const mount = name('container', 'mount')
  const m = await via(A, ['run', '-d', '--name', mount, '--mount', `type=volume,src=${bVol},dst=/x`, IMAGE, 'true'])
  t.not(m.code, 0, '--mount type=volume,src=<b\'s volume> fails')
  t.equal(await inspect(mount), undefined, 'no container was created (direct)')
  const taken = await via(A, ['run', '-d', '--name', b1, IMAGE, 'true'])
  t.not(taken.code, 0, '--name <b\'s container name> fails')
  t.equal((await mustInspect(b1)).Id, b1Id, 'b1 is still b1')
})

t.test('container references in a create body read as dockerd reads them, through a and direct alike', async (t) => {
  const a1Id = (await mustInspect(a1)).Id
  const cases: [string, Record<string, unknown>][] = [
    ['VolumesFrom /<a1> (a leading / is a name)', { VolumesFrom: [`/${a1}`] }],
    ['VolumesFrom /<a2>/db (a link alias)', { VolumesFrom: [`/${a2}/db`] }],
    ['VolumesFrom <a1>:ro,z', { VolumesFrom: [`${a1}:ro,z`] }],
    ['VolumesFrom /<a1\'s ID prefix> (a name only, so none)', { VolumesFrom: [`/${a1Id.slice(0, 12)}`] }],
    ['VolumesFrom <a1>:ro:junk (the mode is all after the first colon)', { VolumesFrom: [`${a1}:ro:junk`] }],
    ['VolumesFrom "" ', { VolumesFrom: [''] }],
    ['NetworkMode container:/<a1>', { NetworkMode: `container:/${a1}` }],
    ['Links <a1> (the name is the alias)', { Links: [a1] }],
    ['Links /<a1>:/x/y (inspect\'s form: the alias is y)', { Links: [`/${a1}:/x/y`] }],
    ['Links <a1>:x:y (a bad format)', { Links: [`${a1}:x:y`] }],
  ]
  /** A container reference as dockerd resolves it, by asking dockerd. */
  const idOf = async (ref: string): Promise<string> => (await mustInspect(ref.replace(/^\//, ''))).Id
  /** What dockerd made of a HostConfig, with references resolved and the new container's name out. */
  const effect = async (made: string): Promise<unknown> => {
    const hc = (await api('GET', `/containers/${made}/json`)).json as { HostConfig: { VolumesFrom: string[] | null; Links: string[] | null; NetworkMode: string } }
    const volumesFrom = await Promise.all((hc.HostConfig.VolumesFrom ?? []).map(async (entry) => {
      const colon = entry.indexOf(':')
      return colon === -1 ? await idOf(entry) : `${await idOf(entry.slice(0, colon))}${entry.slice(colon)}`
    }))
    const mode = hc.HostConfig.NetworkMode
    return {
      volumesFrom,
      links: (hc.HostConfig.Links ?? []).map((link) => link.replaceAll(`/${made}/`, '/NAME/')),
      networkMode: mode.startsWith('container:') ? `container:${await idOf(mode.slice('container:'.length))}` : mode,
    }
  }
  for (const [what, hostConfig] of cases) {
    const [mine, theirs] = [name('container', 'refs'), name('container', 'refs-direct')]
    const body = { Image: IMAGE, Cmd: ['true'], HostConfig: hostConfig }
    const [through, direct] = await Promise.all([
      api('POST', `/containers/create?name=${mine}`, body, A),
      api('POST', `/containers/create?name=${theirs}`, body),
    ])
    t.equal(through.status, direct.status, `${what}: HTTP ${direct.status} through a as direct`)
    if (direct.status !== 201 || through.status !== 201) {
      t.equal(through.text, direct.text, `${what}: dockerd's own words (${direct.text.trim()})`)
      continue
    }
    t.same(await effect(mine), await effect(theirs), `${what}: dockerd made the same of it`)
  }
})

t.test('images: unowned ones may be used, never untagged or tagged', async (t) => {
  const repo = `dockmoat-test-owner-tag-${RUN}`
  const tag = `${repo}:latest`
  made.image.push(tag)
  ok(t, await direct(['tag', IMAGE, tag]), 'a tag made directly on dockerd')
  await answersLikeMissing(t, A, (r) => ['rmi', r], tag, 'docker rmi <unowned repo:tag>')
  await answersLikeMissing(t, A, (r) => ['rmi', r], repo, 'docker rmi <unowned repo> (no tag: dockerd reads it as repo:latest)')
  await answersLikeMissing(t, A, (r) => ['tag', r, `${repo}-copy`], tag, 'docker tag <unowned repo:tag> <new>')
  await answersLikeMissing(t, A, (r) => ['tag', r, `${repo}-copy`], repo, 'docker tag <unowned repo> <new>')
  made.image.push(`${repo}-copy`)
  t.equal((await api('GET', `/images/${encodeURIComponent(tag)}/json`)).status, 200, 'the tag still exists (direct)')
  t.equal((await api('GET', `/images/${encodeURIComponent(`${repo}-copy`)}/json`)).status, 404, 'no new tag was made (direct)')
  ok(t, await via(A, ['image', 'inspect', tag]), 'a may still inspect it')
})

t.test('prunes through a remove only a\'s; b\'s survive (direct)', async (t) => {
  const aDead = name('container', 'a-dead')
  const bDead = name('container', 'b-dead')
  const aSpareVol = name('volume', 'a-spare')
  const bSpareVol = name('volume', 'b-spare')
  const aSpareNet = name('network', 'a-spare')
  const bSpareNet = name('network', 'b-spare')
  ok(t, await via(A, ['run', '--name', aDead, IMAGE, 'true']), 'a leaves an exited container')
  ok(t, await via(B, ['run', '--name', bDead, IMAGE, 'true']), 'b leaves an exited container')
  ok(t, await via(A, ['volume', 'create', aSpareVol]), 'a makes an unused volume')
  ok(t, await via(B, ['volume', 'create', bSpareVol]), 'b makes an unused volume')
  ok(t, await via(A, ['network', 'create', aSpareNet]), 'a makes an unused network')
  ok(t, await via(B, ['network', 'create', bSpareNet]), 'b makes an unused network')

  const narrowed = await via(A, ['container', 'prune', '-f', '--filter', `label=${LABEL}=${B_ID}`])
  ok(t, narrowed, 'docker container prune --filter label=dockmoat.owner=<b> through a')
  t.ok(await inspect(bDead), 'b\'s exited container survives a\'s prune filtered on b\'s label (direct)')
  t.ok(await inspect(aDead), 'a\'s exited container survives too: label=<b> AND label=<a> matches nothing (direct)')
  const cp = await via(A, ['container', 'prune', '-f'])
  ok(t, cp, 'docker container prune through a')
  t.match(cp.stdout, 'Total reclaimed space', 'prune printed its report')
  t.notMatch(cp.stdout, b1Id.slice(0, 12), 'the report names nothing of b\'s')
  t.equal(await inspect(aDead), undefined, 'a\'s exited container is gone (direct)')
  t.ok(await inspect(bDead), 'b\'s exited container survives (direct)')

  const vp = await via(A, ['volume', 'prune', '-f'])
  ok(t, vp, 'docker volume prune through a')
  t.equal(await volumeLabels(aSpareVol), undefined, 'a\'s unused volume is gone (direct)')
  t.ok(await volumeLabels(bSpareVol), 'b\'s unused volume survives (direct)')
  t.ok(await volumeLabels(bVol), 'b\'s other volume survives (direct)')

  const np = await via(A, ['network', 'prune', '-f'])
  ok(t, np, 'docker network prune through a')
  t.equal(await networkInfo(aSpareNet), undefined, 'a\'s unused network is gone (direct)')
  t.ok(await networkInfo(bSpareNet), 'b\'s unused network survives (direct)')
  t.ok(await networkInfo(bNet), 'b\'s other network survives (direct)')
  t.ok(await networkInfo(aNet), 'a\'s network in use by a1 survives')
  t.equal((await mustInspect(b1)).State.Running, true, 'b1 still runs')
})

interface Event { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } }

const parseEvents = (text: string): Event[] => lines(text).map((l) => JSON.parse(l) as Event)

t.test('events: a never receives b\'s objects, and receives its own', async (t) => {
  const since = Math.floor(Date.now() / 1000) - 1
  const until = since + 9
  // Live: the stream is open while both owners work.
  const live = via(A, ['events', '--since', String(since), '--until', String(until), '--format', '{{json .}}'])
  await sleep(500)
  const bEv = name('container', 'b-ev')
  const aEv = name('container', 'a-ev')
  const aEvNet = name('network', 'a-ev')
  const aEvVol = name('volume', 'a-ev')
  const bEvNet = name('network', 'b-ev')
  const bEvVol = name('volume', 'b-ev')
  ok(t, await via(B, ['network', 'create', bEvNet]), 'b creates a network')
  ok(t, await via(B, ['volume', 'create', bEvVol]), 'b creates a volume')
  ok(t, await via(B, ['run', '-d', '--name', bEv, IMAGE, 'sleep', '30']), 'b runs a container')
  ok(t, await via(B, ['stop', '-t', '1', bEv]), 'b stops it')
  ok(t, await via(B, ['exec', b1, 'true']), 'b execs in b1')
  ok(t, await via(A, ['run', '-d', '--name', aEv, IMAGE, 'sleep', '30']), 'a runs a container')
  ok(t, await via(A, ['stop', '-t', '1', aEv]), 'a stops it')
  ok(t, await via(A, ['network', 'create', aEvNet]), 'a creates a network')
  ok(t, await via(A, ['volume', 'create', aEvVol]), 'a creates a volume')
  const bEvId = (await mustInspect(bEv)).Id
  const aEvId = (await mustInspect(aEv)).Id
  await sleep(Math.max(0, until * 1000 - Date.now() + 300))
  const streamed = await live
  ok(t, streamed, 'docker events --since --until through a')
  const replay = await via(A, ['events', '--since', String(since), '--until', String(until), '--format', '{{json .}}'])
  ok(t, replay, 'docker events replay through a')
  const everything = await docker(['events', '--since', String(since), '--until', String(until), '--format', '{{json .}}'], { host: DOCKER_DIRECT_HOST })
  const all = parseEvents(everything.stdout)
  t.ok(all.some((e) => e.Actor.ID === bEvId && e.Action === 'start'), 'dockerd did emit b\'s start (direct)')
  const bIds = new Set([bEvId, b1Id])
  for (const [label, text] of [['live', streamed.stdout], ['replay', replay.stdout]] as const) {
    const evs = parseEvents(text)
    const leaked = evs.filter((e) => bIds.has(e.Actor.ID) || bIds.has(e.Actor.Attributes.container ?? '') || e.Actor.Attributes[LABEL] === B_ID || (e.Actor.Attributes.name ?? '') === bEv)
    t.same(leaked, [], `${label}: no event of b's objects reaches a`)
    t.same(evs.filter((e) => e.Actor.Attributes[LABEL] !== undefined && e.Actor.Attributes[LABEL] !== A_ID), [], `${label}: every labelled event is a's`)
    const mine = evs.filter((e) => e.Actor.ID === aEvId).map((e) => e.Action)
    for (const action of ['create', 'start', 'kill', 'die', 'stop']) t.ok(mine.includes(action), `${label}: a receives its container's ${action}`)
  }
  // Network and volume events carry no labels in dockerd: dockmoat judges each by looking
  // the network or volume (and the container it names) up.
  const aEvNetId = (await docker(['network', 'inspect', aEvNet, '-f', '{{.Id}}'], { host: DOCKER_DIRECT_HOST })).stdout.trim()
  const bEvNetId = (await docker(['network', 'inspect', bEvNet, '-f', '{{.Id}}'], { host: DOCKER_DIRECT_HOST })).stdout.trim()
  t.ok(all.some((e) => e.Type === 'network' && e.Actor.ID === bEvNetId && e.Action === 'create'), 'dockerd did emit b\'s network create (direct)')
  t.ok(all.some((e) => e.Type === 'network' && e.Action === 'connect' && e.Actor.Attributes.container === bEvId), 'and b\'s container joining the default bridge (direct)')
  const aIds = new Set(lines((await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${LABEL}=${A_ID}`], { host: DOCKER_DIRECT_HOST })).stdout))
  t.ok(aIds.has(aEvId), `a's containers, from dockerd (${aIds.size})`)
  for (const [label, text] of [['live', streamed.stdout], ['replay', replay.stdout]] as const) {
    const evs = parseEvents(text)
    t.ok(evs.some((e) => e.Type === 'network' && e.Actor.ID === aEvNetId && e.Action === 'create'), `${label}: a receives its network's create`)
    t.ok(evs.some((e) => e.Type === 'volume' && e.Actor.ID === aEvVol && e.Action === 'create'), `${label}: a receives its volume's create`)
    t.ok(evs.some((e) => e.Type === 'network' && e.Action === 'connect' && e.Actor.Attributes.container === aEvId), `${label}: and its container joining the default bridge`)
    t.same(evs.filter((e) => e.Actor.ID === bEvNetId || e.Actor.ID === bEvVol || (e.Type === 'network' && bIds.has(e.Actor.Attributes.container ?? ''))), [], `${label}: none of b's network, volume or bridge events`)
    t.same(evs.filter((e) => e.Type === 'network' && e.Actor.Attributes.container !== undefined && !aIds.has(e.Actor.Attributes.container)), [], `${label}: every network event naming a container names one of a's`)
  }
})

t.test('docker-compose 1.29 with the same project name through a and b', { timeout: 240_000 }, async (t) => {
  const dir = tempDir()
  const file = join(dir, 'docker-compose.yml')
  writeFileSync(file, [
    'version: "3.8"',
    'services:',
    '  app:',
    `    image: ${IMAGE}`,
    '    command: sh -c "echo hello-from-$$OWNER_SIDE; exec sleep 600"',
    '    environment:',
    '      - OWNER_SIDE',
    '    volumes:',
    '      - data:/data',
    'volumes:',
    '  data: {}',
    '',
  ].join('\n'))
  const project = uniqueName('owner-compose')
  projects.push({ name: project, file })
  const run = (p: RunningProxy, args: string[], side: string): Promise<RunResult> =>
    compose(['-p', project, '-f', file, ...args], { host: p.dockerHost, timeoutMs: 120_000, env: { OWNER_SIDE: side } })
  const state = () => labelled('com.docker.compose.project', project)
  const container = `${project}_app_1`

  const upA = await run(A, ['up', '-d'], 'a')
  t.equal(upA.code, 0, `a: compose up -d\n${upA.stderr}`)
  const aState = await state()
  t.same(aState, { containers: [container], volumes: [`${project}_data`], networks: [`${project}_default`] }, 'dockerd holds a\'s project (direct)')
  t.same(await labelled(LABEL, A_ID).then((s) => ({
    c: s.containers.includes(container), v: s.volumes.includes(`${project}_data`), n: s.networks.includes(`${project}_default`),
  })), { c: true, v: true, n: true }, 'the container, volume and network are labelled a\'s')
  const aContainer = await mustInspect(container)

  // b, same project name, while a's runs.
  const psB = await run(B, ['ps', '-q'], 'b')
  t.equal(psB.code, 0, `b: compose ps\n${psB.stderr}`)
  t.same(lines(psB.stdout), [], 'b\'s compose ps lists none of a\'s containers')
  // Names are shared in dockerd: while a's project network exists, b cannot create one of
  // that name (a documented limit of OWNER, SECURITY.md). What matters: a's is untouched.
  const upB = await run(B, ['up', '-d'], 'b')
  t.not(upB.code, 0, 'b: compose up -d of the same project name is refused while a\'s runs (names are shared)')
  t.match(upB.stderr, /already exists/, `because the network name is taken: ${upB.stderr.trim()}`)
  const logsB = await run(B, ['logs', '--no-color'], 'b')
  t.notMatch(logsB.stdout, 'hello-from-a', 'b\'s compose logs show nothing of a\'s')
  const downB = await run(B, ['down', '-v', '--timeout', '1'], 'b')
  t.equal(downB.code, 0, `b: compose down -v\n${downB.stderr}`)
  const afterB = await mustInspect(container)
  t.equal(afterB.Id, aContainer.Id, 'a\'s container is still there (direct)')
  t.equal(afterB.State.Running, true, 'a\'s container still runs')
  t.equal(afterB.State.StartedAt, aContainer.State.StartedAt, 'a\'s container was not restarted or recreated')
  t.ok(await volumeLabels(`${project}_data`), 'a\'s volume survives b\'s down -v')
  t.equal((await networkInfo(`${project}_default`))?.Labels?.[LABEL], A_ID, 'a\'s network survives b\'s down, still a\'s')

  const psA = await run(A, ['ps', '-q'], 'a')
  t.same(lines(psA.stdout), [aContainer.Id], 'a\'s compose ps lists its container')
  const logsA = await run(A, ['logs', '--no-color'], 'a')
  t.match(logsA.stdout, 'hello-from-a', 'a\'s compose logs show its service')
  const downA = await run(A, ['down', '-v', '--timeout', '1'], 'a')
  t.equal(downA.code, 0, `a: compose down -v\n${downA.stderr}`)
  t.same(await labelled(LABEL, A_ID).then((s) => [...s.containers, ...s.volumes, ...s.networks].filter((n) => n.startsWith(project))), [], 'a\'s project is gone (direct)')

  // Now b's project runs and a's client works on the same project name.
  const upB2 = await run(B, ['up', '-d'], 'b')
  t.equal(upB2.code, 0, `b: compose up -d\n${upB2.stderr}`)
  const bContainer = await mustInspect(container)
  t.equal(bContainer.Config.Labels?.[LABEL], B_ID, 'the project\'s container is now b\'s (direct)')
  const psA2 = await run(A, ['ps', '-q'], 'a')
  t.same(lines(psA2.stdout), [], 'a\'s compose ps lists none of b\'s')
  const logsA2 = await run(A, ['logs', '--no-color'], 'a')
  t.notMatch(logsA2.stdout, 'hello-from-b', 'a\'s compose logs show nothing of b\'s')
  const downA2 = await run(A, ['down', '-v', '--timeout', '1'], 'a')
  t.equal(downA2.code, 0, `a: compose down -v\n${downA2.stderr}`)
  const survived = await inspect(container)
  t.equal(survived?.Id, bContainer.Id, 'b\'s container survives a\'s down (direct)')
  t.equal(survived?.State.Running, true, 'and still runs')
  t.equal((await volumeLabels(`${project}_data`))?.[LABEL], B_ID, 'b\'s volume survives a\'s down -v')
  t.equal((await networkInfo(`${project}_default`))?.Labels?.[LABEL], B_ID, 'b\'s network survives a\'s down')
  const downB2 = await run(B, ['down', '-v', '--timeout', '1'], 'b')
  t.equal(downB2.code, 0, `b: compose down -v\n${downB2.stderr}`)
  t.same(await state(), { containers: [], volumes: [], networks: [] }, 'b\'s down removes its project (direct)')
})

t.test('a container and a network a knew by full ID, once gone, answer like missing ones', async (t) => {
  // After the first lookup dockmoat forwards a's calls on these IDs without asking dockerd
  // first (own.ts): when the object is gone, dockerd's own answer must be the missing one.
  const c = name('container', 'a-gone')
  const n = name('network', 'a-gone')
  const id = await runLong(t, A, c)
  ok(t, await via(A, ['network', 'create', n]), 'a makes a network')
  const netId = (await via(A, ['network', 'inspect', '-f', '{{.Id}}', n])).stdout.trim()
  for (let i = 0; i < 2; i++) {
    ok(t, await via(A, ['container', 'inspect', id]), `a inspects its container by full ID (${i + 1})`)
    ok(t, await via(A, ['network', 'inspect', netId]), `a inspects its network by full ID (${i + 1})`)
  }
  ok(t, await direct(['rm', '-f', c]), 'the container is removed (direct)')
  ok(t, await direct(['network', 'rm', n]), 'the network is removed (direct)')
  await answersLikeMissing(t, A, (r) => ['container', 'inspect', r], id, 'docker inspect of the gone container by full ID')
  await answersLikeMissing(t, A, (r) => ['stop', '-t', '1', r], id, 'docker stop of it')
  await answersLikeMissing(t, A, (r) => ['network', 'inspect', r], netId, 'docker network inspect of the gone network by full ID')
  await apiLikeMissing(t, 'GET', (r) => `/containers/${r}/json?size=false`, id, 'a per-object API call on the gone container')
})

t.test('b\'s containers were never touched by anything a did', async (t) => {
  const c = await mustInspect(b1)
  t.equal(c.Id, b1Id, 'b1 is the same container')
  t.equal(c.State.Running, true, 'b1 still runs')
  t.ok(await inspect(b2), 'b2 still exists')
  t.equal((await direct(['logs', b1])).stdout, `log-of-${b1}\n`, 'b1\'s log is its own')
})


t.test("a default network's inspect shows only the owner's containers on it", async (t) => {
  const [aId, directly] = [(await mustInspect(a1)).Id, (await api('GET', '/networks/bridge')).json as { Containers: Record<string, unknown> }]
  t.ok(b1Id in directly.Containers && aId in directly.Containers, 'dockerd lists both owners\' containers on bridge')
  for (const path of ['/networks/bridge', '/networks/bridge?verbose=true']) {
    const r = await api('GET', path, undefined, A)
    t.equal(r.status, 200, `${path} through a: answered`)
    const listed = Object.keys((r.json as { Containers: Record<string, unknown> }).Containers)
    t.ok(listed.includes(aId), `${path}: a's own container is there`)
    t.notOk(listed.includes(b1Id), `${path}: b's is not`)
    t.notMatch(r.text, b1Id.slice(0, 12), `${path}: nor anything of it`)
  }
})

t.test("an ID prefix foreign containers share answers as for a missing container, not dockerd's ambiguity error", async (t) => {
  const own = (await api('GET', `/containers/json?all=1&filters=${filters({ label: [`${LABEL}=${A_ID}`] })}`)).json as { Id: string }[]
  const ambiguous = async (): Promise<string | undefined> => {
    for (const prefix of '0123456789abcdef') {
      if (own.some((c) => c.Id.startsWith(prefix))) continue
      const r = await api('GET', `/containers/${prefix}/json`)
      if (r.status !== 404 && /Multiple IDs found/.test(r.text)) return prefix
    }
    return undefined
  }
  // Unlabelled containers made directly until two share a first character no container of a's has.
  let prefix = await ambiguous()
  for (let made = 0; prefix === undefined && made < 32; made++) {
    const r = await direct(['create', '--name', name('container', 'prefix'), IMAGE, 'true'])
    if (r.code !== 0) throw new Error(`docker create failed: ${r.stderr}`)
    prefix = await ambiguous()
  }
  if (prefix === undefined) throw new Error('no ambiguous one-character ID prefix after 32 containers')
  const inspected = await api('GET', `/containers/${prefix}/json`, undefined, A)
  t.equal(inspected.status, 404, `GET /containers/${prefix}/json through a: 404 (dockerd answers it ${(await api('GET', `/containers/${prefix}/json`)).status})`)
  t.match(inspected.text, `No such container: ${prefix}`)
  const created = await via(A, ['create', '--volumes-from', prefix, IMAGE, 'true'])
  t.not(created.code, 0, 'a create with --volumes-from it fails')
  t.match(created.stderr, `No such container: ${prefix}`, 'as for a missing container')
  t.notMatch(created.stderr, /Multiple IDs/, 'never saying that others share it')
})
