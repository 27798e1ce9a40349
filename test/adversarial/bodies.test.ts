// Request-body attacks on a raw socket, through the built proxy, against the REAL dockerd.
// With CONTAINERS=1 POST=1 EXEC=1 VOLUMES=1 and no ALLOW_*, every known bypass of a peer's
// body check (body-facts §1, §4, §9) is sent in many framings. The evidence is dockerd's
// own state, read straight on its socket: no container, volume or exec the refused request
// named exists, and nothing this run made is privileged or bound to the host. A control
// sends each attack body straight to dockerd and checks that dockerd does apply the
// escalation (so the attack is live on this engine), then removes what it made. Benign
// bodies in the same framings must reach dockerd and create exactly what was sent.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { setTimeout as sleep } from 'node:timers/promises'
import { DOCKER_SOCKET, cleanup, docker, requireDocker, testImage } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { dockerd, exchange, ping, shown, type Exchange, type Step } from './raw.ts'

await requireDocker()
const IMAGE = await testImage()

const PREFIX = `dm-adv-${process.pid}-`
const RUN = `${process.pid}-${randomBytes(3).toString('hex')}`
const LABEL = 'org.dockmoat.adv'
const LIMIT = 2048
const ROOT = `/tmp/${PREFIX}root`
let counter = 0
const made = { container: new Set<string>(), volume: new Set<string>() }
/** A unique name (no name is a substring of another: the counter comes first). */
function nameFor(kind: keyof typeof made, what: string): string {
  const name = `${PREFIX}${counter++}-${what.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 30)}`
  made[kind].add(name)
  return name
}

const proxies: RunningProxy[] = []
async function proxyWith(env: Record<string, string>): Promise<RunningProxy> {
  const proxy = await startProxy(env)
  proxies.push(proxy)
  return proxy
}

t.teardown(async () => {
  for (const proxy of proxies) await proxy.stop().catch(() => undefined)
  // Everything this file made, by name prefix and by label, even after a failure.
  const byName = await dockerd('GET', `/containers/json?all=1&filters=${q({ name: [PREFIX] })}`).catch(() => undefined)
  const byLabel = await dockerd('GET', `/containers/json?all=1&filters=${q({ label: [LABEL] })}`).catch(() => undefined)
  const ids = [...list(byName?.json), ...list(byLabel?.json).filter((c) => (c.Labels?.[LABEL] ?? '').startsWith(RUN))].map((c) => c.Id)
  await cleanup('container', [...made.container, ...ids])
  const volumes = await dockerd('GET', `/volumes?filters=${q({ name: [PREFIX] })}`).catch(() => undefined)
  const volumeNames = ((volumes?.json as { Volumes?: { Name: string }[] } | undefined)?.Volumes ?? []).map((v) => v.Name)
  await cleanup('volume', [...made.volume, ...volumeNames])
  rmSync(ROOT, { recursive: true, force: true })
  rmSync(`${ROOT}-other`, { recursive: true, force: true })
})

const q = (filters: unknown): string => encodeURIComponent(JSON.stringify(filters))
const list = (json: unknown): { Id: string; Names: string[]; Labels?: Record<string, string> }[] => (Array.isArray(json) ? json : [])

const proxy = await proxyWith({ CONTAINERS: '1', POST: '1', EXEC: '1', VOLUMES: '1', MAX_BODY_BYTES: String(LIMIT) })

// ---------------------------------------------------------------------------------------
// Raw requests

const H = 'Host: docker\r\n'
const JSON_CT = 'Content-Type: application/json'
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8')

function withLength(path: string, body: Buffer, headers: string[] = [JSON_CT], close = true): Buffer {
  const head = `POST ${path} HTTP/1.1\r\n${H}${headers.map((h) => `${h}\r\n`).join('')}Content-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), body])
}

function chunkedSteps(path: string, body: Buffer, sizes: number[], headers: string[] = [JSON_CT], close = true): Buffer {
  const parts: Buffer[] = [Buffer.from(`POST ${path} HTTP/1.1\r\n${H}${headers.map((h) => `${h}\r\n`).join('')}Transfer-Encoding: chunked\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1')]
  let offset = 0
  for (let i = 0; offset < body.length; i++) {
    const size = Math.min(sizes[i % sizes.length]!, body.length - offset)
    parts.push(Buffer.from(`${size.toString(16)}\r\n`, 'latin1'), body.subarray(offset, offset + size), Buffer.from('\r\n', 'latin1'))
    offset += size
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'))
  return Buffer.concat(parts)
}

interface Framing {
  name: string
  steps: (path: string, body: Buffer) => Step[]
  /** dockerd itself refuses a benign body in this framing (its Content-Type check). */
  dockerdRefuses?: boolean
  expectContinue?: boolean
}

const FRAMINGS: Framing[] = [
  { name: 'Content-Length, application/json', steps: (p, b) => [withLength(p, b)] },
  { name: 'no Content-Type', steps: (p, b) => [withLength(p, b, [])], dockerdRefuses: true },
  { name: 'Content-Type text/plain', steps: (p, b) => [withLength(p, b, ['Content-Type: text/plain'])], dockerdRefuses: true },
  { name: 'Content-Type APPLICATION/JSON; charset=latin1', steps: (p, b) => [withLength(p, b, ['Content-Type: APPLICATION/JSON; charset=latin1'])] },
  { name: 'two Content-Types, application/json first', steps: (p, b) => [withLength(p, b, [JSON_CT, 'Content-Type: text/plain'])] },
  { name: 'two Content-Types, text/plain first', steps: (p, b) => [withLength(p, b, ['Content-Type: text/plain', JSON_CT])], dockerdRefuses: true },
  { name: 'chunked, chunks of 1 to 3 bytes', steps: (p, b) => [chunkedSteps(p, b, [1, 2, 3])] },
  {
    name: 'split across writes with delays (inside a UTF-8 sequence)',
    steps: (p, b) => {
      const all = withLength(p, b)
      const start = all.length - b.length
      // cut inside the first multi-byte character of the body, and around it
      const multibyte = b.findIndex((byte) => byte >= 0x80)
      const cuts = [start - 3, start + (multibyte > 0 ? multibyte + 1 : 5), start + Math.floor(b.length * 0.4)].sort((x, y) => x - y)
      return [all.subarray(0, cuts[0]), { waitMs: 120 }, all.subarray(cuts[0], cuts[1]), { waitMs: 120 }, all.subarray(cuts[1], cuts[2]), { waitMs: 120 }, all.subarray(cuts[2])]
    },
  },
  {
    name: 'Expect: 100-continue, body after the 100',
    expectContinue: true,
    steps: (p, b) => {
      const all = withLength(p, b, [JSON_CT, 'Expect: 100-continue'])
      return [all.subarray(0, all.length - b.length), { waitForBytes: 20, timeoutMs: 3000 }, all.subarray(all.length - b.length)]
    },
  },
]

// ---------------------------------------------------------------------------------------
// What dockerd holds (straight on its socket)

interface Inspect {
  Name: string
  Config: { Image: string; Cmd: string[] | null; Labels: Record<string, string> | null }
  HostConfig: {
    Privileged: boolean; Binds: string[] | null; NetworkMode: string; CapAdd: string[] | null; SecurityOpt: string[] | null
    Mounts?: { Type: string; Source?: string; Target: string }[] | null; Dns: string[] | null; PidMode: string
  }
  State: { Status: string; ExitCode: number }
  ExecIDs: string[] | null
}

async function inspectContainer(name: string): Promise<Inspect | undefined> {
  const r = await dockerd('GET', `/containers/${encodeURIComponent(name)}/json`)
  return r.status === 200 ? (r.json as Inspect) : undefined
}

/** The containers dockerd lists under exactly this name. */
async function listedNamed(name: string): Promise<string[]> {
  const r = await dockerd('GET', `/containers/json?all=1&filters=${q({ name: [name] })}`)
  return list(r.json).flatMap((c) => c.Names).filter((n) => n === `/${name}`)
}

async function volumeOptions(name: string): Promise<Record<string, string> | null | undefined> {
  const r = await dockerd('GET', `/volumes/${encodeURIComponent(name)}`)
  return r.status === 200 ? ((r.json as { Options: Record<string, string> | null }).Options) : undefined
}

/** dockmoat's own answer (dockerd's carry Api-Version). */
const fromProxy = (x: Exchange, i = 0): boolean => x.responses[i] !== undefined && x.responses[i]!.headers['api-version'] === undefined
const statusOf = (x: Exchange, i = 0): number | undefined => x.responses[i]?.status
/** The first response that is not a 100 Continue. */
const finalIndex = (x: Exchange): number => Math.max(0, x.responses.findIndex((r) => r.status !== 100))

async function assertNoContainer(t: Test, name: string, x: Exchange): Promise<void> {
  t.same(await listedNamed(name), [], `dockerd lists no container ${name} (${shown(x)})`)
  t.equal(await inspectContainer(name), undefined, `dockerd has no container ${name}`)
}

function direct(bytes: Buffer): Promise<Exchange> {
  return exchange({ socketPath: DOCKER_SOCKET }, bytes, { idleMs: 2000, timeoutMs: 20_000 })
}

// ---------------------------------------------------------------------------------------
// Container create attacks (body-facts §1, §3, §4; peers' bypasses §9)

const labels = (value: string): string => `"Labels":{"${LABEL}":"${value}"}`
const base = (value: string): string => `"Image":"${IMAGE}","Cmd":["true"],${labels(value)}`

interface CreateAttack {
  name: string
  /** The JSON after the Image/Cmd/Labels members. */
  rest: string
  /** What the attack gives when dockerd applies it (checked on the control). */
  applied: (c: Inspect) => boolean
  effect: string
}

const privileged = (c: Inspect): boolean => c.HostConfig.Privileged === true
const bound = (source: string) => (c: Inspect): boolean => (c.HostConfig.Binds ?? []).some((b) => b.split(':')[0] === source)

const CREATE_ATTACKS: CreateAttack[] = [
  { name: 'hostconfig / privileged in lower case', rest: '"hostconfig":{"privileged":true}', applied: privileged, effect: 'privileged' },
  { name: 'Privileged false then privileged true', rest: '"HostConfig":{"Privileged":false,"privileged":true}', applied: privileged, effect: 'privileged' },
  { name: '\\u0050rivileged', rest: '"HostConfig":{"\\u0050rivileged":true}', applied: privileged, effect: 'privileged' },
  { name: 'Privileged true then privileged null', rest: '"HostConfig":{"Privileged":true,"privileged":null}', applied: privileged, effect: 'privileged' },
  { name: 'Bind\u017f (long s)', rest: '"HostConfig":{"Bind\u017f":["/etc:/host-etc:ro"]}', applied: bound('/etc'), effect: '/etc bound' },
  { name: 'Networ\u212aMode (Kelvin sign)', rest: '"HostConfig":{"Networ\u212aMode":"host"}', applied: (c) => c.HostConfig.NetworkMode === 'host', effect: 'host network' },
  { name: 'Ho\u017ftConfig key', rest: '"Ho\u017ftConfig":{"Privileged":true}', applied: privileged, effect: 'privileged' },
  { name: 'top-level Privileged, no HostConfig', rest: '"Privileged":true', applied: privileged, effect: 'privileged' },
  { name: 'top-level Privileged, "HostConfig":null', rest: '"Privileged":true,"HostConfig":null', applied: privileged, effect: 'privileged' },
  { name: 'top-level privileged, "hostconfig":null first', rest: '"hostconfig":null,"privileged":true', applied: privileged, effect: 'privileged' },
  { name: 'top-level Binds, no HostConfig', rest: '"Binds":["/:/host:ro"]', applied: bound('/'), effect: '/ bound' },
  { name: 'a nulled HostConfig, then top-level Privileged', rest: '"HostConfig":{"NetworkMode":"none"},"HostConfig":null,"Privileged":true', applied: privileged, effect: 'privileged' },
  { name: 'two HostConfig objects merge', rest: '"HostConfig":{"Binds":["/etc:/host-etc:ro"]},"hostconfig":{"Privileged":true}', applied: (c) => privileged(c) && bound('/etc')(c), effect: 'privileged with /etc bound' },
  { name: 'a volume Mount turned into a bind by a second mounts', rest: '"HostConfig":{"Mounts":[{"Type":"volume","Source":"/etc","Target":"/a"}],"mounts":[{"Type":"bind"}]}', applied: (c) => (c.HostConfig.Mounts ?? []).some((m) => m.Type === 'bind' && m.Source === '/etc'), effect: 'a bind Mount of /etc' },
  { name: 'a stale bind re-exposed by a null element', rest: '"HostConfig":{"Binds":["/a","/etc:/e:ro"],"binds":["/a"],"BINDS":["/a",null]}', applied: bound('/etc'), effect: '/etc bound' },
  { name: 'CapAdd \u017fys_admin', rest: '"HostConfig":{"CapAdd":["\u017fys_admin"]}', applied: (c) => (c.HostConfig.CapAdd ?? []).length > 0, effect: 'CAP_SYS_ADMIN added' },
  { name: 'securityopt seccomp=unconfined', rest: '"HostConfig":{"securityopt":["seccomp=unconfined"]}', applied: (c) => (c.HostConfig.SecurityOpt ?? []).includes('seccomp=unconfined'), effect: 'seccomp unconfined' },
  { name: 'PidMode host, folded key', rest: '"HOSTCONFIG":{"PIDMODE":"host"}', applied: (c) => c.HostConfig.PidMode === 'host', effect: 'host pid namespace' },
]

interface Outcome { x: Exchange; name: string }
type Job = () => Promise<void>

async function runAll(jobs: Job[], width = 6): Promise<void> {
  const queue = [...jobs]
  await Promise.all(Array.from({ length: width }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job()
  }))
}

t.test('create: every bypass is refused, and dockerd holds nothing it named', async (t) => {
  const results = new Map<CreateAttack, { proxied: Outcome; control: { status?: number; applied: boolean; shown: string } }>()
  await runAll(CREATE_ATTACKS.map((attack) => async () => {
    const name = nameFor('container', `atk-${attack.name}`)
    const x = await exchange({ port: proxy.port }, withLength(`/containers/create?name=${name}`, utf8(`{${base(RUN)},${attack.rest}}`)), { idleMs: 2000 })
    const controlName = nameFor('container', `ctl-${attack.name}`)
    const cx = await direct(withLength(`/containers/create?name=${controlName}`, utf8(`{${base(`${RUN}-ctl`)},${attack.rest}}`)))
    const inspected = await inspectContainer(controlName)
    await cleanup('container', [controlName])
    results.set(attack, { proxied: { x, name }, control: { status: statusOf(cx), applied: inspected !== undefined && attack.applied(inspected), shown: shown(cx) } })
  }))
  for (const attack of CREATE_ATTACKS) {
    t.test(attack.name, async (t) => {
      const { proxied: { x, name }, control } = results.get(attack)!
      t.equal(statusOf(x), 403, `refused with 403 (${shown(x)})`)
      t.ok(fromProxy(x), 'answered by dockmoat, not dockerd')
      await assertNoContainer(t, name, x)
      t.equal(control.status, 201, `control: dockerd itself accepts this body (${control.shown})`)
      t.ok(control.applied, `control: dockerd applies it: ${attack.effect}`)
    })
  }
})

// ---------------------------------------------------------------------------------------
// Framings: one attack body and one benign body in each

const ATTACK_REST = '"hostconfig":{"privileged":true,"Bind\u017f":["/:/host:ro"]}'
const benignBody = (value: string): string => `{${base(value)},"HostConfig":{"NetworkMode":"none","Dns":["192.0.2.53"]}}`

async function assertBenign(t: Test, name: string, value: string, x: Exchange, i: number): Promise<void> {
  t.equal(statusOf(x, i), 201, `dockerd created it (${shown(x)})`)
  t.notOk(fromProxy(x, i), 'the answer is dockerd\'s')
  const c = await inspectContainer(name)
  t.ok(c !== undefined, `dockerd has ${name}`)
  if (c === undefined) return
  t.equal(c.Config.Image, IMAGE, 'Image as sent')
  t.same(c.Config.Cmd, ['true'], 'Cmd as sent')
  t.equal(c.Config.Labels?.[LABEL], value, 'Labels as sent (beside the image\'s own)')
  t.equal(c.HostConfig.NetworkMode, 'none', 'NetworkMode as sent')
  t.same(c.HostConfig.Dns, ['192.0.2.53'], 'Dns as sent')
  t.equal(c.HostConfig.Privileged, false, 'not privileged')
  t.same(c.HostConfig.Binds ?? [], [], 'no binds')
}

t.test('framings: an attack refused and a benign body forwarded in each', async (t) => {
  const results = new Map<Framing, { attack: Outcome; benign: Outcome & { value: string } }>()
  await runAll(FRAMINGS.map((framing) => async () => {
    const attackName = nameFor('container', `frm-atk-${framing.name}`)
    const attack = await exchange({ port: proxy.port }, framing.steps(`/containers/create?name=${attackName}`, utf8(`{${base(RUN)},${ATTACK_REST}}`)), { idleMs: 2000 })
    const benignName = nameFor('container', `frm-ok-${framing.name}`)
    const value = `${RUN}-${counter}`
    const benign = await exchange({ port: proxy.port }, framing.steps(`/containers/create?name=${benignName}`, utf8(benignBody(value))), { idleMs: 2000 })
    results.set(framing, { attack: { x: attack, name: attackName }, benign: { x: benign, name: benignName, value } })
  }))
  for (const framing of FRAMINGS) {
    t.test(framing.name, async (t) => {
      const { attack, benign } = results.get(framing)!
      if (framing.expectContinue) {
        t.equal(statusOf(attack.x), 100, `the attack got 100 Continue first (${shown(attack.x)})`)
        t.equal(statusOf(benign.x), 100, 'the benign body got 100 Continue first')
      }
      const ai = finalIndex(attack.x)
      t.equal(statusOf(attack.x, ai), 403, `attack refused with 403 (${shown(attack.x)})`)
      t.ok(fromProxy(attack.x, ai), 'attack answered by dockmoat')
      await assertNoContainer(t, attack.name, attack.x)
      const bi = finalIndex(benign.x)
      if (framing.dockerdRefuses) {
        t.equal(statusOf(benign.x, bi), 400, `benign body forwarded, and dockerd refuses its Content-Type itself (${shown(benign.x)})`)
        t.notOk(fromProxy(benign.x, bi), 'that 400 is dockerd\'s')
        await assertNoContainer(t, benign.name, benign.x)
      } else {
        await assertBenign(t, benign.name, benign.value, benign.x, bi)
      }
    })
  }
})

// ---------------------------------------------------------------------------------------
// Pipelining, the size limit, bodies dockerd would read differently

t.test('pipelined: a refused create, then a benign one on the same connection', async (t) => {
  const attackName = nameFor('container', 'pipe-atk')
  const benignName = nameFor('container', 'pipe-ok')
  const value = `${RUN}-pipe1`
  const x = await exchange({ port: proxy.port }, Buffer.concat([
    withLength(`/containers/create?name=${attackName}`, utf8(`{${base(RUN)},${ATTACK_REST}}`), [JSON_CT], false),
    withLength(`/containers/create?name=${benignName}`, utf8(benignBody(value))),
  ]), { idleMs: 2500 })
  t.equal(x.responses.length, 2, `two answers (${shown(x)})`)
  t.equal(statusOf(x, 0), 403, 'the first is refused')
  t.ok(fromProxy(x, 0), 'by dockmoat')
  await assertNoContainer(t, attackName, x)
  await assertBenign(t, benignName, value, x, 1)
})

t.test('pipelined: a benign create, then a chunked refused one', async (t) => {
  const benignName = nameFor('container', 'pipe2-ok')
  const attackName = nameFor('container', 'pipe2-atk')
  const value = `${RUN}-pipe2`
  const x = await exchange({ port: proxy.port }, Buffer.concat([
    withLength(`/containers/create?name=${benignName}`, utf8(benignBody(value)), [JSON_CT], false),
    chunkedSteps(`/containers/create?name=${attackName}`, utf8(`{${base(RUN)},${ATTACK_REST}}`), [7, 1]),
  ]), { idleMs: 2500 })
  t.equal(x.responses.length, 2, `two answers (${shown(x)})`)
  await assertBenign(t, benignName, value, x, 0)
  t.equal(statusOf(x, 1), 403, 'the second is refused')
  t.ok(fromProxy(x, 1), 'by dockmoat')
  await assertNoContainer(t, attackName, x)
})

/** A forbidden-if-smuggled marker: a volume create pipelined behind an oversized body. */
function marker(): { name: string; bytes: Buffer } {
  const name = nameFor('volume', 'marker')
  return { name, bytes: withLength('/volumes/create', utf8(`{"Name":"${name}",${labels(RUN)}}`)) }
}

for (const over of [
  { what: 'Content-Length over MAX_BODY_BYTES', build: (path: string, body: Buffer) => withLength(path, body, [JSON_CT], false) },
  { what: 'chunked over MAX_BODY_BYTES', build: (path: string, body: Buffer) => chunkedSteps(path, body, [500], [JSON_CT], false) },
  { what: 'whitespace padding past MAX_BODY_BYTES', build: (path: string, body: Buffer) => withLength(path, body, [JSON_CT], false), pad: true },
]) {
  t.test(`${over.what}: 413, the connection closes, nothing behind it runs`, async (t) => {
    const name = nameFor('container', `big-${over.what}`)
    const m = marker()
    const json = over.pad
      ? `{${base(RUN)},${ATTACK_REST}${' '.repeat(LIMIT + 500)}}`
      : `{${base(RUN)},"X":"${'x'.repeat(LIMIT + 500)}",${ATTACK_REST}}`
    const x = await exchange({ port: proxy.port }, Buffer.concat([over.build(`/containers/create?name=${name}`, utf8(json)), m.bytes]), { idleMs: 2500 })
    t.equal(statusOf(x), 413, `413 (${shown(x)})`)
    t.ok(fromProxy(x), 'from dockmoat')
    t.equal(x.responses.length, 1, 'only one answer: the pipelined request was never read')
    t.ok(x.closedByServer, 'the proxy closed the connection')
    await assertNoContainer(t, name, x)
    await sleep(300)
    t.equal(await volumeOptions(m.name), undefined, `the pipelined marker volume ${m.name} does not exist`)
  })
}

t.test('a body at the limit is still judged and forwarded', async (t) => {
  const name = nameFor('container', 'at-limit')
  const value = `${RUN}-limit`
  const json = benignBody(value)
  const padded = json.slice(0, -1) + ' '.repeat(LIMIT - utf8(json).length) + '}'
  t.equal(utf8(padded).length, LIMIT, `the body is exactly ${LIMIT} bytes`)
  const x = await exchange({ port: proxy.port }, withLength(`/containers/create?name=${name}`, utf8(padded)), { idleMs: 2000 })
  await assertBenign(t, name, value, x, 0)
})

interface Unreadable { what: string; body: Buffer; headers?: string[] }
const attackJson = (): string => `{${base(RUN)},${ATTACK_REST}}`
const UNREADABLE: Unreadable[] = [
  { what: 'a trailing comma', body: utf8(`{${base(RUN)},"HostConfig":{"Privileged":true},}`) },
  { what: 'a byte-order mark', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(attackJson())]) },
  { what: 'invalid UTF-8 in a key', body: Buffer.concat([utf8(`{${base(RUN)},"HostConfig":{"Privileged`), Buffer.from([0xff]), utf8('":true,"Privileged":true}}')]) },
  { what: 'a lone surrogate escape', body: utf8(`{${base(RUN)},"HostConfig":{"Privileged":true,"x":"\\ud800"}}`) },
  { what: 'a raw control character in a string', body: utf8(`{${base(RUN)},"HostConfig":{"Privileged":true,"x":"a\u0001b"}}`) },
  { what: 'trailing data: a second object', body: utf8(`{${base(RUN)}} {"HostConfig":{"Privileged":true}}`) },
  { what: 'trailing data: }}]', body: utf8(`${attackJson()}}}]`) },
  { what: 'a type mismatch ("true")', body: utf8(`{${base(RUN)},"HostConfig":{"Privileged":"true"}}`) },
  { what: 'gzip Content-Encoding', body: gzipSync(utf8(attackJson())), headers: [JSON_CT, 'Content-Encoding: gzip'] },
  { what: 'a top-level array', body: utf8(`[${attackJson()}]`) },
]

for (const u of UNREADABLE) {
  t.test(`unreadable body refused with 400: ${u.what}`, async (t) => {
    const name = nameFor('container', `bad-${u.what}`)
    const x = await exchange({ port: proxy.port }, withLength(`/containers/create?name=${name}`, u.body, u.headers), { idleMs: 2000 })
    t.equal(statusOf(x), 400, `400 (${shown(x)})`)
    t.ok(fromProxy(x), 'from dockmoat: dockerd never saw it')
    await assertNoContainer(t, name, x)
  })
}

t.test('control: 20.10 reads only the first JSON value (trailing data is ignored, not applied)', async (t) => {
  const name = nameFor('container', 'ctl-trailing')
  const x = await direct(withLength(`/containers/create?name=${name}`, utf8(`{${base(`${RUN}-ctl`)}} {"HostConfig":{"Privileged":true}}`)))
  const c = await inspectContainer(name)
  await cleanup('container', [name])
  t.equal(statusOf(x), 201, `dockerd creates it (${shown(x)})`)
  t.equal(c?.HostConfig.Privileged, false, 'from the first value only')
})

// ---------------------------------------------------------------------------------------
// What the guard allows because dockerd ignores it (20.10 getHostConfig: the inner wins)

for (const c of [
  { what: 'top-level Privileged and Binds beside an inner HostConfig', rest: '"Privileged":true,"Binds":["/:/host:ro"],"HostConfig":{"NetworkMode":"none","Dns":["192.0.2.53"]}' },
  { what: 'an inner privileged HostConfig replaced by a second one after null', rest: '"HostConfig":{"Privileged":true},"HostConfig":null,"HostConfig":{"NetworkMode":"none","Dns":["192.0.2.53"]}' },
]) {
  t.test(`allowed, and dockerd applies none of it: ${c.what}`, async (t) => {
    const name = nameFor('container', `ign-${c.what}`)
    const value = `${RUN}-ign-${counter}`
    const x = await exchange({ port: proxy.port }, withLength(`/containers/create?name=${name}`, utf8(`{${base(value)},${c.rest}}`)), { idleMs: 2000 })
    await assertBenign(t, name, value, x, 0)
  })
}

t.test('allowed: the inner HostConfig nulled with nothing at the top creates an ordinary container', async (t) => {
  const name = nameFor('container', 'ign-null-only')
  const value = `${RUN}-ign-null`
  const x = await exchange({ port: proxy.port }, withLength(`/containers/create?name=${name}`, utf8(`{${base(value)},"HostConfig":{"Privileged":true,"Binds":["/:/h"]},"HostConfig":null}`)), { idleMs: 2000 })
  t.equal(statusOf(x), 201, `dockerd created it (${shown(x)})`)
  const c = await inspectContainer(name)
  t.equal(c?.HostConfig.Privileged, false, 'not privileged')
  t.same(c?.HostConfig.Binds ?? [], [], 'no binds')
})

// ---------------------------------------------------------------------------------------
// The old-API start body (API < 1.24, applied by 20.10's daemon/start.go)

t.test('start: /v1.23 start bodies with HostConfig fields', async (t) => {
  const target = nameFor('container', 'start-target')
  const control = nameFor('container', 'start-ctl')
  for (const [name, value] of [[target, RUN], [control, `${RUN}-ctl`]] as const) {
    const r = await dockerd('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['true'], Labels: { [LABEL]: value } })
    t.equal(r.status, 201, `set-up: ${name} created at dockerd (${r.body.trim()})`)
  }
  for (const body of ['{"Privileged":true}', '{"hostconfig":{"privileged":true}}', '{"Binds":["/:/host:ro"]}', '{"Privileged":true,"HostConfig":null}', '{"Networ\u212aMode":"host"}']) {
    const x = await exchange({ port: proxy.port }, withLength(`/v1.23/containers/${target}/start`, utf8(body)), { idleMs: 2000 })
    t.equal(statusOf(x), 403, `${body}: refused (${shown(x)})`)
    t.ok(fromProxy(x), `${body}: by dockmoat`)
  }
  const after = await inspectContainer(target)
  t.equal(after?.State.Status, 'created', 'the target was never started')
  t.equal(after?.HostConfig.Privileged, false, 'and is not privileged')
  t.same(after?.HostConfig.Binds ?? [], [], 'and has no binds')
  const cx = await direct(withLength(`/v1.23/containers/${control}/start`, utf8('{"Privileged":true}')))
  const controlled = await inspectContainer(control)
  await cleanup('container', [control])
  // This sandbox's dockerd cannot start a privileged container (runc: "unable to apply
  // caps"); daemon/start.go applies the body's HostConfig before it tries.
  t.ok(fromProxy(cx) === false && [204, 500].includes(statusOf(cx) ?? 0), `control: dockerd takes the old-API start body (${shown(cx)})`)
  t.equal(controlled?.HostConfig.Privileged, true, 'control: and the container became privileged')
  const ok = await exchange({ port: proxy.port }, withLength(`/v1.23/containers/${target}/start`, utf8('{"Dns":["192.0.2.53"]}')), { idleMs: 2000 })
  t.equal(statusOf(ok), 204, `a benign old-API start body is forwarded (${shown(ok)})`)
  t.notOk(fromProxy(ok), 'answered by dockerd')
  const started = await inspectContainer(target)
  t.same(started?.HostConfig.Dns, ['192.0.2.53'], 'and applied as sent')
  t.equal(started?.HostConfig.Privileged, false, 'still not privileged')
})

// ---------------------------------------------------------------------------------------
// Exec create with Privileged in every casing

t.test('exec: Privileged case variants are refused; a benign exec is created as sent', async (t) => {
  const target = nameFor('container', 'exec-target')
  const control = nameFor('container', 'exec-ctl')
  for (const [name, value] of [[target, RUN], [control, `${RUN}-ctl`]] as const) {
    const created = await dockerd('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '120'], Labels: { [LABEL]: value } })
    t.equal(created.status, 201, `set-up: ${name} created (${created.body.trim()})`)
    const started = await dockerd('POST', `/containers/${name}/start`)
    t.equal(started.status, 204, `set-up: ${name} started`)
  }
  const bodies = ['{"Cmd":["true"],"privileged":true}', '{"Cmd":["true"],"Privileged":false,"PRIVILEGED":true}', '{"Cmd":["true"],"\\u0050rivileged":true}', '{"Cmd":["true"],"Privileged":true,"privileged":null}', '{"Cmd":["true"],"PRIVILEGED":true}']
  for (const body of bodies) {
    const x = await exchange({ port: proxy.port }, withLength(`/containers/${target}/exec`, utf8(body)), { idleMs: 2000 })
    t.equal(statusOf(x), 403, `${body}: refused (${shown(x)})`)
    t.ok(fromProxy(x), `${body}: by dockmoat`)
    const cx = await direct(withLength(`/containers/${control}/exec`, utf8(body)))
    const id = (JSON.parse(cx.responses[0]?.text || '{}') as { Id?: string }).Id
    const exec = id === undefined ? undefined : await dockerd('GET', `/exec/${id}/json`)
    t.equal((exec?.json as { ProcessConfig?: { privileged?: boolean } } | undefined)?.ProcessConfig?.privileged, true, `${body}: control: dockerd makes this exec privileged (${shown(cx)})`)
  }
  t.same((await inspectContainer(target))?.ExecIDs ?? [], [], 'dockerd holds no exec on the target')
  const ok = await exchange({ port: proxy.port }, withLength(`/containers/${target}/exec`, utf8('{"Cmd":["echo","hi"],"User":"nobody","Privileged":false}')), { idleMs: 2000 })
  t.equal(statusOf(ok), 201, `benign exec created (${shown(ok)})`)
  const id = (JSON.parse(ok.responses[0]?.text || '{}') as { Id?: string }).Id
  t.same((await inspectContainer(target))?.ExecIDs, id === undefined ? ['(none)'] : [id], 'exactly that exec exists')
  const exec = (await dockerd('GET', `/exec/${id}/json`)).json as { ProcessConfig?: { privileged: boolean; entrypoint: string; arguments: string[]; user: string } }
  t.equal(exec.ProcessConfig?.privileged, false, 'not privileged')
  t.same(exec.ProcessConfig, { tty: false, entrypoint: 'echo', arguments: ['hi'], privileged: false, user: 'nobody' }, 'as sent')
  await cleanup('container', [control])
})

// ---------------------------------------------------------------------------------------
// Volume create

t.test('volumes: driver options that reach the host are refused in every casing', async (t) => {
  const attacks = [
    { what: 'options merged from a second driveropts', opts: '"DriverOpts":{"type":"none","o":"bind"},"driveropts":{"device":"/etc"}', expect: { type: 'none', o: 'bind', device: '/etc' } },
    { what: 'DRIVEROPTS bind of /', opts: '"DRIVEROPTS":{"type":"none","o":"bind","device":"/"}', expect: { type: 'none', o: 'bind', device: '/' } },
    { what: 'a block device', opts: '"DriverOpts":{"type":"ext4","device":"/dev/sda1"}', expect: { type: 'ext4', device: '/dev/sda1' } },
    { what: 'DriverOpt\u017f (long s)', opts: '"DriverOpt\u017f":{"type":"none","o":"rbind","device":"/var/run"}', expect: { type: 'none', o: 'rbind', device: '/var/run' } },
  ]
  for (const a of attacks) {
    const name = nameFor('volume', `vol-${a.what}`)
    const x = await exchange({ port: proxy.port }, withLength('/volumes/create', utf8(`{"Name":"${name}",${labels(RUN)},${a.opts}}`)), { idleMs: 2000 })
    t.equal(statusOf(x), 403, `${a.what}: refused (${shown(x)})`)
    t.ok(fromProxy(x), `${a.what}: by dockmoat`)
    t.equal(await volumeOptions(name), undefined, `${a.what}: dockerd has no volume ${name}`)
    const control = nameFor('volume', `vol-ctl-${a.what}`)
    const cx = await direct(withLength('/volumes/create', utf8(`{"Name":"${control}",${labels(`${RUN}-ctl`)},${a.opts}}`)))
    const options = await volumeOptions(control)
    await cleanup('volume', [control])
    t.equal(statusOf(cx), 201, `${a.what}: control: dockerd creates it (${shown(cx)})`)
    t.same(options, a.expect, `${a.what}: control: with these options`)
  }
  const name = nameFor('volume', 'vol-tmpfs')
  const ok = await exchange({ port: proxy.port }, withLength('/volumes/create', utf8(`{"Name":"${name}",${labels(RUN)},"DriverOpts":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}`)), { idleMs: 2000 })
  t.equal(statusOf(ok), 201, `a tmpfs volume is created (${shown(ok)})`)
  t.same(await volumeOptions(name), { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }, 'with exactly its options')
})

// ---------------------------------------------------------------------------------------
// Other proxies: ALLOW_BIND by segment, volume types that read host paths from `o`,
// deep nesting, and the cost of a large body

t.test('ALLOW_BIND by segment, against dockerd', async (t) => {
  mkdirSync(`${ROOT}/sub`, { recursive: true })
  mkdirSync(`${ROOT}-other`, { recursive: true })
  const bindProxy = await proxyWith({ CONTAINERS: '1', POST: '1', VOLUMES: '1', ALLOW_BIND: ROOT })
  const value = `${RUN}-bind`
  const ok = nameFor('container', 'bind-ok')
  const x = await exchange({ port: bindProxy.port }, withLength(`/containers/create?name=${ok}`, utf8(`{${base(value)},"HostConfig":{"Binds":["${ROOT}/sub:/s:ro"]}}`)), { idleMs: 2000 })
  t.equal(statusOf(x), 201, `a source below ALLOW_BIND is forwarded (${shown(x)})`)
  t.same((await inspectContainer(ok))?.HostConfig.Binds, [`${ROOT}/sub:/s:ro`], 'and bound as sent')
  for (const source of [`${ROOT}-other`, `${ROOT}/../${PREFIX}root-other`, `${ROOT}/..`, '/tmp']) {
    const name = nameFor('container', 'bind-no')
    const refused = await exchange({ port: bindProxy.port }, withLength(`/containers/create?name=${name}`, utf8(`{${base(RUN)},"HostConfig":{"Binds":["${source}:/s:ro"]}}`)), { idleMs: 2000 })
    t.equal(statusOf(refused), 403, `${source}: refused (${shown(refused)})`)
    await assertNoContainer(t, name, refused)
  }
})

t.test('ALLOW_BIND: volume types that ignore the device must not pass because the device is inside the root', async (t) => {
  // The local driver runs mount(device, path, type, o) as root in dockerd's namespaces at
  // first use. overlay takes its host paths from `o` (lowerdir=...); proc and sysfs ignore
  // the source and are the host's own. Each was reproduced straight at dockerd 20.10.
  mkdirSync(`${ROOT}/sub`, { recursive: true })
  const bindProxy = await proxyWith({ CONTAINERS: '1', POST: '1', VOLUMES: '1', ALLOW_BIND: ROOT })
  for (const c of [
    { type: 'overlay', o: `lowerdir=/etc:${ROOT}/sub`, read: 'cat /v/hostname', host: () => readFileSync('/etc/hostname', 'utf8') },
    { type: 'proc', o: '', read: 'tr "\\0" " " < /v/1/cmdline', host: () => readFileSync('/proc/1/cmdline', 'utf8').replaceAll('\0', ' ') },
  ]) {
    const name = nameFor('volume', c.type)
    const opts = c.o === '' ? `{"type":"${c.type}","device":"${ROOT}"}` : `{"type":"${c.type}","device":"${ROOT}","o":"${c.o}"}`
    const x = await exchange({ port: bindProxy.port }, withLength('/volumes/create', utf8(`{"Name":"${name}",${labels(RUN)},"DriverOpts":${opts}}`)), { idleMs: 2000 })
    t.equal(statusOf(x), 403, `type=${c.type}: refused (${shown(x)})`)
    const options = await volumeOptions(name)
    t.equal(options, undefined, `type=${c.type}: dockerd has no volume ${name}`)
    if (options !== undefined) {
      // What the volume made through dockmoat gives, read (read-only) straight at dockerd.
      const run = await docker(['run', '--rm', '--label', `${LABEL}=${RUN}-ctl`, '-v', `${name}:/v:ro`, IMAGE, 'sh', '-c', c.read], { timeoutMs: 60_000 })
      t.comment(`type=${c.type}: the volume made through dockmoat shows ${JSON.stringify(run.stdout.trim().slice(0, 120))}; the host has ${JSON.stringify(c.host().trim().slice(0, 120))}`)
    }
  }
})

t.test('deep nesting is answered (Go accepts up to 10000 levels)', async (t) => {
  const deepProxy = await proxyWith({ CONTAINERS: '1', POST: '1', EXEC: '1' })
  const missing = `${PREFIX}no-such-container`
  const unanswered: string[] = []
  const depths: [string, string, string, number][] = []
  for (const [shape, open, close, list] of [
    ['arrays', '[', ']', [1000, 2000, 2300, 2600, 2900, 3200, 3500, 4400]],
    ['arrays of objects', '[{"a":', '}]', [800, 1100, 1200, 1300, 1400, 1500, 1700]],
    ['objects', '{"a":', '}', [1200, 1700, 1800, 1900, 2000, 2400, 3000]],
  ] as const) for (const depth of list) depths.push([shape, open, close, depth])
  // all at once: an unanswered one costs its timeout only once
  await Promise.all(depths.map(async ([shape, open, close, depth]) => {
    const body = utf8(`{"Cmd":["true"],"X":${open.repeat(depth)}1${close.repeat(depth)}}`)
    const x = await exchange({ port: deepProxy.port }, withLength(`/containers/${missing}/exec`, body), { idleMs: 4000, timeoutMs: 4000 })
    if (x.responses.length === 0) unanswered.push(`${shape} ${depth}`)
  }))
  unanswered.sort()
  t.same(unanswered, [], `every depth gets an answer (none did for: ${unanswered.join(', ') || 'none'})`)
  t.equal((await ping(deepProxy.port)).status, 200, 'the proxy still serves')
})

/** A ping that waits as long as it takes (raw.ts's ping gives up after 3 s of silence). */
async function timedPing(port: number): Promise<{ status: number; ms: number }> {
  const x = await exchange({ port }, 'GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n', { idleMs: 30_000, timeoutMs: 30_000 })
  return { status: statusOf(x) ?? 0, ms: x.ms }
}

t.test('a 4 MiB body (MAX_BODY_BYTES raised to 4 MiB) does not stall other clients', async (t) => {
  const bigProxy = await proxyWith({ CONTAINERS: '1', POST: '1', EXEC: '1', MAX_BODY_BYTES: String(4 * 1024 * 1024) })
  const missing = `${PREFIX}no-such-container`
  const size = 4 * 1024 * 1024
  const body = utf8(`{"Cmd":["true"],"X":[${'0,'.repeat(Math.floor((size - 40) / 2))}0]}`)
  t.ok(body.length <= size, `${body.length} bytes, within the limit`)
  const big = exchange({ port: bigProxy.port }, withLength(`/containers/${missing}/exec`, body), { idleMs: 30_000, timeoutMs: 60_000 })
  await sleep(300)
  const pong = await timedPing(bigProxy.port)
  const x = await big
  const peak = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${bigProxy.child.pid}/status`, 'utf8'))?.[1] ?? 0)
  t.equal(statusOf(x), 404, `the body was judged and forwarded (dockerd: no such container) (${shown(x)})`)
  t.equal(pong.status, 200, 'another client\'s ping is answered')
  t.ok(pong.ms < 1000, `within 1 s while the body is judged (took ${Math.round(pong.ms)} ms; the whole exchange ${Math.round(x.ms)} ms)`)
  t.ok(peak < 512 * 1024, `the proxy's peak RSS stays under 512 MiB (was ${Math.round(peak / 1024)} MiB)`)
})

// ---------------------------------------------------------------------------------------
// The whole run, from dockerd's side

t.test('nothing this run made through dockmoat is privileged or reaches the host', async (t) => {
  await sleep(300)
  const r = await dockerd('GET', `/containers/json?all=1&filters=${q({ label: [`${LABEL}=${RUN}`] })}`)
  const found = list(r.json)
  t.ok(found.length > 0, `${found.length} containers carry ${LABEL}=${RUN}`)
  for (const c of found) {
    const i = await inspectContainer(c.Id)
    if (i === undefined) continue
    const what = i.Name
    t.equal(i.HostConfig.Privileged, false, `${what}: not privileged`)
    const hostBinds = (i.HostConfig.Binds ?? []).filter((b) => b.startsWith('/') && b.split(':').length > 1 && !b.startsWith(`${ROOT}/`))
    t.same(hostBinds, [], `${what}: no bind outside the test root`)
    t.same((i.HostConfig.Mounts ?? []).filter((m) => m.Type === 'bind'), [], `${what}: no bind Mounts`)
    t.notOk(['host'].includes(i.HostConfig.NetworkMode) || i.HostConfig.PidMode === 'host', `${what}: no host namespace`)
    t.same(i.HostConfig.CapAdd ?? [], [], `${what}: no added capability`)
    t.same(i.HostConfig.SecurityOpt ?? [], [], `${what}: no security option`)
  }
  const attackNames = [...made.container].filter((n) => /-(atk|frm-atk|pipe-atk|pipe2-atk|big|bad|bind-no)/.test(n))
  const present = []
  for (const n of attackNames) if ((await listedNamed(n)).length > 0) present.push(n)
  t.same(present, [], `none of the ${attackNames.length} refused containers exists`)
})
