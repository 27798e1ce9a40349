// Issue 13, first part: TLS with client certificates and POLICY_FILE profiles, against the
// REAL dockerd. One dockmoat serves alice and bob (docker CLI and dockerode over mTLS), a
// read-only plain listener, a `listeners:` TCP port and two unix sockets, each with its own
// profile; bad certificates are refused in the handshake; bad policy and TLS files stop
// startup with exit 2; SIGHUP reloads; `check --as` answers per client. The certificates
// are made here with openssl, in a temporary directory. Every outcome that matters is read
// back from dockerd itself, straight on its socket.
import t, { type Test } from 'tap'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import tls from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Docker from 'dockerode'
import {
  DOCKER_DIRECT_HOST, api, cleanup, docker, requireDocker, testImage, uniqueName, inspectContainer, type RunResult,
} from '../helpers/docker.ts'
import { BUNDLE, followLog, runBundle, type LogLine } from '../helpers/proxy.ts'
import { makePki, type Ca, type Issued } from '../helpers/pki.ts'

t.setTimeout(240_000)
const CLI_TIMEOUT = 60_000

await requireDocker()
const IMAGE = await testImage()
const LABEL = 'dockmoat.owner'

// ---------------------------------------------------------------------------
// Bookkeeping: everything made here is removed directly on dockerd, also on failure

const containers: string[] = []
const dirs: string[] = []
const proxies: Dockmoat[] = []

const pki = makePki(`dm-tls-${process.pid}-`)
dirs.push(pki.dir)
const work = mkdtempSync(join(tmpdir(), `dm-tlsw-${process.pid}-`))
dirs.push(work)

t.teardown(async () => {
  await cleanup('container', containers)
  for (const p of proxies) await p.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function containerName(prefix: string): string {
  const n = uniqueName(`tls-${prefix}`)
  containers.push(n)
  return n
}

// ---------------------------------------------------------------------------
// Certificates

const CA = pki.ca('dockmoat-test-ca')
const OTHER_CA = pki.ca('dockmoat-other-ca')
const SAN = 'IP:127.0.0.1,DNS:localhost'
const SERVER = pki.issue(CA, 'dockmoat-test-server', { server: true, san: SAN })
const ALICE = pki.issue(CA, 'alice')
const BOB = pki.issue(CA, 'bob')
const CAROL = pki.issue(CA, 'carol')
/** alice's CN, signed by the right CA, valid for one day in 2020. */
const EXPIRED = pki.issue(CA, 'alice', { from: '20200101000000Z', to: '20200102000000Z' })
/** alice's CN, signed by a CA dockmoat does not trust. */
const FOREIGN = pki.issue(OTHER_CA, 'alice')
const EXPIRED_SERVER = pki.issue(CA, 'dockmoat-test-server', { server: true, san: SAN, from: '20200101000000Z', to: '20200102000000Z' })

const certPaths = {
  alice: pki.certPath('alice', CA, ALICE),
  bob: pki.certPath('bob', CA, BOB),
  carol: pki.certPath('carol', CA, CAROL),
  none: pki.certPath('none', CA),
  expired: pki.certPath('expired', CA, EXPIRED),
  foreign: pki.certPath('foreign', CA, FOREIGN),
}

// ---------------------------------------------------------------------------
// dockmoat as its own process (test/helpers/proxy.ts's startProxy always opens the plain
// listener; here the listeners are whatever the environment and the policy file say)

interface Dockmoat {
  child: ChildProcess
  /** The TLS listener's port, when TLS_CERT is set. */
  tlsPort: number | undefined
  /** The plain listener's port, when it is on. */
  plainPort: number | undefined
  /** POLICY_FILE listeners by name: their port or socket. */
  listeners: Record<string, { port?: number; socket?: string }>
  logs(): LogLine[]
  stderr(): string
  /** Sends SIGHUP and resolves with the log line that answers it. */
  hup(): Promise<LogLine>
  /** The first log line from index `from` on that passes `test`, waiting for it up to `ms`. */
  until(test: (line: LogLine) => boolean, from: number, what: string, ms?: number): Promise<LogLine>
  stop(): Promise<void>
}

function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env }
}

async function startDockmoat(env: Record<string, string>): Promise<Dockmoat> {
  const child = spawn(process.execPath, [BUNDLE], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  const log = followLog(child)
  const { lines, stderr } = log
  const waiters: { test: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = []
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  log.onLine((line) => {
    for (const w of [...waiters]) {
      if (w.test(line)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  })
  const next = (test: (line: LogLine) => boolean, what: string, ms = 10_000): Promise<LogLine> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no log line ${what} within ${ms} ms; stderr: ${stderr()}`)), ms)
    waiters.push({ test, resolve: (line) => { clearTimeout(timer); resolve(line) } })
    void exited.then(() => { clearTimeout(timer); reject(new Error(`dockmoat exited (${child.exitCode}) before ${what}; stderr: ${stderr()}`)) })
  })
  const listening = await next((l) => l.msg === 'dockmoat listening', '"dockmoat listening"')
  const tls = listening.tls as { port: number } | undefined
  const proxy: Dockmoat = {
    child,
    tlsPort: tls?.port,
    plainPort: listening.port as number | undefined,
    listeners: Object.fromEntries(((listening.listeners ?? []) as { name: string; port?: number; socket?: string }[]).map((l) => [l.name, l])),
    logs: () => lines,
    stderr,
    until(test, from, what, ms) {
      const seen = lines.slice(from).find(test)
      return seen === undefined ? next(test, what, ms) : Promise.resolve(seen)
    },
    hup() {
      const answer = next((l) => typeof l.msg === 'string' && l.msg.startsWith('SIGHUP'), 'answering SIGHUP')
      child.kill('SIGHUP')
      return answer
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
  proxies.push(proxy)
  return proxy
}

const tlsFiles = (server: Issued = SERVER, ca: Ca | undefined = CA): Record<string, string> => ({
  TLS_CERT: server.cert, TLS_KEY: server.key, ...(ca === undefined ? {} : { TLS_CA: ca.cert }),
})

// ---------------------------------------------------------------------------
// The docker CLI, as a client of a TLS listener, a plain port, or straight on dockerd

type T = Test

function asClient(p: Dockmoat, certPath: string, args: string[]): Promise<RunResult> {
  return docker(args, { host: `tcp://127.0.0.1:${p.tlsPort}`, timeoutMs: CLI_TIMEOUT, env: { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certPath } })
}

function plain(port: number, args: string[]): Promise<RunResult> {
  return docker(args, { host: `tcp://127.0.0.1:${port}`, timeoutMs: CLI_TIMEOUT, env: { DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' } })
}

function direct(args: string[]): Promise<RunResult> {
  return docker(args, { host: DOCKER_DIRECT_HOST, timeoutMs: CLI_TIMEOUT })
}

function ok(tt: T, r: RunResult, what: string): void {
  tt.equal(r.code, 0, `${what} succeeds (stderr: ${r.stderr.trim()})`)
}

function refused(tt: T, r: RunResult, what: string, reason: RegExp): void {
  tt.not(r.code, 0, `${what} fails`)
  tt.match(r.stderr, reason, `${what}: ${reason.source}`)
}

const lines = (s: string): string[] => s.split('\n').map((l) => l.trim()).filter(Boolean)

interface ContainerInfo {
  Id: string
  Name: string
  State: { Status: string; Running: boolean; StartedAt: string; Pid: number }
  Config: { Labels: Record<string, string> | null }
}

/** dockerd's own inspect of a container, on its socket. */
const inspect = (ref: string): Promise<ContainerInfo | undefined> => inspectContainer<ContainerInfo>(ref)

async function mustInspect(ref: string): Promise<ContainerInfo> {
  const c = await inspect(ref)
  if (c === undefined) throw new Error(`dockerd has no container ${ref}`)
  return c
}

/** A reference of the same shape as `ref` (hex ID or prefix, or a name) that names nothing in dockerd. */
function ghostLike(ref: string): string {
  if (/^[0-9a-f]+$/.test(ref)) return randomBytes(Math.ceil(ref.length / 2)).toString('hex').slice(0, ref.length)
  return uniqueName('tls-ghost')
}

/**
 * `args(ref)` as `certPath`'s client must answer exactly as the same command does for a
 * reference that was never created, both through dockmoat and straight on dockerd.
 */
async function answersLikeMissing(tt: T, p: Dockmoat, certPath: string, args: (ref: string) => string[], ref: string, what: string, fails = true): Promise<void> {
  const ghost = ghostLike(ref)
  const [through, ghostThrough, missing] = await Promise.all([asClient(p, certPath, args(ref)), asClient(p, certPath, args(ghost)), direct(args(ghost))])
  const same = (r: RunResult): RunResult => ({ code: r.code, stdout: r.stdout.replaceAll(ghost, ref), stderr: r.stderr.replaceAll(ghost, ref) })
  const seen = { code: through.code, stdout: through.stdout, stderr: through.stderr }
  if (fails) tt.not(through.code, 0, `${what}: fails`)
  tt.same(seen, same(ghostThrough), `${what}: indistinguishable from a missing object through dockmoat`)
  tt.same(seen, same(missing), `${what}: dockerd's own answer for a missing object (exit ${missing.code}: ${missing.stderr.trim()})`)
}

/** The log lines of requests (allowed or refused) written since index `from`. */
const requestLines = (p: Dockmoat, from: number): LogLine[] => p.logs().slice(from).filter((l) => l.msg === 'request' || l.msg === 'refused')

// ---------------------------------------------------------------------------
// The one dockmoat most tests share

const SOCK_A = join(work, 'a.sock')
const SOCK_B = join(work, 'b.sock')
const POLICY = join(work, 'policy.yaml')
writeFileSync(POLICY, `# dockmoat's policy for tls-profiles.test.ts
unmatched: refuse
listeners:
  - name: ci
    port: 0
    address: 127.0.0.1
  - name: sock-a
    socket: ${SOCK_A}
    mode: "660"
  - name: sock-b
    socket: ${SOCK_B}
    mode: "600"
  - name: dev
    port: 0
    address: 127.0.0.1
profiles:
  - name: alice
    match: { cn: alice, listener: tls }
    env:
      CONTAINERS: 1
      POST: 1
      IMAGES: 1
      OWNER: \${CN}
  - name: bob
    match:
      cn: ["b?b", "robert*"]
      listener: tls
    env:
      CONTAINERS: 1
      POST: 1
      OWNER: \${CN}
  - name: plain-ro
    match: { listener: plain, source: 127.0.0.0/8 }
    env:
      CONTAINERS: 1
  - name: ci
    match: { listener: ci }
    env:
      CONTAINERS: 1
      INFO: 1
  - name: sock-a
    match: { listener: sock-a }
    env:
      CONTAINERS: 1
  - name: sock-b
    match: { listener: sock-b }
    env:
      IMAGES: 1
  - name: developers
    match: { listener: dev }
    env:
      CONTAINERS: 1
      POST: 1
      IMAGES: 1
      EXEC: 1
      ALLOW_NAMES: \${PROFILE}-*
      ALLOW_IMAGES: ${IMAGE.replace(/:latest$/, '')}
`)

/** The environment's own grants: generous, so that a profile visibly does not inherit them. */
const ENVIRONMENT = { CONTAINERS: '1', POST: '1', IMAGES: '1', INFO: '1', EXEC: '1' }

const P = await startDockmoat({
  ...ENVIRONMENT, ...tlsFiles(), TLS_PORT: '0', LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: '0', POLICY_FILE: POLICY,
})
const TLS_PORT = P.tlsPort!
const PLAIN_PORT = P.plainPort!
const CI_PORT = P.listeners.ci?.port

t.test('the certificates are what the tests below assume (openssl)', async (t) => {
  const text = (cert: string): string => execFileSync('openssl', ['x509', '-in', cert, '-noout', '-subject', '-issuer', '-enddate', '-ext', 'subjectAltName'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  t.match(text(SERVER.cert), /IP Address:127\.0\.0\.1, DNS:localhost/, 'the server certificate has the SANs the docker CLI checks')
  t.match(text(EXPIRED.cert), /subject=CN = alice[\s\S]*notAfter=Jan  2 00:00:00 2020 GMT/, 'the expired client is alice, expired in 2020')
  t.match(text(FOREIGN.cert), /subject=CN = alice\nissuer=CN = dockmoat-other-ca/, 'the foreign client is alice, signed by the other CA')
  const verify = (cert: Issued): number => spawnSync('openssl', ['verify', '-CAfile', CA.cert, cert.cert], { stdio: 'ignore' }).status ?? -1
  t.equal(verify(ALICE), 0, 'alice\'s certificate verifies against the CA')
  t.not(verify(EXPIRED), 0, 'the expired one does not')
  t.not(verify(FOREIGN), 0, 'the foreign one does not')
})

t.test('one dockmoat: a TLS listener, the plain one, and the policy file\'s three', async (t) => {
  const listening = P.logs().find((l) => l.msg === 'dockmoat listening')!
  t.match(listening, {
    tls: { address: '127.0.0.1', clientCertificates: 'required (TLS_CA)' },
    address: '127.0.0.1',
    profiles: ['alice', 'bob', 'plain-ro', 'ci', 'sock-a', 'sock-b', 'developers'],
    unmatched: 'refuse',
  }, 'the startup line names the listeners and profiles')
  t.ok(TLS_PORT > 0 && PLAIN_PORT > 0 && typeof CI_PORT === 'number' && CI_PORT > 0, `ports: tls ${TLS_PORT}, plain ${PLAIN_PORT}, ci ${CI_PORT}`)
  t.same(P.listeners['sock-a'], { name: 'sock-a', socket: SOCK_A }, 'sock-a listens on its socket')
  t.same(P.listeners['sock-b'], { name: 'sock-b', socket: SOCK_B }, 'sock-b listens on its socket')
  t.equal(statSync(SOCK_A).mode & 0o777, 0o660, 'sock-a has mode 660')
  t.equal(statSync(SOCK_B).mode & 0o777, 0o600, 'sock-b has mode 600')
  t.ok(statSync(SOCK_A).isSocket() && statSync(SOCK_B).isSocket(), 'both are sockets')
  t.notOk(P.logs().some((l) => /subjectAltName/.test(l.msg)), 'no subjectAltName warning for a server certificate that has one')
})

// ---------------------------------------------------------------------------

const aliceBox = containerName('alice-box')
const bobBox = containerName('bob-box')
let aliceId = ''
let bobId = ''

t.test('alice and bob through one dockmoat, each with OWNER: ${CN}', async (t) => {
  const run = await asClient(P, certPaths.alice, ['run', '-d', '--name', aliceBox, IMAGE, 'sleep', '600'])
  ok(t, run, 'docker run -d as alice')
  aliceId = run.stdout.trim()
  const made = await mustInspect(aliceBox)
  t.equal(made.Id, aliceId, 'dockerd holds the container alice ran (direct)')
  t.equal(made.Config.Labels?.[LABEL], 'alice', `it carries ${LABEL}=alice in dockerd`)
  t.ok(made.State.Running, 'it runs')

  const bobRun = await asClient(P, certPaths.bob, ['create', '--name', bobBox, IMAGE, 'true'])
  ok(t, bobRun, 'docker create as bob')
  bobId = bobRun.stdout.trim()
  t.equal((await mustInspect(bobBox)).Config.Labels?.[LABEL], 'bob', `bob's carries ${LABEL}=bob in dockerd`)

  const psAlice = await asClient(P, certPaths.alice, ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}'])
  ok(t, psAlice, 'docker ps -a as alice')
  t.ok(lines(psAlice.stdout).includes(`${aliceId} ${aliceBox}`), 'alice lists her container')
  t.notOk(psAlice.stdout.includes(bobId), 'alice does not list bob\'s')
  const psBob = await asClient(P, certPaths.bob, ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}'])
  ok(t, psBob, 'docker ps -a as bob')
  t.ok(lines(psBob.stdout).includes(`${bobId} ${bobBox}`), 'bob lists his container')
  t.notOk(psBob.stdout.includes(aliceId) || psBob.stdout.includes(aliceBox), 'bob does not list alice\'s container')
  for (const [who, ps] of [['alice', psAlice], ['bob', psBob]] as const) {
    for (const id of lines(ps.stdout).map((l) => l.split(' ')[0]!)) {
      t.equal((await mustInspect(id)).Config.Labels?.[LABEL], who, `${who} lists only ${who}'s: ${id.slice(0, 12)}`)
    }
  }

  const logged = requestLines(P, 0)
  t.ok(logged.some((l) => l.cn === 'alice' && l.profile === 'alice' && l.route === 'POST /containers/create' && l.decision === 'allow'), 'the log line of alice\'s create carries cn alice and profile alice')
  t.ok(logged.some((l) => l.cn === 'bob' && l.profile === 'bob' && l.route === 'GET /containers/json'), 'bob\'s list carries cn bob and profile bob')
})

t.test('every reach by bob for alice\'s container answers like a missing one and changes nothing in dockerd', async (t) => {
  const before = await mustInspect(aliceBox)
  // Alice's calls by full ID first: dockmoat then knows that ID as alice's and forwards her
  // calls on it without a lookup (own.ts); in the same process, bob must still be refused.
  for (let i = 0; i < 2; i++) ok(t, await asClient(P, certPaths.alice, ['container', 'inspect', aliceId]), `alice inspects her container by full ID (${i + 1})`)
  for (const [label, ref] of [['name', aliceBox], ['full ID', aliceId], ['ID prefix', aliceId.slice(0, 12)]] as const) {
    await answersLikeMissing(t, P, certPaths.bob, (r) => ['container', 'inspect', r], ref, `docker inspect by ${label}`)
    await answersLikeMissing(t, P, certPaths.bob, (r) => ['stop', '-t', '1', r], ref, `docker stop by ${label}`)
    await answersLikeMissing(t, P, certPaths.bob, (r) => ['kill', r], ref, `docker kill by ${label}`)
    await answersLikeMissing(t, P, certPaths.bob, (r) => ['rm', r], ref, `docker rm by ${label}`)
    // The CLI's rm -f says nothing and exits 0 for a missing container; it must do the same here.
    await answersLikeMissing(t, P, certPaths.bob, (r) => ['rm', '-f', r], ref, `docker rm -f by ${label}`, false)
  }
  await answersLikeMissing(t, P, certPaths.alice, (r) => ['rm', r], bobBox, 'and alice: docker rm of bob\'s by name')
  t.equal((await inspect(bobBox))?.Id, bobId, 'bob\'s container is still there (direct)')
  const after = await mustInspect(aliceBox)
  t.same({ id: after.Id, running: after.State.Running, startedAt: after.State.StartedAt, pid: after.State.Pid },
    { id: before.Id, running: true, startedAt: before.State.StartedAt, pid: before.State.Pid }, 'alice\'s container still runs, untouched (direct)')
  const stopped = await asClient(P, certPaths.alice, ['inspect', '--format', '{{.State.Running}}', aliceBox])
  ok(t, stopped, 'alice still inspects it')
  t.equal(stopped.stdout.trim(), 'true', 'and sees it running')
})

t.test('refusals name the variable and the profile; profiles do not inherit the environment\'s grants', async (t) => {
  // IMAGES=1 is set in the environment, and in alice's profile, not in bob's. (The probes here
  // are calls whose refusal fails the CLI: `docker info` exits 0 even when refused.)
  const images = await asClient(P, certPaths.bob, ['images'])
  refused(t, images, 'docker images as bob', /dockmoat refused GET \/v1\.\d+\/images\/json \(GET \/images\/json\): set IMAGES=1 \(POLICY_FILE profile bob\)/)
  ok(t, await asClient(P, certPaths.alice, ['images', '-q']), 'docker images as alice (her profile grants IMAGES)')
  // EXEC=1 is set in the environment, not in alice's profile.
  const exec = await asClient(P, certPaths.alice, ['exec', aliceBox, 'true'])
  refused(t, exec, 'docker exec as alice in her own container', /dockmoat refused POST \/v1\.\d+\/containers\/\S+\/exec \(POST \/containers\/\{name\}\/exec\): set EXEC=1 \(POST=1 already set\) \(POLICY_FILE profile alice\)/)

  // A valid certificate whose CN no profile matches: refused with unmatched: refuse.
  const carol = await asClient(P, certPaths.carol, ['ps'])
  refused(t, carol, 'docker ps as carol', /dockmoat refused (GET|HEAD) \/\S+: no profile of POLICY_FILE matches this client \(listener tls, address 127\.0\.0\.1, cn carol\), and the file says unmatched: refuse/)
  t.ok(P.logs().some((l) => l.msg === 'refused' && l.cn === 'carol' && l.profile === undefined), 'carol\'s refusal is logged with her cn and no profile')
})

/**
 * A raw TLS client that presents `client` whatever CA the server asks for (Go's TLS client,
 * the docker CLI's, withholds a certificate the server's CA list does not name), then sends a
 * container create: what came back before the connection closed, and the client's error.
 */
function rawTls(port: number, client: Issued | undefined): Promise<{ data: string; error: string | undefined }> {
  return new Promise((resolve) => {
    let data = ''
    let error: string | undefined
    const socket = tls.connect({
      host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(CA.cert),
      ...(client === undefined ? {} : { cert: readFileSync(client.cert), key: readFileSync(client.key) }),
    }, () => {
      socket.write(`POST /v1.41/containers/create?name=${uniqueName('tls-raw')} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`)
    })
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { data += chunk })
    socket.on('error', (e) => { error = e.message })
    socket.on('close', () => { clearTimeout(timer); resolve({ data, error }) })
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 10 s')), 10_000)
  })
}

t.test('no certificate, an expired one, another CA\'s: refused in the handshake, nothing reaches dockerd', async (t) => {
  // dockmoat checks the certificate once the handshake is done and closes the connection
  // before any HTTP, logging why (the reason and the address OpenSSL's own refusal lost).
  const REFUSED = 'TLS client refused: a certificate signed by TLS_CA is required'
  const handshakeLines = (from: number): LogLine[] => P.logs().slice(from).filter((l) => l.msg === REFUSED)
  for (const [what, certPath, expect, reason] of [
    ['no client certificate', certPaths.none, /: EOF|connection reset by peer/, /^no client certificate$/],
    ['alice\'s expired certificate', certPaths.expired, /: EOF|connection reset by peer/, /^CERT_HAS_EXPIRED$/],
    // The CA list the server sends does not name the other CA, so Go does not even offer that certificate.
    ['alice\'s certificate from another CA', certPaths.foreign, /: EOF|connection reset by peer/, /^no client certificate$/],
  ] as const) {
    const ghost = containerName('handshake')
    const from = P.logs().length
    const r = await asClient(P, certPath, ['create', '--name', ghost, IMAGE, 'true'])
    await P.until((l) => l.msg === REFUSED, from, `"${REFUSED}" for ${what}`)
    t.not(r.code, 0, `the docker CLI with ${what}: docker create fails`)
    t.match(r.stderr, expect, `${what}: the CLI reports the connection refused (${lines(r.stderr).at(-1)})`)
    t.notMatch(r.stderr, /Error response from daemon/, `${what}: no HTTP answer came back`)
    const handshakes = handshakeLines(from)
    t.ok(handshakes.length >= 1, `${what}: dockmoat logs the refusal (${handshakes.length} times: the CLI retries)`)
    t.ok(handshakes.every((l) => l.level === 40 && reason.test(String(l.reason)) && /127\.0\.0\.1$/.test(String(l.client))), `${what}: at warn, with the reason and the client's address (${JSON.stringify(handshakes[0]?.reason)}, client ${String(handshakes[0]?.client)})`)
    t.same(requestLines(P, from), [], `${what}: no request was decided`)
    t.equal(await inspect(ghost), undefined, `${what}: dockerd has no container ${ghost} (direct)`)
  }
  for (const [what, client, reason] of [['no certificate', undefined, /^no client certificate$/], ['the expired certificate', EXPIRED, /^CERT_HAS_EXPIRED$/], ['the other CA\'s certificate', FOREIGN, /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$/]] as const) {
    const from = P.logs().length
    const r = await rawTls(TLS_PORT, client)
    await P.until((l) => l.msg === REFUSED, from, `"${REFUSED}" for ${what}`)
    t.equal(r.data, '', `a raw TLS client presenting ${what}: no HTTP answer (${r.error ?? 'closed'})`)
    t.ok(handshakeLines(from).length === 1 && reason.test(String(handshakeLines(from)[0]?.reason)), `${what}: one refusal line, with the reason (${JSON.stringify(handshakeLines(from)[0]?.reason)})`)
    t.same(requestLines(P, from), [], `${what}: no request was decided`)
    const after = await api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: ['dockmoat-test-tls-raw'] }))}`)
    t.same((after.json as { Names: string[] }[]).filter((c) => c.Names.some((n) => n.includes(`tls-raw-${process.pid.toString(36)}`))), [], `${what}: dockerd made no container (direct)`)
  }
  // The same raw client with alice's valid certificate is answered: the probe itself works.
  const good = await rawTls(TLS_PORT, ALICE)
  t.match(good.data, /^HTTP\/1\.1 400 /, `with alice's valid certificate the same raw request gets dockerd's answer (${good.data.split('\r\n')[0]})`)
  const still = await asClient(P, certPaths.alice, ['ps', '-q'])
  t.equal(still.code, 0, still.code === 0 ? 'dockmoat still serves alice after the refused handshakes'
    : `dockmoat no longer serves alice: ${still.stderr.trim()} (dockmoat's exit ${P.child.exitCode}, signal ${P.child.signalCode}, stderr: ${P.stderr()}, last lines: ${JSON.stringify(P.logs().slice(-4))})`)
})

t.test('the plain listener and a listeners: port, side by side, each with its profile', async (t) => {
  const ps = await plain(PLAIN_PORT, ['ps', '-a', '--no-trunc', '--format', '{{.ID}}'])
  ok(t, ps, 'docker ps -a on the plain listener')
  t.ok(lines(ps.stdout).includes(aliceId), 'plain-ro has no OWNER: it lists alice\'s container too')
  const rm = await plain(PLAIN_PORT, ['rm', '-f', aliceBox])
  refused(t, rm, 'docker rm -f on the plain listener', /set POST=1 \(CONTAINERS=1 already set\) \(POLICY_FILE profile plain-ro\)/)
  const images = await plain(PLAIN_PORT, ['images'])
  refused(t, images, 'docker images on the plain listener (IMAGES=1 is only the environment\'s)', /set IMAGES=1 \(POLICY_FILE profile plain-ro\)/)

  const server = (await direct(['version', '--format', '{{.Server.Version}}'])).stdout.trim()
  const ciInfo = await plain(CI_PORT!, ['info', '--format', '{{.ServerVersion}}'])
  ok(t, ciInfo, 'docker info on the ci listener')
  t.equal(ciInfo.stdout.trim(), server, 'it is dockerd\'s answer')
  ok(t, await plain(CI_PORT!, ['ps', '-q']), 'docker ps on the ci listener')
  const ciRm = await plain(CI_PORT!, ['rm', '-f', aliceBox])
  refused(t, ciRm, 'docker rm -f on the ci listener', /set POST=1 \(CONTAINERS=1 already set\) \(POLICY_FILE profile ci\)/)
  t.ok((await mustInspect(aliceBox)).State.Running, 'alice\'s container still runs (direct)')

  const tlsPlain = await plain(TLS_PORT, ['ps'])
  t.not(tlsPlain.code, 0, 'plain HTTP to the TLS port fails')
  const logged = P.logs().filter((l) => l.msg === 'refused' || l.msg === 'request')
  t.ok(logged.some((l) => l.profile === 'plain-ro' && l.cn === undefined), 'plain listener lines carry profile plain-ro and no cn')
  t.ok(logged.some((l) => l.profile === 'ci' && l.route === 'GET /info' && l.decision === 'allow'), 'ci listener lines carry profile ci')
})

/** -v options that put this host's docker CLI (and, when it is dynamic, its libraries) into a container. */
function dockerCliMounts(): string[] {
  const found = spawnSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).stdout.trim()
  if (found === '') throw new Error('no docker CLI on PATH')
  const binary = realpathSync(found)
  const ldd = spawnSync('ldd', [binary], { encoding: 'utf8' })
  // A static binary: `ldd` says "not a dynamic executable" and exits 1.
  const libraries = ldd.status === 0 ? [...ldd.stdout.matchAll(/(\/\S+) \(0x[0-9a-f]+\)/g)].map((m) => m[1]!) : []
  return ['-v', `${binary}:/usr/local/bin/docker:ro`, ...libraries.flatMap((lib) => ['-v', `${realpathSync(lib)}:${lib}:ro`])]
}

t.test('two unix-socket listeners, each mounted into its own container, each with its profile', async (t) => {
  // The test image's busybox nc cannot connect to a unix socket; the host's docker CLI,
  // mounted read-only into each container, is the client there.
  const mounts = dockerCliMounts()
  const boxA = containerName('sock-a')
  const boxB = containerName('sock-b')
  for (const [box, sock] of [[boxA, SOCK_A], [boxB, SOCK_B]] as const) {
    const r = await direct(['run', '-d', '--name', box, '-e', 'HOME=/tmp', '-v', `${sock}:/var/run/docker.sock`, ...mounts, IMAGE, 'sleep', '600'])
    ok(t, r, `docker run ${box} with ${sock} mounted (direct)`)
  }
  for (const [box, sock] of [[boxA, SOCK_A], [boxB, SOCK_B]] as const) {
    const mounted = await direct(['inspect', '--format', '{{range .Mounts}}{{.Source}}={{.Destination}} {{end}}', box])
    const sockets = mounted.stdout.trim().split(' ').filter((m) => m.endsWith('.sock') || m.includes('docker.sock'))
    t.same(sockets, [`${sock}=/var/run/docker.sock`], `${box} mounts only its own socket`)
  }
  const inBox = (box: string, args: string[]): Promise<RunResult> => direct(['exec', box, '/usr/local/bin/docker', ...args])
  const from = P.logs().length

  const psA = await inBox(boxA, ['ps', '-a', '--no-trunc', '--format', '{{.ID}}'])
  ok(t, psA, 'docker ps -a inside the sock-a container')
  t.ok(lines(psA.stdout).includes(aliceId), 'it lists the containers (CONTAINERS=1)')
  refused(t, await inBox(boxA, ['images']), 'docker images inside the sock-a container', /set IMAGES=1 \(POLICY_FILE profile sock-a\)/)
  refused(t, await inBox(boxA, ['rm', '-f', aliceBox]), 'docker rm -f inside the sock-a container', /set POST=1 \(CONTAINERS=1 already set\) \(POLICY_FILE profile sock-a\)/)

  const imageId = (await direct(['image', 'inspect', '--format', '{{.Id}}', IMAGE])).stdout.trim()
  const imagesB = await inBox(boxB, ['images', '-q', '--no-trunc'])
  ok(t, imagesB, 'docker images inside the sock-b container')
  t.ok(lines(imagesB.stdout).includes(imageId), `it lists dockerd's images, the test image ${imageId.slice(7, 19)} among them (IMAGES=1)`)
  refused(t, await inBox(boxB, ['ps']), 'docker ps inside the sock-b container', /set CONTAINERS=1 \(POLICY_FILE profile sock-b\)/)

  const logged = requestLines(P, from)
  t.ok(logged.some((l) => l.profile === 'sock-a' && l.route === 'GET /containers/json' && l.decision === 'allow'), 'the log shows sock-a\'s list under profile sock-a')
  t.ok(logged.some((l) => l.profile === 'sock-b' && l.route === 'GET /images/json' && l.decision === 'allow'), 'and sock-b\'s image list under profile sock-b')
  t.ok(logged.filter((l) => l.profile === 'sock-a' || l.profile === 'sock-b').every((l) => l.client === 'unix' && l.cn === undefined), 'both come in as unix clients, without a cn')
  t.ok((await mustInspect(aliceBox)).State.Running, 'alice\'s container still runs (direct)')
})

t.test('dockerode over TLS as alice and as bob', async (t) => {
  const client = (who: Issued): Docker => new Docker({
    protocol: 'https', host: '127.0.0.1', port: TLS_PORT, ca: readFileSync(CA.cert), cert: readFileSync(who.cert), key: readFileSync(who.key),
  })
  const asAlice = await client(ALICE).listContainers({ all: true })
  t.ok(asAlice.some((c) => c.Id === aliceId), 'alice\'s list holds her container')
  t.ok(asAlice.every((c) => c.Labels[LABEL] === 'alice'), `alice lists only alice's (${asAlice.length})`)
  const asBob = await client(BOB).listContainers({ all: true })
  t.notOk(asBob.some((c) => c.Id === aliceId), 'bob\'s does not')
  const bobInspect = await client(BOB).getContainer(aliceId).inspect().then(() => undefined, (e: { statusCode?: number }) => e)
  t.equal(bobInspect?.statusCode, 404, 'bob\'s inspect of alice\'s container is a 404')
  await t.rejects(client(FOREIGN).listContainers(), /unknown ca|certificate|socket hang up|ECONNRESET/, 'the foreign certificate is refused')
})

// ---------------------------------------------------------------------------
// Startup errors

const badPolicy = (name: string, text: string): string => {
  const file = join(work, name)
  writeFileSync(file, text)
  return file
}

async function startupFails(t: T, env: Record<string, string>, what: string): Promise<string> {
  const r = await runBundle([], env)
  t.equal(r.code, 2, `${what}: exit 2 (stderr: ${r.stderr.trim()})`)
  t.equal(r.stdout, '', `${what}: nothing on stdout (no listener came up)`)
  return r.stderr
}

t.test('policy file errors: every problem as file:line: key: problem, exit 2', async (t) => {
  // Line numbers are this fixture's.
  const file = badPolicy('bad.yaml', [
    /* 1 */ 'unmatched: refuse',
    /* 2 */ 'listeners:',
    /* 3 */ '  - name: ci',
    /* 4 */ '    port: 2399',
    /* 5 */ 'profiles:',
    /* 6 */ '  - name: one',
    /* 7 */ '    match: { listener: tls }',
    /* 8 */ '    env:',
    /* 9 */ '      CONTAINER: 1',
    /* 10 */ '      SOCKET_PATH: /tmp/other.sock',
    /* 11 */ '      POST: ture',
    /* 12 */ '  - name: two',
    /* 13 */ '    match:',
    /* 14 */ '      listener: cj',
    /* 15 */ '    env:',
    /* 16 */ '      CONTAINERS: 1',
    /* 17 */ '  - name: one',
    /* 18 */ '    match: { cn: x }',
    /* 19 */ '    env: { CONTAINERS: 1 }',
    /* 20 */ 'profile: []',
    '',
  ].join('\n'))
  const stderr = await startupFails(t, { POLICY_FILE: file }, 'a policy file with six problems')
  const problems = stderr.split('\n').filter((l) => l.startsWith(`${file}:`))
  t.match(stderr, /^dockmoat: POLICY_FILE is not valid:\n/, 'stderr says the policy file is not valid')
  const expected: [number, string, RegExp][] = [
    [9, 'profiles[0].env.CONTAINER', /is not a dockmoat variable/],
    [10, 'profiles[0].env.SOCKET_PATH', /is where and how dockmoat runs, set once in the environment, not per profile/],
    [11, 'profiles[0].env.POST', /POST="ture" is not a boolean; use one of 1\/0, true\/false/],
    [14, 'profiles[1].match.listener', /"cj" is not a listener; use plain, tls, ci/],
    [17, 'profiles[2].name', /"one" is used twice/],
    [20, 'profile', /is not a key of the policy file; use profiles:, listeners: and unmatched:/],
  ]
  for (const [line, key, problem] of expected) {
    const found = problems.find((p) => p.startsWith(`${file}:${line}: ${key}: `))
    t.ok(found !== undefined, `${file}:${line}: ${key}: is listed`)
    t.match(found ?? '', problem, `${key}: ${problem.source}`)
  }
  t.ok(problems.some((p) => p.startsWith(`${file}:9: `) && /did you mean CONTAINERS\?$/.test(p)), 'CONTAINER gets the suggestion CONTAINERS')

  // Each alone stops startup too.
  for (const [name, body, line, key] of [
    ['unknown-variable.yaml', 'profiles:\n  - name: a\n    env:\n      CONTAINER: 1\n', 4, 'profiles[0].env.CONTAINER'],
    ['process-setting.yaml', 'profiles:\n  - name: a\n    env:\n      CONTAINERS: 1\n      LISTEN_PORT: 2999\n', 5, 'profiles[0].env.LISTEN_PORT'],
    ['bad-value.yaml', 'profiles:\n  - name: a\n    env:\n      POST: ture\n', 4, 'profiles[0].env.POST'],
    ['unknown-listener.yaml', 'profiles:\n  - name: a\n    match:\n      listener: [tls, ci]\n    env:\n      CONTAINERS: 1\n', 4, 'profiles[0].match.listener'],
  ] as const) {
    const one = badPolicy(name, body)
    const err = await startupFails(t, { POLICY_FILE: one }, name)
    t.match(err, `${one}:${line}: ${key}: `, `${name}: ${one}:${line}: ${key}:`)
  }
})

t.test('policy file errors: bad YAML names the file and the line of the error, exit 2', async (t) => {
  // The lines are where the yaml package places each error (its LineCounter on error.pos).
  for (const [name, body, line, problem] of [
    // A tab as indentation, on line 3.
    ['bad-yaml-tab.yaml', 'unmatched: refuse\nprofiles:\n\t- name: a\n', 3, /Tabs are not allowed as indentation/],
    // A mapping item indented one column less than its siblings, on line 6.
    ['bad-yaml-indent.yaml', 'unmatched: refuse\nprofiles:\n  - name: a\n    env:\n      CONTAINERS: 1\n     POST: 1\n', 6, /same column/],
    // The same key twice in one mapping: the second on line 5.
    ['bad-yaml-duplicate.yaml', 'profiles:\n  - name: a\n    env:\n      CONTAINERS: 1\n      CONTAINERS: 0\n', 5, /unique/],
  ] as const) {
    const file = badPolicy(name, body)
    const err = await startupFails(t, { POLICY_FILE: file }, name)
    t.match(err, new RegExp(`${file.replace(/[.]/g, '\\.')}:\\d+: .*${problem.source}`), `${name}: the file and the YAML error are named`)
    t.match(err, `${file}:${line}: `, `${name}: the error is on line ${line}`)
  }
})

t.test('TLS file errors: exit 2 naming the variable; a certificate without subjectAltName is warned about', async (t) => {
  const cnOnly = pki.issue(CA, '127.0.0.1', { server: true })
  const warned = await startDockmoat({ ...tlsFiles(cnOnly), TLS_PORT: '0', LISTEN_ADDRESS: '127.0.0.1', CONTAINERS: '1' })
  const warning = warned.logs().find((l) => /has no subjectAltName/.test(l.msg))
  t.match(warning, { level: 40, msg: `TLS_CERT=${cnOnly.cert} has no subjectAltName: the docker CLI refuses it ("certificate relies on legacy Common Name field")` }, 'a certificate without subjectAltName: a warning naming TLS_CERT')
  const legacy = await asClient(warned, certPaths.alice, ['ps'])
  refused(t, legacy, 'the docker CLI against it', /legacy Common Name field/)
  await warned.stop()

  const missing = join(work, 'no-such-cert.pem')
  t.match(await startupFails(t, { ...tlsFiles(), TLS_CERT: missing, TLS_PORT: '0' }, 'a missing TLS_CERT file'),
    `dockmoat: configuration error: TLS_CERT=${missing} cannot be read: ENOENT`, 'names TLS_CERT and the file')
  t.match(await startupFails(t, { ...tlsFiles(), TLS_KEY: ALICE.key, TLS_PORT: '0' }, 'a key that is not the certificate\'s'),
    `dockmoat: configuration error: TLS_KEY=${ALICE.key} is not the key of TLS_CERT=${SERVER.cert}`, 'names TLS_KEY and TLS_CERT')
  t.match(await startupFails(t, { ...tlsFiles(EXPIRED_SERVER), TLS_PORT: '0' }, 'an expired server certificate'),
    new RegExp(`dockmoat: configuration error: TLS_CERT=${EXPIRED_SERVER.cert} \\(CN=dockmoat-test-server\\) expired on Jan  2 00:00:00 2020 GMT; renew it`), 'names TLS_CERT and the date')
  t.match(await startupFails(t, { ...tlsFiles(SERVER, { ...CA, cert: ALICE.key }), TLS_PORT: '0' }, 'a TLS_CA that is not PEM certificates'),
    `TLS_CA=${ALICE.key} holds no PEM certificate`, 'names TLS_CA')
})

// ---------------------------------------------------------------------------

t.test('SIGHUP: a valid file applies to the next request on every connection; an invalid one leaves the policy as it was', async (t) => {
  const file = join(work, 'hup.yaml')
  const policy = (bobPost: boolean): string => `profiles:
  - name: alice
    match: { cn: alice }
    env: { CONTAINERS: 1, POST: 1, OWNER: "\${CN}" }
  - name: bob
    match: { cn: bob }
    env:
      CONTAINERS: 1
${bobPost ? '      POST: 1\n' : ''}      OWNER: \${CN}
`
  writeFileSync(file, policy(false))
  const H = await startDockmoat({ ...tlsFiles(), TLS_PORT: '0', LISTEN_ADDRESS: '127.0.0.1', POLICY_FILE: file })
  t.equal(H.plainPort, undefined, 'TLS alone: the plain listener is off')

  // One keep-alive connection as bob, held across the reloads.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(CA.cert), cert: readFileSync(BOB.cert), key: readFileSync(BOB.key) })
  t.teardown(() => agent.destroy())
  const sockets = new Set<unknown>()
  const call = (method: string, path: string, body?: unknown): Promise<{ status: number; text: string; reused: boolean }> => new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = https.request({
      host: '127.0.0.1', port: H.tlsPort, method, path, agent,
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, reused: req.reusedSocket }))
    })
    req.on('socket', (s) => sockets.add(s))
    req.on('error', reject)
    req.end(payload)
  })
  const create = (name: string) => call('POST', `/v1.41/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['true'] })

  const first = containerName('hup-first')
  const before = await create(first)
  t.equal(before.status, 403, 'bob\'s create is refused before the reload')
  t.match(before.text, /set POST=1 \(CONTAINERS=1 already set\) \(POLICY_FILE profile bob\)/, 'naming POST and profile bob')
  t.equal(await inspect(first), undefined, 'and dockerd has no such container (direct)')
  const cliBefore = await asClient(H, certPaths.bob, ['create', '--name', first, IMAGE, 'true'])
  refused(t, cliBefore, 'docker create as bob before the reload', /set POST=1 .*\(POLICY_FILE profile bob\)/)

  writeFileSync(file, policy(true))
  const reloaded = await H.hup()
  t.equal(reloaded.msg, `SIGHUP: ${file} reloaded`, 'the reload is logged')
  t.same(reloaded.profiles, ['alice', 'bob'], 'with the profiles')

  const afterHup = await create(first)
  t.equal(afterHup.status, 201, `bob's next create, on the same connection, is allowed (${afterHup.text.trim()})`)
  t.ok(afterHup.reused, 'it went over the connection that was refused before')
  t.equal(sockets.size, 1, 'one connection for all of bob\'s HTTP calls')
  t.equal((await mustInspect(first)).Config.Labels?.[LABEL], 'bob', 'dockerd holds it, labelled bob (direct)')
  const second = containerName('hup-second')
  ok(t, await asClient(H, certPaths.bob, ['create', '--name', second, IMAGE, 'true']), 'docker create as bob on a new connection, after the reload')
  t.equal((await mustInspect(second)).Config.Labels?.[LABEL], 'bob', 'dockerd holds that one too, labelled bob (direct)')

  writeFileSync(file, 'profiles:\n  - name: bob\n    env: { CONTAINERS: 1\n')
  const rejected = await H.hup()
  t.equal(rejected.level, 50, 'an invalid file is logged at error')
  t.equal(rejected.msg, `SIGHUP: ${file} is not valid; the policy in force stays as it was`, 'saying the policy in force stays')
  t.match(rejected.problems, [new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+: Flow map`)], 'with the problem, naming the file')
  t.equal(H.child.exitCode, null, 'dockmoat keeps running')
  const third = containerName('hup-third')
  const stays = await create(third)
  t.equal(stays.status, 201, 'bob\'s create is still allowed on the held connection (the policy stayed)')
  t.ok(stays.reused, 'same connection')
  ok(t, await asClient(H, certPaths.bob, ['rm', third]), 'docker rm as bob on a new connection, still allowed')
  t.equal(await inspect(third), undefined, 'and it is gone from dockerd (direct)')
  const aliceStill = await asClient(H, certPaths.alice, ['ps', '-a', '--format', '{{.Names}}'])
  ok(t, aliceStill, 'alice still served')
  t.notOk(aliceStill.stdout.includes(first), 'and still sees none of bob\'s')
  await H.stop()
})

t.test('check --as answers per client from POLICY_FILE', async (t) => {
  const check = (as: string, method: string, path: string) => runBundle(['check', '--as', as, method, path], { ...ENVIRONMENT, POLICY_FILE: POLICY })
  const alice = await check('cn=alice', 'GET', '/containers/json')
  t.equal(alice.code, 0, 'cn=alice GET /containers/json: exit 0')
  t.match(alice.stdout, /^allowed \(profile alice\): .*GET \/containers\/json.*\(with OWNER=alice, dockmoat also asks dockerd/, 'allowed (profile alice), with the OWNER note')
  const aliceExec = await check('cn=alice', 'POST', '/containers/x/exec')
  t.equal(aliceExec.code, 1, 'cn=alice POST /containers/x/exec: exit 1')
  t.match(aliceExec.stdout, /^refused \(profile alice\): dockmoat refused POST \/containers\/x\/exec .*set EXEC=1/, 'refused (profile alice): EXEC is not the profile\'s')
  const bob = await check('cn=bob', 'GET', '/images/json')
  t.equal(bob.code, 1, 'cn=bob GET /images/json: exit 1')
  t.match(bob.stdout, /^refused \(profile bob\): .*set IMAGES=1/, 'refused (profile bob): set IMAGES=1')
  const bobTls = await check('cn=bob,listener=plain,address=127.0.0.1', 'GET', '/containers/json')
  t.equal(bobTls.code, 0, 'cn=bob on the plain listener: exit 0')
  t.match(bobTls.stdout, /^allowed \(profile plain-ro\): /, 'bob\'s profile needs listener tls: on plain he is plain-ro')
  const nobody = await check('cn=nobody', 'GET', '/containers/json')
  t.equal(nobody.code, 1, 'cn=nobody: exit 1')
  t.equal(nobody.stdout, `refused: no profile of ${POLICY} matches listener tls, address unix, cn nobody, and the file says unmatched: refuse\n`, 'refused: no profile matches')
  const sockB = await check('listener=sock-b', 'GET', '/images/json')
  t.equal(sockB.code, 0, 'listener=sock-b GET /images/json: exit 0')
  t.match(sockB.stdout, /^allowed \(profile sock-b\): /, 'allowed (profile sock-b)')
  const ci = await check('listener=ci,address=10.1.2.3', 'DELETE', '/containers/x')
  t.equal(ci.code, 1, 'listener=ci DELETE: exit 1')
  t.match(ci.stdout, /^refused \(profile ci\): .*set POST=1/, 'refused (profile ci): set POST=1')
  const bad = await check('who=alice', 'GET', '/containers/json')
  t.equal(bad.code, 2, '--as with an unknown key: exit 2')
  const noFile = await runBundle(['check', '--as', 'cn=alice', 'GET', '/containers/json'], ENVIRONMENT)
  t.equal(noFile.code, 2, '--as without POLICY_FILE: exit 2')
  t.match(noFile.stderr, /needs POLICY_FILE/, 'saying it needs POLICY_FILE')
})

t.test('ALLOW_NAMES and ALLOW_IMAGES through the real CLI, and who ran what in the log', async (t) => {
  const DEV = P.listeners.dev?.port
  t.ok(typeof DEV === 'number' && DEV > 0, `the dev listener (${DEV})`)
  const dev = (args: string[]): Promise<RunResult> => plain(DEV!, args)
  const allowed = `developers-${containerName('ok').slice('dockmoat-test-'.length)}`
  containers.push(allowed)
  const from = P.logs().length
  ok(t, await dev(['run', '-d', '--name', allowed, '-e', 'TOKEN=s3cr3t-never-logged', IMAGE, 'sleep', '300']), `docker run --name ${allowed} (matches \${PROFILE}-*, the allowed image)`)
  t.equal((await inspect(allowed))?.State?.Running, true, 'dockerd runs it (direct)')

  const stranger = containerName('web')
  refused(t, await dev(['run', '-d', '--name', stranger, IMAGE, 'true']), 'docker run --name outside ALLOW_NAMES',
    /the name "dockmoat-test-[^"]+" is not one ALLOW_NAMES allows \(developers-\*\).*\(POLICY_FILE profile developers\)/)
  t.equal(await inspect(stranger), undefined, '... and nothing was created (direct)')
  refused(t, await dev(['run', '-d', IMAGE, 'true']), 'docker run without --name', /the container has no name: name it .*ALLOW_NAMES allows \(developers-\*\).*\(POLICY_FILE profile developers\)/)
  refused(t, await dev(['rename', allowed, 'prod']), 'docker rename to a name outside ALLOW_NAMES', /the name "prod" is not one ALLOW_NAMES allows.*\(POLICY_FILE profile developers\)/)
  t.ok((await inspect(allowed)) !== undefined && (await inspect('prod')) === undefined, '... and dockerd still has it under its own name (direct)')
  refused(t, await dev(['pull', 'alpine:3.20']), 'docker pull of an image outside ALLOW_IMAGES',
    /pull fromImage "docker\.io\/library\/alpine:3\.20" \(docker\.io\/library\/alpine:3\.20\) is not in ALLOW_IMAGES=dockmoat-test-busybox.*\(POLICY_FILE profile developers\)/)
  const tagged = await dev(['tag', IMAGE, 'evil/app:1'])
  t.equal((await api('GET', '/images/evil/app:1/json')).status, 404, 'dockerd has no image evil/app:1 (direct)')
  refused(t, tagged, 'docker tag to a name outside ALLOW_IMAGES', /tag repo "docker\.io\/evil\/app:1" \(docker\.io\/evil\/app:1\) is not in ALLOW_IMAGES=dockmoat-test-busybox.*\(POLICY_FILE profile developers\)/)
  const id = (await direct(['image', 'inspect', IMAGE, '-f', '{{.Id}}'])).stdout.trim().replace(/^sha256:/, '').slice(0, 12)
  refused(t, await dev(['run', '-d', '--name', `${allowed}-id`, id, 'true']), 'docker run by image ID',
    /Image "[0-9a-f]{12}" may be an image ID [^\n]*name the image[^\n]*\(POLICY_FILE profile developers\)/)
  ok(t, await dev(['exec', allowed, 'echo', 'hello from exec']), 'docker exec in the allowed container')

  const logged = P.logs().slice(from)
  const create = logged.find((l) => l.route === 'POST /containers/create' && l.msg === 'request')
  t.equal(create?.image, IMAGE, 'the create line carries the image')
  t.same(create?.cmd, ['sleep', '300'], 'and the command')
  t.equal(create?.profile, 'developers', 'and the profile')
  const exec = logged.find((l) => l.route === 'POST /containers/{name}/exec')
  t.same(exec?.cmd, ['echo', 'hello from exec'], 'the exec create line carries its command')
  t.notOk(JSON.stringify(P.logs()).includes('s3cr3t-never-logged'), 'the environment of the create body appears in no log line')
  t.notMatch(P.stderr(), /s3cr3t-never-logged/, '... nor on stderr')
})
