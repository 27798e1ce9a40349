// The real docker CLI through dockmoat against the REAL dockerd: every toggle is tried
// both granted and refused, and refusals are checked against dockerd directly (nothing
// happened). One proxy process per configuration; scenarios are subtests under it.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  DOCKER_DIRECT_HOST, cleanup, docker, requireDocker, testImage, uniqueName, type RunResult,
} from '../helpers/docker.ts'
import { startProxy, type LogLine, type RunningProxy } from '../helpers/proxy.ts'

// The machine has 2 cores and other test files may run at the same time.
t.setTimeout(900_000)
const CLI_TIMEOUT = 120_000

await requireDocker()
const IMAGE = await testImage()

// ---------------------------------------------------------------------------
// Bookkeeping and cleanup (always directly against dockerd)

const made = { container: [] as string[], network: [] as string[], volume: [] as string[], image: [] as string[] }
const tmpDirs: string[] = []
t.teardown(async () => {
  await cleanup('container', made.container)
  await cleanup('network', made.network)
  await cleanup('volume', made.volume)
  await cleanup('image', made.image)
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true })
})

function name(kind: keyof typeof made, prefix: string): string {
  const n = uniqueName(prefix)
  made[kind].push(n)
  return n
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-cli-test-'))
  tmpDirs.push(dir)
  return dir
}

// ---------------------------------------------------------------------------
// Helpers

type T = Test

/** Starts a proxy for one configuration; stopped when the subtest ends. */
async function proxy(tt: T, env: Record<string, string>): Promise<RunningProxy> {
  const p = await startProxy(env)
  tt.teardown(async () => { await p.stop() })
  return p
}

/** The docker CLI through the proxy. */
function via(p: RunningProxy, args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<RunResult> {
  return docker(args, { host: p.dockerHost, timeoutMs: CLI_TIMEOUT, ...opts })
}

/** The docker CLI straight at dockerd (setup and verification). */
function direct(args: string[], opts: { input?: string | Buffer } = {}): Promise<RunResult> {
  return docker(args, { host: DOCKER_DIRECT_HOST, timeoutMs: CLI_TIMEOUT, ...opts })
}

async function mustDirect(tt: T, args: string[]): Promise<string> {
  const r = await direct(args)
  tt.equal(r.code, 0, `setup: docker ${args.join(' ')} (direct): ${r.stderr}`)
  return r.stdout
}

async function status(container: string): Promise<string> {
  const r = await direct(['inspect', '-f', '{{.State.Status}}', container])
  return r.code === 0 ? r.stdout.trim() : `(inspect failed: ${r.stderr.trim()})`
}

async function startedAt(container: string): Promise<string> {
  return (await direct(['inspect', '-f', '{{.State.StartedAt}}', container])).stdout.trim()
}

async function exists(kind: 'container' | 'network' | 'volume' | 'image', ref: string): Promise<boolean> {
  const r = await direct([kind, 'inspect', ref])
  return r.code === 0
}

/** Polls until fn() is true or ms elapse; returns the last value. */
async function eventually(fn: () => Promise<boolean>, ms = 30_000): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await fn()) return true
    if (Date.now() > deadline) return false
    await sleep(250)
  }
}

/** A container that runs until stopped and exits promptly on SIGTERM. */
const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']
/** A container that prints `<word> N` once a second. */
const counter = (word: string) => ['sh', '-c', `i=0; while :; do i=$((i+1)); echo ${word} $i; sleep 1; done`]

async function runningContainer(tt: T, prefix: string, cmd: string[] = SLEEPER): Promise<string> {
  const c = name('container', prefix)
  await mustDirect(tt, ['run', '-d', '--name', c, IMAGE, ...cmd])
  return c
}

/**
 * Asserts the CLI failed with dockmoat's refusal as printed by the docker CLI, naming
 * every variable in `variables` (as `X=1`) and, when given, the route template.
 */
function refused(tt: T, r: RunResult, variables: string[], route?: string): void {
  tt.not(r.code, 0, 'the CLI exits non-zero')
  tt.notOk(r.timedOut, 'the CLI did not hang')
  tt.match(r.stderr, 'Error response from daemon: dockmoat refused', 'the CLI prints dockmoat\'s refusal')
  for (const v of variables) tt.match(r.stderr, `${v}=1`, `the refusal names ${v}=1`)
  if (route !== undefined) tt.match(r.stderr, `(${route})`, `the refusal names the route ${route}`)
}

function ok(tt: T, r: RunResult, what: string): void {
  tt.equal(r.code, 0, `${what} succeeds (stderr: ${r.stderr.trim()})`)
  tt.notMatch(r.stderr, 'dockmoat refused', `${what}: nothing refused`)
}

/** Proxy log lines for requests (allowed or refused) logged after `from`. */
function requests(p: RunningProxy, from = 0): LogLine[] {
  return p.logs().slice(from).filter((l) => typeof l.route === 'string' || l.msg === 'refused')
}

/**
 * The proxy logs an exchange when it ends, which may be just after the CLI has exited:
 * waits (up to 15 s) until a logged request satisfies pred, then returns the lines.
 */
async function loggedRequests(p: RunningProxy, from: number, pred: (l: LogLine) => boolean): Promise<LogLine[]> {
  await eventually(async () => requests(p, from).some(pred), 15_000)
  return requests(p, from)
}

function routesOf(lines: LogLine[], decision?: 'allow' | 'deny'): string[] {
  return [...new Set(lines.filter((l) => decision === undefined || l.decision === decision).map((l) => String(l.route)))]
}

interface Background {
  child: ChildProcess
  out(): string
  err(): string
  running(): boolean
  exit: Promise<number>
  /** Resolves true once pred(stdout) holds, false on timeout or if the CLI exited first without it. */
  until(pred: (out: string) => boolean, ms?: number): Promise<boolean>
  /** Sends a signal and resolves the exit code (SIGKILL after 20 s if it is ignored). */
  kill(signal?: NodeJS.Signals): Promise<number>
}

/** A long-running docker CLI (logs -f, attach, events) whose output is read over time. */
function background(tt: T, args: string[], host: string): Background {
  const child = spawn('docker', args, {
    env: { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c })
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c })
  let done = false
  const exit = new Promise<number>((resolve) => {
    child.on('close', (code, signal) => {
      done = true
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 0))
    })
    child.on('error', (e) => { done = true; err += String(e); resolve(-1) })
  })
  tt.teardown(() => { if (!done) child.kill('SIGKILL') })
  return {
    child,
    out: () => out,
    err: () => err,
    running: () => !done,
    exit,
    async until(pred, ms = 60_000) {
      const deadline = Date.now() + ms
      for (;;) {
        if (pred(out)) return true
        if (done || Date.now() > deadline) return pred(out)
        await sleep(100)
      }
    },
    async kill(signal = 'SIGTERM') {
      if (!done) child.kill(signal)
      const timer = setTimeout(() => { if (!done) child.kill('SIGKILL') }, 20_000)
      const code = await exit
      clearTimeout(timer)
      return code
    },
  }
}

function maxNumber(text: string, word: string): number {
  let max = 0
  for (const m of text.matchAll(new RegExp(`^${word} (\\d+)$`, 'gm'))) max = Math.max(max, Number(m[1]))
  return max
}

// ---------------------------------------------------------------------------
// Defaults off: VERSION=0, INFO=0, EVENTS=0, nothing else granted

t.test('VERSION=0 INFO=0 EVENTS=0 (everything refused but ping)', async (t) => {
  const p = await proxy(t, { VERSION: '0', INFO: '0', EVENTS: '0' })
  const c = await runningContainer(t, 'nothing')

  t.test('docker version is refused with VERSION=0', async (t) => {
    const r = await via(p, ['version'])
    refused(t, r, ['VERSION'], 'GET /version')
    t.notMatch(r.stdout, /^Server:/m, 'no server section was printed')
  })

  t.test('docker info is refused without INFO', async (t) => {
    const r = await via(p, ['info'])
    t.not(r.code, 0, 'exit code')
    // `docker info` prints the server error on stdout or stderr depending on the CLI.
    t.match(r.stdout + r.stderr, 'Error response from daemon: dockmoat refused', 'refusal printed')
    t.match(r.stdout + r.stderr, 'INFO=1', 'names INFO=1')
    t.match(r.stdout + r.stderr, '(GET /info)', 'names the route')
  })

  t.test('docker ps and docker inspect are refused without CONTAINERS', async (t) => {
    refused(t, await via(p, ['ps', '-a']), ['CONTAINERS'], 'GET /containers/json')
    const r = await via(p, ['inspect', '--type', 'container', c])
    refused(t, r, ['CONTAINERS'], 'GET /containers/{name}/json')
    t.notMatch(r.stdout, c, 'no container data leaked')
  })

  t.test('docker events is refused with EVENTS=0', async (t) => {
    const r = await via(p, ['events', '--filter', 'type=container'])
    refused(t, r, ['EVENTS'], 'GET /events')
  })

  t.test('ALLOW_* grants are off by default: docker stop is refused', async (t) => {
    refused(t, await via(p, ['stop', c]), ['POST', 'CONTAINERS', 'ALLOW_STOP', 'ALLOW_RESTARTS'], 'POST /containers/{name}/stop')
    t.equal(await status(c), 'running', 'still running (direct)')
  })
})

// ---------------------------------------------------------------------------
// Read-only: CONTAINERS=1 INFO=1 NETWORKS=1 VOLUMES=1, POST=0, defaults for the rest

t.test('read-only: CONTAINERS=1 INFO=1 NETWORKS=1 VOLUMES=1 (POST=0)', async (t) => {
  const p = await proxy(t, { CONTAINERS: '1', INFO: '1', NETWORKS: '1', VOLUMES: '1' })
  const c = await runningContainer(t, 'ro')

  t.test('docker version works (VERSION on by default)', async (t) => {
    const r = await via(p, ['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}}'])
    ok(t, r, 'docker version')
    const d = await direct(['version', '--format', '{{.Server.Version}} {{.Server.APIVersion}}'])
    t.equal(r.stdout.trim(), d.stdout.trim(), 'same server version as dockerd reports directly')
    t.match(r.stdout, /^\d+\.\d+\.\d+\S* 1\.\d+$/m, 'a server version was printed')
  })

  t.test('docker info works with INFO=1', async (t) => {
    const r = await via(p, ['info', '--format', '{{.ID}} {{.Name}}'])
    ok(t, r, 'docker info')
    const d = await direct(['info', '--format', '{{.ID}} {{.Name}}'])
    t.equal(r.stdout.trim(), d.stdout.trim(), 'same daemon ID and name as directly')
    t.ok(r.stdout.trim().length > 1, 'non-empty')
  })

  t.test('docker ps and docker inspect work with CONTAINERS=1', async (t) => {
    const ps = await via(p, ['ps', '--filter', `name=^/${c}$`, '--format', '{{.Names}} {{.State}}'])
    ok(t, ps, 'docker ps')
    t.equal(ps.stdout.trim(), `${c} running`, 'the container is listed')
    const r = await via(p, ['inspect', '-f', '{{.Id}} {{.Name}}', c])
    ok(t, r, 'docker inspect')
    const id = (await direct(['inspect', '-f', '{{.Id}}', c])).stdout.trim()
    t.equal(r.stdout.trim(), `${id} /${c}`, 'inspect through the proxy matches dockerd')
  })

  t.test('docker logs is refused without ALLOW_LOGS', async (t) => {
    const r = await via(p, ['logs', c])
    refused(t, r, ['ALLOW_LOGS'], 'GET /containers/{name}/logs')
    t.match(r.stderr, 'CONTAINERS=1 already set', 'says CONTAINERS=1 is already set')
    const f = await via(p, ['logs', '-f', c])
    refused(t, f, ['ALLOW_LOGS'], 'GET /containers/{name}/logs')
  })

  t.test('docker run -d is refused with POST=0, and nothing is created', async (t) => {
    const n = name('container', 'ro-run')
    const r = await via(p, ['run', '-d', '--name', n, IMAGE, 'true'])
    refused(t, r, ['POST'], 'POST /containers/create')
    t.equal(await exists('container', n), false, 'no container was created (direct)')
  })

  t.test('docker rm is refused with POST=0, and the container stays', async (t) => {
    const n = name('container', 'ro-rm')
    await mustDirect(t, ['create', '--name', n, IMAGE, 'true'])
    refused(t, await via(p, ['rm', n]), ['POST'], 'DELETE /containers/{name}')
    t.equal(await exists('container', n), true, 'container still exists (direct)')
  })

  t.test('refusal message of docker stop names the route, POST=1, ALLOW_STOP=1 and ALLOW_RESTARTS=1', async (t) => {
    const r = await via(p, ['stop', c])
    refused(t, r, ['POST', 'ALLOW_STOP', 'ALLOW_RESTARTS'], 'POST /containers/{name}/stop')
    t.match(r.stderr, new RegExp(
      `^Error response from daemon: dockmoat refused POST /v1\\.\\d+/containers/${c}/stop \\(POST /containers/\\{name\\}/stop\\): ` +
      'set POST=1 \\(CONTAINERS=1 already set\\), or ALLOW_STOP=1, or ALLOW_RESTARTS=1$', 'm'), 'the whole message, as the CLI prints it')
    t.equal(await status(c), 'running', 'still running (direct)')
  })

  t.test('start/restart/kill/pause are refused with POST=0', async (t) => {
    refused(t, await via(p, ['kill', c]), ['POST', 'ALLOW_RESTARTS'], 'POST /containers/{name}/kill')
    refused(t, await via(p, ['restart', c]), ['POST', 'ALLOW_RESTARTS'], 'POST /containers/{name}/restart')
    refused(t, await via(p, ['pause', c]), ['POST', 'ALLOW_PAUSE'], 'POST /containers/{name}/pause')
    t.equal(await status(c), 'running', 'still running (direct)')
    const stopped = name('container', 'ro-start')
    await mustDirect(t, ['create', '--name', stopped, IMAGE, ...SLEEPER])
    refused(t, await via(p, ['start', stopped]), ['POST', 'ALLOW_START'], 'POST /containers/{name}/start')
    t.equal(await status(stopped), 'created', 'not started (direct)')
  })

  t.test('docker exec is refused without EXEC and POST, and nothing runs', async (t) => {
    const r = await via(p, ['exec', c, 'touch', '/tmp/pwned'])
    refused(t, r, ['EXEC', 'POST'], 'POST /containers/{name}/exec')
    const check = await direct(['exec', c, 'test', '-e', '/tmp/pwned'])
    t.equal(check.code, 1, 'the file was not created (direct)')
  })

  t.test('docker cp is refused without ALLOW_ARCHIVE', async (t) => {
    const dir = tempDir()
    const r = await via(p, ['cp', `${c}:/bin/busybox`, join(dir, 'busybox')])
    refused(t, r, ['ALLOW_ARCHIVE'], 'GET /containers/{name}/archive')
  })

  t.test('docker build is refused without BUILD and POST', async (t) => {
    const dir = tempDir()
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGE}\nRUN echo built > /built\n`)
    const img = name('image', 'ro-build')
    const r = await via(p, ['build', '-t', img, dir])
    refused(t, r, ['BUILD', 'POST'], 'POST /build')
    t.equal(await exists('image', img), false, 'no image was built (direct)')
  })

  t.test('docker network ls works with NETWORKS=1; create and rm are refused with POST=0', async (t) => {
    const existing = name('network', 'ro-net')
    await mustDirect(t, ['network', 'create', existing])
    const ls = await via(p, ['network', 'ls', '--format', '{{.Name}}'])
    ok(t, ls, 'docker network ls')
    t.match(ls.stdout, new RegExp(`^${existing}$`, 'm'), 'lists a network created directly')

    const n = name('network', 'ro-net-new')
    refused(t, await via(p, ['network', 'create', n]), ['POST'], 'POST /networks/create')
    t.equal(await exists('network', n), false, 'network not created (direct)')

    refused(t, await via(p, ['network', 'rm', existing]), ['POST'], 'DELETE /networks/{id}')
    t.equal(await exists('network', existing), true, 'network still exists (direct)')
  })

  t.test('docker volume ls works with VOLUMES=1; create and rm are refused with POST=0', async (t) => {
    const existing = name('volume', 'ro-vol')
    await mustDirect(t, ['volume', 'create', existing])
    const ls = await via(p, ['volume', 'ls', '--format', '{{.Name}}'])
    ok(t, ls, 'docker volume ls')
    t.match(ls.stdout, new RegExp(`^${existing}$`, 'm'), 'lists a volume created directly')

    const v = name('volume', 'ro-vol-new')
    refused(t, await via(p, ['volume', 'create', v]), ['POST'], 'POST /volumes/create')
    t.equal(await exists('volume', v), false, 'volume NOT created (direct)')

    refused(t, await via(p, ['volume', 'rm', existing]), ['POST'], 'DELETE /volumes/{name}')
    t.equal(await exists('volume', existing), true, 'volume still exists (direct)')
  })

  t.test('docker events receives a live event (EVENTS on by default)', async (t) => {
    const target = name('container', 'ro-events')
    await mustDirect(t, ['create', '--name', target, IMAGE, 'true'])
    const events = background(t, [
      'events', '--filter', 'type=container', '--filter', 'event=start', '--format', '{{.Actor.Attributes.name}}',
    ], p.dockerHost)
    // The CLI cannot tell us when its stream is connected: start the container (directly)
    // again until its start event arrives through the proxy.
    let seen = false
    for (let attempt = 0; attempt < 20 && !seen && events.running(); attempt++) {
      await mustDirect(t, ['start', target])
      seen = await events.until((out) => out.split('\n').includes(target), 3000)
    }
    t.ok(seen, `the start event of ${target} arrived through the proxy (stdout: ${JSON.stringify(events.out().slice(-500))}, stderr: ${events.err()})`)
    t.ok(events.running(), 'docker events is still streaming')
    t.notMatch(events.err(), 'dockmoat refused', 'nothing refused')
    await events.kill()
  })
})

// ---------------------------------------------------------------------------
// Logs: CONTAINERS=1 ALLOW_LOGS=1

t.test('CONTAINERS=1 ALLOW_LOGS=1: docker logs and docker logs -f', async (t) => {
  const p = await proxy(t, { CONTAINERS: '1', ALLOW_LOGS: '1' })

  t.test('docker logs prints stdout and stderr', async (t) => {
    const c = name('container', 'logs')
    await mustDirect(t, ['run', '--name', c, IMAGE, 'sh', '-c', 'echo to-stdout; echo to-stderr >&2'])
    const r = await via(p, ['logs', c])
    ok(t, r, 'docker logs')
    t.equal(r.stdout, 'to-stdout\n', 'stdout')
    t.equal(r.stderr, 'to-stderr\n', 'stderr')
  })

  t.test('docker logs -f stays open and streams new lines', async (t) => {
    const c = await runningContainer(t, 'logs-f', counter('line'))
    const logs = background(t, ['logs', '-f', c], p.dockerHost)
    t.ok(await logs.until((out) => maxNumber(out, 'line') >= 1), `first line arrives (stderr: ${logs.err()})`)
    const first = maxNumber(logs.out(), 'line')
    t.ok(await logs.until((out) => maxNumber(out, 'line') >= first + 2),
      `at least 2 more lines arrive over time after line ${first} (got ${JSON.stringify(logs.out().slice(-200))})`)
    t.ok(logs.running(), 'docker logs -f is still running')
    const lines = logs.out().trim().split('\n')
    t.same(lines, lines.map((_, i) => `line ${i + 1}`), 'every line, in order, none lost or duplicated')
    t.notMatch(logs.err(), 'dockmoat refused', 'nothing refused')
    const code = await logs.kill('SIGTERM')
    t.equal(code, 143, 'the CLI was still streaming and ended on SIGTERM')
    t.equal(logs.running(), false, 'the CLI is gone')
  })

  t.test('docker logs is refused with ALLOW_LOGS but without CONTAINERS', async (t) => {
    const p2 = await proxy(t, { ALLOW_LOGS: '1' })
    const c = name('container', 'logs-noc')
    await mustDirect(t, ['run', '--name', c, IMAGE, 'echo', 'secret'])
    const r = await via(p2, ['logs', c])
    refused(t, r, ['CONTAINERS'])
    t.notMatch(r.stdout, 'secret', 'no log data leaked')
  })
})

// ---------------------------------------------------------------------------
// Writes: CONTAINERS=1 POST=1

t.test('CONTAINERS=1 POST=1: run, lifecycle, attach, rm', async (t) => {
  const p = await proxy(t, { CONTAINERS: '1', POST: '1' })

  t.test('docker run -d creates and starts a container', async (t) => {
    const c = name('container', 'w-run')
    const r = await via(p, ['run', '-d', '--name', c, IMAGE, ...SLEEPER])
    ok(t, r, 'docker run -d')
    const id = (await direct(['inspect', '-f', '{{.Id}}', c])).stdout.trim()
    t.equal(r.stdout.trim(), id, 'printed the id dockerd knows')
    t.equal(await status(c), 'running', 'running (direct)')
  })

  t.test('start/stop/restart/kill/pause/unpause', async (t) => {
    const c = await runningContainer(t, 'w-life')
    ok(t, await via(p, ['stop', '-t', '5', c]), 'docker stop')
    t.equal(await status(c), 'exited', 'stopped (direct)')
    ok(t, await via(p, ['start', c]), 'docker start')
    t.equal(await status(c), 'running', 'started (direct)')
    const before = await startedAt(c)
    ok(t, await via(p, ['restart', '-t', '5', c]), 'docker restart')
    t.equal(await status(c), 'running', 'running after restart (direct)')
    t.not(await startedAt(c), before, 'restarted: StartedAt changed (direct)')
    ok(t, await via(p, ['pause', c]), 'docker pause')
    t.equal(await status(c), 'paused', 'paused (direct)')
    ok(t, await via(p, ['unpause', c]), 'docker unpause')
    t.equal(await status(c), 'running', 'unpaused (direct)')
    ok(t, await via(p, ['kill', c]), 'docker kill')
    t.ok(await eventually(async () => (await status(c)) === 'exited'), 'killed (direct)')
    t.equal((await direct(['inspect', '-f', '{{.State.ExitCode}}', c])).stdout.trim(), '137', 'killed by SIGKILL')
  })

  t.test('docker run --rm IMAGE echo x prints x (attached run)', async (t) => {
    const c = name('container', 'w-rm')
    const r = await via(p, ['run', '--rm', '--name', c, IMAGE, 'echo', 'x'])
    ok(t, r, 'docker run --rm')
    t.equal(r.stdout, 'x\n', 'prints x')
    t.ok(await eventually(async () => !(await exists('container', c))), 'the container was removed (direct)')
  })

  t.test('attached run propagates the exit code and stderr', async (t) => {
    const r = await via(p, ['run', '--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 7'])
    t.equal(r.code, 7, 'exit code 7')
    t.equal(r.stdout, 'out\n')
    t.equal(r.stderr, 'err\n')
  })

  t.test('docker attach --no-stdin shows output until the container ends', async (t) => {
    const c = await runningContainer(t, 'w-attach', counter('tick'))
    const from = p.logs().length
    const attach = background(t, ['attach', '--no-stdin', '--sig-proxy=false', c], p.dockerHost)
    t.ok(await attach.until((out) => maxNumber(out, 'tick') >= 1), `output arrives (stderr: ${attach.err()})`)
    const first = maxNumber(attach.out(), 'tick')
    t.ok(await attach.until((out) => maxNumber(out, 'tick') >= first + 1), 'more output arrives over time')
    t.ok(attach.running(), 'docker attach is still attached')
    await mustDirect(t, ['kill', c])
    const timer = setTimeout(() => attach.child.kill('SIGKILL'), 60_000)
    const code = await attach.exit
    clearTimeout(timer)
    t.equal(code, 137, 'docker attach ended by itself with the container\'s exit code')
    t.notMatch(attach.err(), 'dockmoat refused', 'nothing refused')
    const upgraded = (l: LogLine) => l.route === 'POST /containers/{name}/attach' && l.status === 101
    t.ok((await loggedRequests(p, from, upgraded)).some(upgraded),
      'the attach was upgraded (101) through the proxy')
  })

  t.test('docker rm removes a container', async (t) => {
    const c = name('container', 'w-rm2')
    await mustDirect(t, ['create', '--name', c, IMAGE, 'true'])
    ok(t, await via(p, ['rm', c]), 'docker rm')
    t.equal(await exists('container', c), false, 'gone (direct)')
  })

  t.test('docker exec is refused without EXEC, and nothing runs', async (t) => {
    const c = await runningContainer(t, 'w-noexec')
    const r = await via(p, ['exec', c, 'touch', '/tmp/pwned'])
    refused(t, r, ['EXEC'], 'POST /containers/{name}/exec')
    t.match(r.stderr, 'POST=1 already set')
    t.equal((await direct(['exec', c, 'test', '-e', '/tmp/pwned'])).code, 1, 'the file was not created (direct)')
  })

  t.test('docker cp to a container is refused without ALLOW_ARCHIVE', async (t) => {
    const c = await runningContainer(t, 'w-nocp')
    const dir = tempDir()
    writeFileSync(join(dir, 'upload.txt'), 'nope\n')
    const r = await via(p, ['cp', join(dir, 'upload.txt'), `${c}:/tmp/upload.txt`])
    refused(t, r, ['ALLOW_ARCHIVE'], 'PUT /containers/{name}/archive')
    t.equal((await direct(['exec', c, 'test', '-e', '/tmp/upload.txt'])).code, 1, 'no file arrived (direct)')
  })

  t.test('docker build is refused without BUILD', async (t) => {
    const dir = tempDir()
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGE}\nRUN echo built > /built\n`)
    const img = name('image', 'w-nobuild')
    refused(t, await via(p, ['build', '-t', img, dir]), ['BUILD'], 'POST /build')
    t.equal(await exists('image', img), false, 'no image (direct)')
  })

  t.test('docker network create is refused without NETWORKS', async (t) => {
    const n = name('network', 'w-nonet')
    refused(t, await via(p, ['network', 'create', n]), ['NETWORKS'], 'POST /networks/create')
    t.equal(await exists('network', n), false, 'no network (direct)')
  })

  t.test('docker volume create is refused without VOLUMES', async (t) => {
    const v = name('volume', 'w-novol')
    const r = await via(p, ['volume', 'create', v])
    refused(t, r, ['VOLUMES'], 'POST /volumes/create')
    t.match(r.stderr, 'POST=1 already set')
    t.equal(await exists('volume', v), false, 'the volume does NOT exist (direct)')
  })
})

// ---------------------------------------------------------------------------
// Action grants alone: POST=0, CONTAINERS=0

t.test('ALLOW_START=1 alone (POST=0, CONTAINERS=0)', async (t) => {
  const p = await proxy(t, { ALLOW_START: '1' })
  const c = name('container', 'a-start')
  await mustDirect(t, ['create', '--name', c, IMAGE, ...SLEEPER])
  const from = p.logs().length
  ok(t, await via(p, ['start', c]), 'docker start')
  t.equal(await status(c), 'running', 'started (direct)')
  const started = (l: LogLine) => l.route === 'POST /containers/{name}/start' && l.decision === 'allow' && l.status === 204
  const lines = await loggedRequests(p, from, started)
  t.same(routesOf(lines, 'deny'), [], 'docker start made no refused call')
  t.ok(lines.some(started),
    `POST /containers/{name}/start was forwarded (calls: ${routesOf(lines).join(', ')})`)

  refused(t, await via(p, ['stop', c]), ['ALLOW_STOP', 'ALLOW_RESTARTS'], 'POST /containers/{name}/stop')
  refused(t, await via(p, ['kill', c]), ['ALLOW_RESTARTS'], 'POST /containers/{name}/kill')
  refused(t, await via(p, ['restart', c]), ['ALLOW_RESTARTS'], 'POST /containers/{name}/restart')
  refused(t, await via(p, ['pause', c]), ['ALLOW_PAUSE'], 'POST /containers/{name}/pause')
  t.equal(await status(c), 'running', 'ALLOW_START does not allow stop/kill/restart/pause: still running (direct)')
  refused(t, await via(p, ['ps']), ['CONTAINERS'], 'GET /containers/json')
  refused(t, await via(p, ['rm', '-f', c]), ['CONTAINERS', 'POST'], 'DELETE /containers/{name}')
  t.equal(await exists('container', c), true, 'not removed (direct)')
})

t.test('ALLOW_STOP=1 alone (POST=0, CONTAINERS=0)', async (t) => {
  const p = await proxy(t, { ALLOW_STOP: '1' })
  const c = await runningContainer(t, 'a-stop')
  refused(t, await via(p, ['kill', c]), ['ALLOW_RESTARTS'], 'POST /containers/{name}/kill')
  refused(t, await via(p, ['restart', c]), ['ALLOW_RESTARTS'], 'POST /containers/{name}/restart')
  t.equal(await status(c), 'running', 'kill and restart did nothing (direct)')
  // Log lines are written asynchronously: let the refusals above land before counting.
  await loggedRequests(p, 0, (l) => l.route === 'POST /containers/{name}/restart')
  const from = p.logs().length
  ok(t, await via(p, ['stop', '-t', '5', c]), 'docker stop')
  t.equal(await status(c), 'exited', 'stopped (direct)')
  const stopped = await loggedRequests(p, from, (l) => l.route === 'POST /containers/{name}/stop')
  t.same(routesOf(stopped, 'deny'), [], 'docker stop made no refused call')
  t.ok(stopped.some((l) => l.route === 'POST /containers/{name}/stop' && l.decision === 'allow'), 'POST /containers/{name}/stop was forwarded')
  refused(t, await via(p, ['start', c]), ['ALLOW_START'], 'POST /containers/{name}/start')
  t.equal(await status(c), 'exited', 'ALLOW_STOP does not allow start (direct)')
})

t.test('ALLOW_RESTARTS=1 alone (POST=0, CONTAINERS=0): restart, kill and stop', async (t) => {
  const p = await proxy(t, { ALLOW_RESTARTS: '1' })
  const c = await runningContainer(t, 'a-restarts')
  const before = await startedAt(c)
  ok(t, await via(p, ['restart', '-t', '5', c]), 'docker restart')
  t.equal(await status(c), 'running', 'running after restart (direct)')
  t.not(await startedAt(c), before, 'restarted: StartedAt changed (direct)')
  ok(t, await via(p, ['kill', c]), 'docker kill')
  t.ok(await eventually(async () => (await status(c)) === 'exited'), 'killed (direct)')
  refused(t, await via(p, ['start', c]), ['ALLOW_START'], 'POST /containers/{name}/start')
  t.equal(await status(c), 'exited', 'ALLOW_RESTARTS does not allow start (direct)')
  await mustDirect(t, ['start', c])
  refused(t, await via(p, ['pause', c]), ['ALLOW_PAUSE'], 'POST /containers/{name}/pause')
  t.equal(await status(c), 'running', 'not paused (direct)')
  ok(t, await via(p, ['stop', '-t', '5', c]), 'docker stop')
  t.equal(await status(c), 'exited', 'stopped (direct)')
})

t.test('ALLOW_PAUSE=1 alone (POST=0, CONTAINERS=0)', async (t) => {
  const p = await proxy(t, { ALLOW_PAUSE: '1' })
  const c = await runningContainer(t, 'a-pause')
  ok(t, await via(p, ['pause', c]), 'docker pause')
  t.equal(await status(c), 'paused', 'paused (direct)')
  refused(t, await via(p, ['unpause', c]), ['ALLOW_UNPAUSE'], 'POST /containers/{name}/unpause')
  t.equal(await status(c), 'paused', 'ALLOW_PAUSE does not allow unpause (direct)')
  await mustDirect(t, ['unpause', c])
  refused(t, await via(p, ['stop', c]), ['ALLOW_STOP'], 'POST /containers/{name}/stop')
  t.equal(await status(c), 'running', 'not stopped (direct)')
})

t.test('ALLOW_UNPAUSE=1 alone (POST=0, CONTAINERS=0)', async (t) => {
  const p = await proxy(t, { ALLOW_UNPAUSE: '1' })
  const c = await runningContainer(t, 'a-unpause')
  refused(t, await via(p, ['pause', c]), ['ALLOW_PAUSE'], 'POST /containers/{name}/pause')
  t.equal(await status(c), 'running', 'ALLOW_UNPAUSE does not allow pause (direct)')
  await mustDirect(t, ['pause', c])
  ok(t, await via(p, ['unpause', c]), 'docker unpause')
  t.equal(await status(c), 'running', 'unpaused (direct)')
})

// ---------------------------------------------------------------------------
// Exec: CONTAINERS=1 POST=1 EXEC=1 (the CLI inspects the container first)

t.test('CONTAINERS=1 POST=1 EXEC=1: docker exec', async (t) => {
  const p = await proxy(t, { CONTAINERS: '1', POST: '1', EXEC: '1' })
  const c = await runningContainer(t, 'exec')

  t.test('docker exec c echo hi (without -i) prints its output', async (t) => {
    const from = p.logs().length
    const r = await via(p, ['exec', c, 'echo', 'hi'])
    ok(t, r, 'docker exec')
    t.equal(r.stdout, 'hi\n', 'prints hi')
    const routes = routesOf(await loggedRequests(p, from, (l) => l.route === 'POST /exec/{name}/start'))
    t.ok(routes.includes('POST /containers/{name}/exec') && routes.includes('POST /exec/{name}/start'),
      `exec create and start went through the proxy (calls: ${routes.join(', ')})`)
  })

  t.test('stdout and stderr are kept apart without -i', async (t) => {
    const r = await via(p, ['exec', c, 'sh', '-c', 'echo out; echo err >&2'])
    ok(t, r, 'docker exec')
    t.equal(r.stdout, 'out\n')
    t.equal(r.stderr, 'err\n')
  })

  t.test('the exit code propagates', async (t) => {
    const r = await via(p, ['exec', c, 'sh', '-c', 'exit 3'])
    t.equal(r.code, 3, `exit code 3 (stderr: ${r.stderr})`)
    t.notMatch(r.stderr, 'dockmoat refused')
  })

  t.test('echo hi | docker exec -i c cat prints hi (stdin half-close)', async (t) => {
    const r = await via(p, ['exec', '-i', c, 'cat'], { input: 'hi\n' })
    ok(t, r, 'docker exec -i cat')
    t.notOk(r.timedOut, 'cat saw the end of its input')
    t.equal(r.stdout, 'hi\n', 'prints hi')
  })

  t.test('5 MiB of stdin arrive whole', async (t) => {
    const data = randomBytes(5 * 1024 * 1024)
    const wc = await via(p, ['exec', '-i', c, 'wc', '-c'], { input: data })
    ok(t, wc, 'docker exec -i wc -c')
    t.equal(wc.stdout.trim(), String(5 * 1024 * 1024), 'exact byte count')
    const md5 = await via(p, ['exec', '-i', c, 'md5sum'], { input: data })
    ok(t, md5, 'docker exec -i md5sum')
    t.equal(md5.stdout.split(/\s+/)[0], createHash('md5').update(data).digest('hex'), 'exact content')
  })

  t.test('docker exec writes into the container', async (t) => {
    ok(t, await via(p, ['exec', c, 'sh', '-c', 'echo made-by-exec > /tmp/exec.txt']), 'docker exec')
    t.equal((await direct(['exec', c, 'cat', '/tmp/exec.txt'])).stdout, 'made-by-exec\n', 'the file exists (direct)')
  })
})

// ---------------------------------------------------------------------------
// Archive: docker cp

t.test('CONTAINERS=1 POST=1 ALLOW_ARCHIVE=1: docker cp both ways', async (t) => {
  const p = await proxy(t, { CONTAINERS: '1', POST: '1', ALLOW_ARCHIVE: '1' })
  const c = await runningContainer(t, 'cp')
  const dir = tempDir()

  t.test('host to container', async (t) => {
    const content = `uploaded ${randomBytes(8).toString('hex')}\n`
    writeFileSync(join(dir, 'up.txt'), content)
    ok(t, await via(p, ['cp', join(dir, 'up.txt'), `${c}:/tmp/up.txt`]), 'docker cp to the container')
    t.equal((await direct(['exec', c, 'cat', '/tmp/up.txt'])).stdout, content, 'content in the container (direct)')
  })

  // The CLI streams the tar chunked: many chunks per read of the client's socket, which
  // dockmoat re-frames for dockerd (relay.ts); the file must arrive exact.
  t.test('host to container, 8 MiB', async (t) => {
    const content = randomBytes(8 * 1024 * 1024)
    writeFileSync(join(dir, 'big.bin'), content)
    ok(t, await via(p, ['cp', join(dir, 'big.bin'), `${c}:/tmp/big.bin`]), 'docker cp to the container')
    const sum = (await direct(['exec', c, 'sha256sum', '/tmp/big.bin'])).stdout.split(' ')[0]
    t.equal(sum, createHash('sha256').update(content).digest('hex'), 'the same bytes in the container (sha256, direct)')
  })

  t.test('container to host', async (t) => {
    const content = `downloaded ${randomBytes(8).toString('hex')}`
    await mustDirect(t, ['exec', c, 'sh', '-c', `echo ${content} > /tmp/down.txt`])
    ok(t, await via(p, ['cp', `${c}:/tmp/down.txt`, join(dir, 'down.txt')]), 'docker cp from the container')
    t.equal(readFileSync(join(dir, 'down.txt'), 'utf8'), `${content}\n`, 'content on the host')
  })
})

t.test('CONTAINERS=1 ALLOW_ARCHIVE=1 BUILD=1 (POST=0): cp from works, cp to and build are refused', async (t) => {
  const p = await proxy(t, { CONTAINERS: '1', ALLOW_ARCHIVE: '1', BUILD: '1' })
  const c = await runningContainer(t, 'cp-ro')
  const dir = tempDir()
  await mustDirect(t, ['exec', c, 'sh', '-c', 'echo readable > /tmp/r.txt'])
  ok(t, await via(p, ['cp', `${c}:/tmp/r.txt`, join(dir, 'r.txt')]), 'docker cp from the container')
  t.equal(readFileSync(join(dir, 'r.txt'), 'utf8'), 'readable\n', 'content on the host')

  writeFileSync(join(dir, 'w.txt'), 'written\n')
  const r = await via(p, ['cp', join(dir, 'w.txt'), `${c}:/tmp/w.txt`])
  refused(t, r, ['POST'], 'PUT /containers/{name}/archive')
  t.equal((await direct(['exec', c, 'test', '-e', '/tmp/w.txt'])).code, 1, 'no file arrived (direct)')

  writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGE}\nRUN echo built > /built\n`)
  const img = name('image', 'cp-ro-build')
  const b = await via(p, ['build', '-t', img, dir])
  refused(t, b, ['POST'], 'POST /build')
  t.match(b.stderr, 'BUILD=1 already set')
  t.equal(await exists('image', img), false, 'no image (direct)')
})

// ---------------------------------------------------------------------------
// Build: BUILD=1 POST=1 (the legacy builder calls only /_ping and POST /build)

t.test('BUILD=1 POST=1: docker build with the legacy builder', async (t) => {
  const p = await proxy(t, { BUILD: '1', POST: '1' })
  const dir = tempDir()
  const stamp = randomBytes(8).toString('hex')
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGE}\nRUN echo built > /built\nCOPY ctx.txt /ctx.txt\n`)
  writeFileSync(join(dir, 'ctx.txt'), `context ${stamp}\n`)
  const img = name('image', 'build')
  const from = p.logs().length
  const r = await via(p, ['build', '-t', img, dir], { env: { DOCKER_BUILDKIT: '0' } })
  ok(t, r, 'docker build')
  t.match(r.stdout, /Successfully built [0-9a-f]+/, 'the build finished')
  t.match(r.stdout, `Successfully tagged ${img}:latest`, 'and was tagged')
  const lines = await loggedRequests(p, from, (l) => l.route === 'POST /build')
  t.same(routesOf(lines, 'deny'), [], 'docker build made no refused call (IMAGES is not needed)')
  t.ok(lines.some((l) => l.route === 'POST /build' && l.decision === 'allow'), `POST /build went through (calls: ${routesOf(lines).join(', ')})`)
  const check = await direct(['run', '--rm', img, 'cat', '/built', '/ctx.txt'])
  t.equal(check.stdout, `built\ncontext ${stamp}\n`, 'the image has the RUN output and the COPYed context file (direct)')
  await cleanup('image', [img])
  t.equal(await exists('image', img), false, 'built image removed')
})

// ---------------------------------------------------------------------------
// Networks and volumes: NETWORKS=1 VOLUMES=1 POST=1

t.test('NETWORKS=1 VOLUMES=1 POST=1: network and volume create/ls/rm', async (t) => {
  const p = await proxy(t, { NETWORKS: '1', VOLUMES: '1', POST: '1' })

  t.test('docker network create/ls/rm', async (t) => {
    const n = name('network', 'net')
    ok(t, await via(p, ['network', 'create', n]), 'docker network create')
    t.equal(await exists('network', n), true, 'created (direct)')
    const ls = await via(p, ['network', 'ls', '--format', '{{.Name}}'])
    ok(t, ls, 'docker network ls')
    t.match(ls.stdout, new RegExp(`^${n}$`, 'm'), 'listed')
    ok(t, await via(p, ['network', 'rm', n]), 'docker network rm')
    t.equal(await exists('network', n), false, 'removed (direct)')
  })

  t.test('docker volume create/ls/rm', async (t) => {
    const v = name('volume', 'vol')
    ok(t, await via(p, ['volume', 'create', v]), 'docker volume create')
    t.equal(await exists('volume', v), true, 'created (direct)')
    const ls = await via(p, ['volume', 'ls', '--format', '{{.Name}}'])
    ok(t, ls, 'docker volume ls')
    t.match(ls.stdout, new RegExp(`^${v}$`, 'm'), 'listed')
    ok(t, await via(p, ['volume', 'rm', v]), 'docker volume rm')
    t.equal(await exists('volume', v), false, 'removed (direct)')
  })

  t.test('containers stay refused', async (t) => {
    refused(t, await via(p, ['ps']), ['CONTAINERS'], 'GET /containers/json')
  })
})
