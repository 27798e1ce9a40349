// Issue 14's proof of MODE=audit and `dockmoat learn` with real clients against the REAL
// dockerd. For each client: an audit-mode dockmoat with nothing granted serves it, the
// real CLI `dockmoat learn` reads that proxy's log, an enforcing dockmoat with exactly the
// printed variables serves the same session again without one refusal, and a call
// outside the session is refused naming the variable that would allow it. Every object
// is created under a unique name and removed directly on dockerd, also on failure.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import Docker from 'dockerode'
import {
  DOCKER_DIRECT_HOST, api, cleanup, compose, docker, requireDocker, testImage, uniqueName, type RunResult,
} from '../helpers/docker.ts'
import { BUNDLE, runBundle, startProxy, type LogLine, type RunningProxy } from '../helpers/proxy.ts'
import { decide } from '../../src/policy.ts'
import { parseConfig, TOGGLES, type Toggle } from '../../src/settings.ts'

t.setTimeout(280_000)
await requireDocker()
const IMAGE = await testImage()
const CLI_TIMEOUT = 120_000

// ---------------------------------------------------------------------------------------
// Bookkeeping: everything made is removed straight on dockerd when the file ends.

const made = { container: [] as string[], network: [] as string[], volume: [] as string[] }
const tmpDirs: string[] = []
t.teardown(async () => {
  await cleanup('container', made.container)
  await cleanup('network', made.network)
  await cleanup('volume', made.volume)
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true })
})

function named(kind: keyof typeof made, prefix: string): string {
  const name = uniqueName(prefix)
  made[kind].push(name)
  return name
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `dockmoat-learn-${prefix}-`))
  tmpDirs.push(dir)
  return dir
}

const direct = (args: string[]): Promise<RunResult> => docker(args, { host: DOCKER_DIRECT_HOST, timeoutMs: CLI_TIMEOUT })
const via = (p: RunningProxy, args: string[]): Promise<RunResult> => docker(args, { host: p.dockerHost, timeoutMs: CLI_TIMEOUT })

function ok(t: Test, r: RunResult, what: string): void {
  t.equal(r.code, 0, `${what} succeeds (stderr: ${r.stderr.trim()})`)
}

async function exists(kind: 'container' | 'network' | 'volume', name: string): Promise<boolean> {
  return (await direct([kind, 'inspect', name])).code === 0
}

/** A container made directly on dockerd (not through any proxy); returns its id. */
async function directContainer(t: Test, prefix: string, cmd: string[], run = true): Promise<{ name: string; id: string }> {
  const name = named('container', prefix)
  const r = await direct([run ? 'run' : 'create', ...(run ? ['-d'] : []), '--name', name, '--label', 'traefik.enable=true', IMAGE, ...cmd])
  t.equal(r.code, 0, `setup: ${name} made directly on dockerd (${r.stderr.trim()})`)
  return { name, id: r.stdout.trim() }
}

/** Runs until stopped, and exits at once on SIGTERM. */
const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']

// ---------------------------------------------------------------------------------------
// Proxies, their logs and `dockmoat learn`

interface Proxy extends RunningProxy {
  /** Stops the proxy and resolves with every log line once its stdout is drained. */
  finish(): Promise<LogLine[]>
}

async function proxy(t: Test, env: Record<string, string>): Promise<Proxy> {
  const p = await startProxy(env)
  // 'close' comes after the child's stdout ended, so every line it printed has been parsed.
  const closed = new Promise<void>((resolve) => p.child.once('close', () => resolve()))
  t.teardown(() => p.stop())
  return {
    ...p,
    async finish() {
      const { code, signal } = await p.stop()
      t.ok(code === 0 || signal === 'SIGTERM', `the proxy stopped cleanly (code ${code}, signal ${signal}; stderr: ${p.stderr()})`)
      await closed
      return p.logs()
    },
  }
}

const REQUEST_MESSAGES = new Set(['request', 'refused', 'would be refused'])
const isCall = (l: LogLine): boolean => REQUEST_MESSAGES.has(l.msg)
const AUDIT_WARNING = /^MODE=audit: NOTHING IS ENFORCED/

interface Learned { code: number | null; text: string; stderr: string; env: Record<string, string> }

/** The printed `  - NAME=VALUE` lines, as an environment. */
function parseLearned(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [, name, value] of text.matchAll(/^ {2}- ([A-Z_]+)=(.*)$/gm)) env[name!] = value!
  return env
}

/** The real CLI, as a user runs it: `node dist/dockmoat.js learn FILE`. */
async function learnFile(file: string): Promise<Learned> {
  const { code, stdout, stderr } = await runBundle(['learn', file])
  return { code, text: stdout, stderr, env: parseLearned(stdout) }
}

/** `... | dockmoat learn -`: the log on stdin. */
function learnStdin(input: string): Promise<Learned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUNDLE, 'learn', '-'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' }, stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, text: stdout, stderr, env: parseLearned(stdout) }))
    child.stdin.end(input)
  })
}

/** The log lines exactly as dockmoat printed them (pino: one JSON object a line). */
function writeLog(lines: LogLine[] | string[], prefix: string): string {
  const file = join(tempDir(prefix), 'dockmoat.log')
  writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n')
  return file
}

const granted = (env: Record<string, string>): string[] => Object.entries(env).filter(([, v]) => v === '1').map(([k]) => k).sort()
const KIND = new Map(TOGGLES.map((toggle) => [toggle.name as string, toggle.kind]))

interface Cycle { audit: LogLine[]; learned: Learned; enforced: LogLine[] }

/**
 * (1) an audit proxy with nothing granted, (2) the session through it, (3) its log to a
 * file and `dockmoat learn FILE`, (4) an enforcing proxy with exactly the printed
 * variables, (5) the same session again: no refusal. The caller checks the learned set
 * and (6) a call outside it, on `outside`, a second enforcing proxy with the same variables.
 */
async function cycle(t: Test, session: (t: Test, p: RunningProxy, round: string) => Promise<void>): Promise<Cycle & { outside: Proxy }> {
  const auditProxy = await proxy(t, { MODE: 'audit' })
  await t.test('the session through MODE=audit with nothing granted', (tt) => session(tt, auditProxy, 'audit'))
  const audit = await auditProxy.finish()
  t.ok(audit.some((l) => l.level === 40 && AUDIT_WARNING.test(l.msg)), 'the audit proxy warned at startup that nothing is enforced')
  const calls = audit.filter(isCall)
  t.ok(calls.length > 0, `the audit proxy logged the session's calls (${calls.length})`)
  t.same(calls.filter((l) => l.msg === 'refused').map((l) => `${String(l.method)} ${String(l.path)}: ${String(l.reason)}`), [],
    'audit mode refused none of the session\'s calls')

  const learned = await learnFile(writeLog(audit, 'log'))
  t.equal(learned.code, 0, `dockmoat learn exits 0 (stderr: ${learned.stderr})`)
  const other = audit.length - calls.length
  t.equal(learned.text.split('\n')[0], `# dockmoat learn: ${calls.length} calls in ${audit.length} lines (${other} skipped: 0 not JSON, ${other} not dockmoat request lines)`,
    'the header counts every call, and skips only the proxy\'s own startup and shutdown lines')
  t.match(learned.text, /\n# The least configuration that would have allowed every call seen:\nenvironment:\n/, 'compose environment: lines follow')
  const printed = learned.text.split('\n')
  const variableLines = printed.flatMap((line, i) => (/^ {2}- /.test(line) ? [i] : []))
  t.ok(variableLines.length > 0 && variableLines.every((i) => /^ {2}# \S/.test(printed[i - 1] ?? '')), 'each variable after a comment naming the calls that needed it')
  t.equal(variableLines.length, Object.keys(learned.env).length, 'each variable printed once')
  t.comment(`learned:\n${learned.text}`)

  // What the printed set is, checked against dockmoat's own decision on every call logged:
  // it allows each, and each route grant in it is needed by one of them.
  const grants = parseConfig(learned.env).grants
  t.same(calls.filter((l) => !decide(String(l.method), String(l.path), grants).allow).map((l) => String(l.route)), [],
    'the learned grants allow every call of the session')
  for (const name of granted(learned.env).filter((n) => KIND.get(n) !== 'guard')) {
    const without = { ...grants, [name as Toggle]: false }
    const needing = calls.filter((l) => !decide(String(l.method), String(l.path), without).allow)
    t.ok(needing.length > 0, `${name}=1 is needed (without it: ${needing.map((l) => String(l.route))[0] ?? 'nothing refused'})`)
  }
  // Body grants: exactly those some call's body asked for.
  const needs = new Set(calls.flatMap((l) => (Array.isArray(l.needs) ? l.needs as string[] : [])))
  const asked = new Set([...needs].map((need) => need.split('=')[0]!))
  for (const toggle of TOGGLES.filter((toggle) => toggle.kind === 'guard')) {
    t.equal(learned.env[toggle.name] === '1', asked.has(toggle.name), `${toggle.name} ${asked.has(toggle.name) ? 'learned: a body asked for it' : 'not learned: no body asked for it'}`)
  }
  for (const list of ['ALLOW_BIND', 'ALLOW_CAPS']) {
    t.equal(learned.env[list] !== undefined, asked.has(list), `${list} ${asked.has(list) ? 'learned' : 'not learned'} as the bodies asked`)
  }

  const enforcing = await proxy(t, learned.env)
  const listening = enforcing.logs().find((l) => l.msg === 'dockmoat listening')
  t.same([...(listening?.granted as string[] ?? [])].sort(), granted(learned.env), 'the enforcing proxy runs with exactly the learned grants')
  t.notOk(enforcing.logs().some((l) => AUDIT_WARNING.test(l.msg)), 'and enforces (no audit warning)')
  await t.test('the same session through an enforcing proxy with exactly the learned variables', (tt) => session(tt, enforcing, 'enforce'))
  const enforced = await enforcing.finish()
  t.ok(enforced.filter(isCall).length > 0, `the enforcing proxy logged the session's calls (${enforced.filter(isCall).length})`)
  t.same(enforced.filter((l) => l.msg === 'refused').map((l) => `${String(l.method)} ${String(l.path)}: ${String(l.reason)}`), [],
    'the enforcing proxy refused 0 calls of the session')
  t.same(enforced.filter((l) => l.msg === 'would be refused').length, 0, 'and logged no audit lines')
  const routes = (lines: LogLine[]): string[] => [...new Set(lines.filter(isCall).map((l) => String(l.route)))].sort()
  t.same(routes(enforced), routes(audit), 'the second session made the same calls as the first')

  const outside = await proxy(t, learned.env)
  return { audit, learned, enforced, outside }
}

/** A proxy used only for calls outside the learned set refused exactly these routes, with 403. */
async function refusedRoutes(t: Test, p: Proxy, routes: string[]): Promise<void> {
  const lines = (await p.finish()).filter(isCall)
  const refused = lines.filter((l) => l.msg === 'refused')
  t.same(refused.map((l) => String(l.route)), routes, `the proxy refused ${routes.join(', ')}`)
  t.same(refused.map((l) => l.status), routes.map(() => 403), '... with 403')
  t.same(lines.filter((l) => l.msg !== 'refused' && l.msg !== 'request').map((l) => l.msg), [], 'and logged nothing else but allowed calls')
}

/** The docker CLI printed dockmoat's refusal naming `variable`, and the proxy answered 403. */
function refusedByCli(t: Test, r: RunResult, variable: string, route: string): void {
  t.not(r.code, 0, 'the CLI fails')
  t.match(r.stderr, 'Error response from daemon: dockmoat refused', 'with dockmoat\'s refusal')
  t.match(r.stderr, `(${route})`, `for ${route}`)
  t.match(r.stderr, variable, `naming ${variable}`)
}

function refusedByApi(t: Test, reply: { status: number; json: unknown; text: string }, variable: string, route: string): void {
  t.equal(reply.status, 403, `403 (${reply.text.trim()})`)
  const message = String((reply.json as { message?: unknown } | undefined)?.message ?? '')
  t.match(message, `dockmoat refused`, 'dockmoat\'s refusal')
  t.match(message, `(${route})`, `for ${route}`)
  t.match(message, variable, `naming ${variable}`)
}

// ---------------------------------------------------------------------------------------
// Raw HTTP the way Traefik and Portainer speak it

/** Opens a stream (GET /events), reads the status and headers, then aborts it. */
function streamHead(port: number, path: string): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: 30_000 }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers })
      req.destroy()
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer`)))
    req.on('error', reject) // after the abort: a no-op
    req.end()
  })
}

/** Portainer's console: an exec started with a hijacked connection, typed into, read to its end. */
function openConsole(port: number, execId: string, typed: string): Promise<{ status: number; output: string }> {
  const body = JSON.stringify({ Detach: false, Tty: true })
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: `/v1.41/exec/${execId}/start`, method: 'POST', timeout: 30_000,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'Upgrade', Upgrade: 'tcp' },
    })
    req.on('upgrade', (res, socket: Duplex, head: Buffer) => {
      let output = head.toString()
      const timer = setTimeout(() => socket.destroy(new Error(`the console did not end; got ${JSON.stringify(output)}`)), 30_000)
      socket.on('data', (c: Buffer) => { output += c.toString() })
      socket.on('error', (error) => { clearTimeout(timer); reject(error) })
      socket.on('close', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, output }) })
      socket.write(typed)
    })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, output: text }))
    })
    req.on('timeout', () => req.destroy(new Error('exec start: no answer')))
    req.on('error', reject)
    req.end(body)
  })
}

// ---------------------------------------------------------------------------------------
// The clients

t.test('docker CLI session', async (t) => {
  const bindDir = tempDir('bind')
  const files = tempDir('cp')
  const session = async (t: Test, p: RunningProxy, round: string): Promise<void> => {
    ok(t, await via(p, ['ps']), 'docker ps')
    const c = named('container', `learn-cli-${round}`)
    const run = await via(p, ['run', '-d', '--name', c, IMAGE, 'sleep', '300'])
    ok(t, run, 'docker run -d')
    t.equal((await direct(['inspect', '-f', '{{.State.Running}}', c])).stdout.trim(), 'true', 'dockerd runs it')
    const logs = await via(p, ['logs', c])
    ok(t, logs, 'docker logs')
    t.equal(logs.stdout + logs.stderr, '', '(sleep prints nothing)')
    ok(t, await via(p, ['exec', c, 'true']), 'docker exec true')
    const content = `learn ${round} ${randomBytes(8).toString('hex')}\n`
    writeFileSync(join(files, `in-${round}.txt`), content)
    ok(t, await via(p, ['cp', join(files, `in-${round}.txt`), `${c}:/tmp/in.txt`]), 'docker cp into the container')
    ok(t, await via(p, ['cp', `${c}:/tmp/in.txt`, join(files, `out-${round}.txt`)]), 'docker cp out of the container')
    t.equal(readFileSync(join(files, `out-${round}.txt`), 'utf8'), content, 'the file made the round trip')
    ok(t, await via(p, ['stop', '-t', '1', c]), 'docker stop')
    t.equal((await direct(['inspect', '-f', '{{.State.Status}}', c])).stdout.trim(), 'exited', 'dockerd stopped it')
    ok(t, await via(p, ['rm', c]), 'docker rm')
    t.notOk(await exists('container', c), 'dockerd removed it')
    const once = named('container', `learn-cli-rm-${round}`)
    ok(t, await via(p, ['run', '--rm', '--name', once, '-v', `${bindDir}:/data`, '--cap-add', 'NET_ADMIN', IMAGE, 'true']), 'docker run --rm -v DIR:/data --cap-add NET_ADMIN')
  }
  const { learned, outside } = await cycle(t, session)

  t.equal(learned.env.ALLOW_BIND, bindDir, `ALLOW_BIND is exactly the bound directory ${bindDir}`)
  t.equal(learned.env.ALLOW_CAPS, 'NET_ADMIN', 'ALLOW_CAPS is exactly NET_ADMIN')
  t.same(learned.env, {
    PING: '1', CONTAINERS: '1', EXEC: '1', POST: '1', ALLOW_ARCHIVE: '1', ALLOW_LOGS: '1',
    ALLOW_BIND: bindDir, ALLOW_CAPS: 'NET_ADMIN', EVENTS: '0', VERSION: '0',
  }, 'the learned set: the CLI\'s HEAD /_ping, containers with writes, exec, cp, logs, the bind and the capability; nothing else')

  const network = named('network', 'learn-cli-net')
  refusedByCli(t, await via(outside, ['network', 'create', network]), 'set NETWORKS=1 (POST=1 already set)', 'POST /networks/create')
  t.notOk(await exists('network', network), 'no network was created')
  const privileged = named('container', 'learn-cli-priv')
  refusedByCli(t, await via(outside, ['run', '-d', '--name', privileged, '--privileged', IMAGE, 'true']), 'set ALLOW_PRIVILEGED=1', 'POST /containers/create')
  t.notOk(await exists('container', privileged), 'no privileged container was created')
  await refusedRoutes(t, outside, ['POST /networks/create', 'POST /containers/create'])
})

t.test('docker-compose 1.29: up -d, ps, down -v', async (t) => {
  const dir = tempDir('compose')
  const file = join(dir, 'docker-compose.yml')
  writeFileSync(file, [
    'version: "3.8"',
    'services:',
    '  app:',
    `    image: ${IMAGE}`,
    '    command: ["sh", "-c", "trap \\"exit 0\\" TERM; while :; do sleep 1; done"]',
    '    volumes:',
    '      - data:/data',
    '    networks:',
    '      - net',
    'volumes:',
    '  data: {}',
    'networks:',
    '  net: {}',
    '',
  ].join('\n'))
  const session = async (t: Test, p: RunningProxy, round: string): Promise<void> => {
    const project = uniqueName(`learn-compose-${round}`)
    made.container.push(`${project}_app_1`)
    made.volume.push(`${project}_data`)
    made.network.push(`${project}_net`)
    const run = (args: string[]): Promise<RunResult> => compose(['-p', project, '-f', file, ...args], { host: p.dockerHost, timeoutMs: CLI_TIMEOUT })
    ok(t, await run(['up', '-d']), 'compose up -d')
    t.equal((await direct(['inspect', '-f', '{{.State.Running}}', `${project}_app_1`])).stdout.trim(), 'true', 'dockerd runs the service')
    t.ok(await exists('volume', `${project}_data`), 'the named volume exists')
    t.ok(await exists('network', `${project}_net`), 'the network exists')
    const ps = await run(['ps'])
    ok(t, ps, 'compose ps')
    t.match(ps.stdout, new RegExp(`${project}_app_1 .*Up`), 'compose ps lists the running service')
    ok(t, await run(['down', '-v', '--timeout', '1']), 'compose down -v')
    t.notOk(await exists('container', `${project}_app_1`), 'the container is gone')
    t.notOk(await exists('volume', `${project}_data`), 'the volume is gone')
    t.notOk(await exists('network', `${project}_net`), 'the network is gone')
  }
  const { learned, outside } = await cycle(t, session)

  t.same(learned.env, {
    VERSION: '1', CONTAINERS: '1', IMAGES: '1', INFO: '1', NETWORKS: '1', VOLUMES: '1', POST: '1', EVENTS: '0', PING: '0',
  }, 'the learned set: what the compose test\'s hand-made set holds, plus VERSION (docker-py asks it); no EXEC, no body grant')

  const never = named('container', 'learn-compose-priv')
  refusedByApi(t, await api('POST', `/v1.41/containers/create?name=${never}`, { Image: IMAGE, Cmd: ['true'], HostConfig: { Privileged: true } }, outside.port),
    'set ALLOW_PRIVILEGED=1', 'POST /containers/create')
  t.notOk(await exists('container', never), 'no privileged container was created')
  await refusedRoutes(t, outside, ['POST /containers/create'])
})

t.test('dockerode: list, create, start, inspect, logs, stop, remove', async (t) => {
  const session = async (t: Test, p: RunningProxy, round: string): Promise<void> => {
    const d = new Docker({ host: '127.0.0.1', port: p.port })
    t.ok(Array.isArray(await d.listContainers({ all: true })), 'listContainers')
    const name = named('container', `learn-ode-${round}`)
    const container = await d.createContainer({ name, Image: IMAGE, Cmd: ['sh', '-c', `echo hello-${round}; trap "exit 0" TERM; while :; do sleep 1; done`] })
    t.match(container.id, /^[0-9a-f]{64}$/, 'createContainer')
    await container.start()
    const info = await container.inspect()
    t.equal(info.State.Running, true, 'start + inspect: running')
    let logs = ''
    for (let i = 0; i < 40 && !logs.includes(`hello-${round}`); i++) {
      logs = (await container.logs({ stdout: true, stderr: true, follow: false })).toString()
      if (!logs.includes(`hello-${round}`)) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.match(logs, `hello-${round}`, 'logs')
    await container.stop({ t: 1 })
    t.equal((await direct(['inspect', '-f', '{{.State.Status}}', name])).stdout.trim(), 'exited', 'stop: dockerd stopped it')
    await container.remove()
    t.notOk(await exists('container', name), 'remove: dockerd removed it')
  }
  const { learned, outside } = await cycle(t, session)

  t.same(learned.env, { CONTAINERS: '1', POST: '1', ALLOW_LOGS: '1', EVENTS: '0', PING: '0', VERSION: '0' },
    'the learned set: containers with writes and logs; POST=1 (needed by create) serves start/stop/remove, so no single-action grant')

  const target = await directContainer(t, 'learn-ode-target', SLEEPER)
  await t.rejects(new Docker({ host: '127.0.0.1', port: outside.port }).getContainer(target.id).exec({ Cmd: ['true'] }), {
    statusCode: 403, message: /HTTP code 403/, json: { message: /dockmoat refused POST \/containers\/\w+\/exec \(POST \/containers\/\{name\}\/exec\): set EXEC=1 \(POST=1 already set\)/ },
  }, 'an exec, which the session never did, is refused naming EXEC=1')
  await refusedRoutes(t, outside, ['POST /containers/{name}/exec'])
})

t.test('Traefik (docker provider), recorded call set', async (t) => {
  const session = async (t: Test, p: RunningProxy): Promise<void> => {
    const target = await directContainer(t, 'learn-traefik', SLEEPER)
    const ping = await api('GET', '/_ping', undefined, p.port)
    t.same([ping.status, ping.text], [200, 'OK'], 'GET /_ping')
    t.equal((await api('HEAD', '/_ping', undefined, p.port)).status, 200, 'HEAD /_ping')
    const version = await api('GET', '/v1.41/version', undefined, p.port)
    t.equal(version.status, 200, 'GET /version')
    t.match(version.json, { ApiVersion: String }, 'with the API version')
    const filters = encodeURIComponent(JSON.stringify({ status: ['running'], label: ['traefik.enable=true'] }))
    const list = await api('GET', `/v1.41/containers/json?filters=${filters}`, undefined, p.port)
    t.equal(list.status, 200, 'GET /containers/json?filters=...')
    t.ok((list.json as { Id: string }[]).some((c) => c.Id === target.id), 'lists the labelled container')
    const inspect = await api('GET', `/v1.41/containers/${target.id}/json`, undefined, p.port)
    t.equal(inspect.status, 200, 'GET /containers/{id}/json')
    t.match(inspect.json, { Id: target.id, State: { Running: true } }, 'inspects it')
    const events = await streamHead(p.port, `/v1.41/events?filters=${encodeURIComponent(JSON.stringify({ type: ['container'], event: ['start', 'die', 'health_status'] }))}`)
    t.equal(events.status, 200, 'GET /events?filters=... answers 200')
    t.match(events.headers['content-type'], 'application/json', 'the event stream begins')
  }
  const { learned, outside } = await cycle(t, session)

  t.same(learned.env, { EVENTS: '1', PING: '1', VERSION: '1', CONTAINERS: '1' }, 'the learned set is the user-lessons table\'s: CONTAINERS, EVENTS, VERSION, PING')
  t.notOk('POST' in learned.env || 'EXEC' in learned.env, 'no POST, no EXEC')

  const never = named('container', 'learn-traefik-create')
  refusedByApi(t, await api('POST', `/v1.41/containers/create?name=${never}`, { Image: IMAGE, Cmd: ['true'] }, outside.port),
    'set POST=1 (CONTAINERS=1 already set)', 'POST /containers/create')
  t.notOk(await exists('container', never), 'nothing was created')
  await refusedRoutes(t, outside, ['POST /containers/create'])
})

const PORTAINER_READS = ['/v1.41/info', '/v1.41/containers/json?all=1', '/v1.41/images/json', '/v1.41/networks', '/v1.41/volumes']

async function portainerActions(t: Test, p: RunningProxy, id: string): Promise<void> {
  const state = async (): Promise<string> => (await direct(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()
  t.equal((await api('POST', `/v1.41/containers/${id}/start`, undefined, p.port)).status, 204, 'start')
  t.equal(await state(), 'running', 'dockerd started it')
  t.equal((await api('POST', `/v1.41/containers/${id}/stop?t=1`, undefined, p.port)).status, 204, 'stop')
  t.equal(await state(), 'exited', 'dockerd stopped it')
  t.equal((await api('POST', `/v1.41/containers/${id}/restart?t=1`, undefined, p.port)).status, 204, 'restart')
  t.equal(await state(), 'running', 'dockerd restarted it')
}

t.test('Portainer, recorded call set', async (t) => {
  const session = async (t: Test, p: RunningProxy, round: string): Promise<void> => {
    const target = await directContainer(t, `learn-portainer-${round}`, SLEEPER, false)
    for (const path of PORTAINER_READS) t.equal((await api('GET', path, undefined, p.port)).status, 200, `GET ${path}`)
    await portainerActions(t, p, target.id)
    const exec = await api('POST', `/v1.41/containers/${target.id}/exec`, {
      AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ['sh'], User: '',
    }, p.port)
    t.equal(exec.status, 201, `exec create (${exec.text.trim()})`)
    const execId = (exec.json as { Id?: string } | undefined)?.Id ?? ''
    const shell = await openConsole(p.port, execId, 'echo console-$((40+2)); exit\n')
    t.equal(shell.status, 101, 'exec start upgraded the connection (the console)')
    t.match(shell.output, 'console-42', 'the shell ran what was typed')
  }
  const { audit, learned, outside } = await cycle(t, session)

  // The console needs EXEC=1 + POST=1, its only way; with CONTAINERS=1 (the reads), POST=1
  // serves start, stop and restart too, so single-action grants would only add variables.
  t.same(learned.env, {
    CONTAINERS: '1', EXEC: '1', IMAGES: '1', INFO: '1', NETWORKS: '1', VOLUMES: '1', POST: '1', EVENTS: '0', PING: '0', VERSION: '0',
  }, 'the learned set: the table\'s CONTAINERS, IMAGES, INFO, NETWORKS, VOLUMES, POST, EXEC; no ALLOW_START/STOP/RESTARTS')

  // Without the console, the start/stop/restart need no POST=1: learn gives the actions'
  // own grants (ALLOW_RESTARTS serves stop as well), which allow nothing but those calls.
  const noConsole = audit.filter((l) => !(typeof l.route === 'string' && l.route.includes('exec')))
  t.ok(noConsole.length < audit.length, 'the same log without the console calls')
  const actions = await learnFile(writeLog(noConsole, 'log-noconsole'))
  t.same(actions.env, {
    CONTAINERS: '1', IMAGES: '1', INFO: '1', NETWORKS: '1', VOLUMES: '1', ALLOW_START: '1', ALLOW_RESTARTS: '1', EVENTS: '0', PING: '0', VERSION: '0',
  }, 'without the console: ALLOW_START and ALLOW_RESTARTS, no POST=1')
  t.comment(`learned without the console:\n${actions.text}`)
  const actionsProxy = await proxy(t, actions.env)
  const again = await directContainer(t, 'learn-portainer-actions', SLEEPER, false)
  await portainerActions(t, actionsProxy, again.id)
  refusedByApi(t, await api('DELETE', `/v1.41/containers/${again.id}?force=1`, undefined, actionsProxy.port), 'set POST=1 (CONTAINERS=1 already set)', 'DELETE /containers/{name}')
  t.ok(await exists('container', again.name), 'the refused remove did not reach dockerd')
  t.same((await actionsProxy.finish()).filter((l) => l.msg === 'refused').map((l) => String(l.route)), ['DELETE /containers/{name}'],
    'the action grants served start/stop/restart; only the remove was refused')

  const target = await directContainer(t, 'learn-portainer-logs', SLEEPER)
  refusedByApi(t, await api('GET', `/v1.41/containers/${target.id}/logs?stdout=1&stderr=1`, undefined, outside.port), 'set ALLOW_LOGS=1', 'GET /containers/{name}/logs')
  await refusedRoutes(t, outside, ['GET /containers/{name}/logs'])
})

// ---------------------------------------------------------------------------------------
// What audit mode really does, and what learn skips

t.test('MODE=audit really forwards, and still refuses what no variable allows', async (t) => {
  const p = await proxy(t, { MODE: 'audit' })
  const warning = p.logs().find((l) => AUDIT_WARNING.test(l.msg))
  t.ok(warning, 'the startup log says MODE=audit: NOTHING IS ENFORCED')
  t.equal(warning?.level, 40, '... at warn')

  const name = named('container', 'learn-audit-priv')
  // `docker create` sends the same POST /containers/create as `docker run`; this dockerd
  // runs unprivileged itself and cannot start a privileged container ("unable to apply caps").
  ok(t, await via(p, ['create', '--name', name, '--privileged', IMAGE, 'true']), 'docker create --privileged through audit mode')
  const inspect = await api('GET', `/containers/${name}/json`)
  t.equal(inspect.status, 200, 'dockerd has the container')
  t.equal((inspect.json as { HostConfig?: { Privileged?: unknown } } | undefined)?.HostConfig?.Privileged, true, 'dockerd\'s own inspect: Privileged: true')

  const debug = await api('GET', '/debug/pprof/', undefined, p.port)
  t.equal(debug.status, 403, 'GET /debug/pprof/ is still refused')
  t.match(String((debug.json as { message?: unknown } | undefined)?.message), 'debug endpoints expose the daemon\'s memory', 'saying why')

  const lines = await p.finish()
  const create = lines.find((l) => l.route === 'POST /containers/create')
  t.equal(create?.msg, 'would be refused', 'the create is logged as would be refused')
  t.equal(create?.level, 40, '... at warn')
  t.equal(create?.status, 201, 'and dockerd created it')
  t.same(create?.needs, ['ALLOW_PRIVILEGED'], 'needs: ALLOW_PRIVILEGED')
  t.match(String(create?.wouldRefuse), /^dockmoat refused POST \/v1\.41\/containers\/create\S* \(POST \/containers\/create\): set CONTAINERS=1 and POST=1; and HostConfig\.Privileged is true: set ALLOW_PRIVILEGED=1/,
    'wouldRefuse names the grants and ALLOW_PRIVILEGED')
  const debugLine = lines.find((l) => l.path === '/debug/pprof/')
  t.equal(debugLine?.msg, 'refused', 'the debug call is logged as refused')
  t.equal(debugLine?.status, 403, '... 403')

  const learned = await learnFile(writeLog(lines, 'log-audit'))
  t.equal(learned.env.ALLOW_PRIVILEGED, '1', 'learn grants ALLOW_PRIVILEGED, which the session asked for')
  t.match(learned.text, /\n {2}# POST \/containers\/create ×1\n {2}- ALLOW_PRIVILEGED=1\n/, 'after the call that needed it')
  t.match(learned.text, /\n# Also seen, and allowed by no variable: ANY \/debug\/pprof\/ ×1\n/, 'the debug call is listed as allowed by no variable, not granted')
})

t.test('a body refused whatever the grants is never learned as a grant', async (t) => {
  // CGROUP_PARENT is a rule, not a grant: MODE=audit enforces it, and learn must not count
  // the refused create as a call that CONTAINERS=1 POST=1 would serve.
  const p = await proxy(t, { MODE: 'audit', CGROUP_PARENT: '/dockmoat-learn-ci' })
  const refused = await api('POST', '/v1.41/containers/create', { Image: IMAGE, HostConfig: { CgroupParent: '/elsewhere' } }, p.port)
  t.equal(refused.status, 403, 'the create asking for another cgroup parent is refused in audit mode')
  const lines = await p.finish()
  const line = lines.find((l) => l.route === 'POST /containers/create')
  t.same(line?.variables, [], 'its log line names no variable that would allow it')
  const learned = await learnFile(writeLog(lines, 'log-cgroup'))
  t.equal(learned.env.CONTAINERS, undefined, 'learn grants no CONTAINERS for it')
  t.equal(learned.env.POST, undefined, 'nor POST')
  t.match(learned.text, /\n# Also seen, and allowed by no variable: POST \/containers\/create \(HostConfig\.CgroupParent is "\/elsewhere": .*\) ×1\n/, 'it is listed as allowed by no variable')
})

t.test('learn skips malformed and foreign lines and log prefixes, and counts them exactly', async (t) => {
  const p = await proxy(t, { MODE: 'audit' })
  t.equal((await api('GET', '/v1.41/containers/json', undefined, p.port)).status, 200, 'GET /containers/json through audit mode')
  t.equal((await api('HEAD', '/_ping', undefined, p.port)).status, 200, 'HEAD /_ping')
  t.equal((await api('GET', '/v1.41/info', undefined, p.port)).status, 200, 'GET /info')
  const lines = await p.finish()
  const calls = lines.filter(isCall)
  t.equal(calls.length, 3, 'three calls logged')
  const clean = await learnFile(writeLog(lines, 'log-clean'))
  t.same(clean.env, { PING: '1', CONTAINERS: '1', INFO: '1', EVENTS: '0', VERSION: '0' }, 'the clean log\'s learned set')

  const printed = lines.map((l) => JSON.stringify(l))
  const printedCall = (route: string): string => JSON.stringify(calls.find((l) => l.route === route) ?? {})
  const listLine = printedCall('GET /containers/json')
  const pingLine = printedCall('HEAD /_ping')
  const infoLine = printedCall('GET /info')
  const messy = [
    ...printed.filter((l) => !/"msg":"(request|would be refused)"/.test(l)), // the proxy's own lines (foreign to learn)
    `2026-12-01T10:00:00.123456789Z ${listLine}`, // docker logs -t
    `dockmoat_1  | ${pingLine}`, // docker-compose logs
    infoLine,
    '',
    'not JSON at all',
    'dockmoat: a plain text line with a { brace',
    listLine.slice(0, Math.floor(listLine.length / 2)), // truncated
    '{"truncated": ',
    JSON.stringify({ level: 'info', time: '2026-12-01T10:00:00Z', msg: 'request', method: 'GET', path: '/v1.41/containers/json', route: 'GET /containers/json' }), // another program's
    JSON.stringify({ level: 30, name: 'traefik', msg: 'request', method: 'POST', path: '/v1.41/containers/create', route: 'POST /containers/create' }), // another pino program's
    '   ',
  ]
  const own = lines.length - calls.length
  const header = `# dockmoat learn: 3 calls in ${own + 9} lines (${own + 6} skipped: 4 not JSON, ${own + 2} not dockmoat request lines)`
  const fromFile = await learnFile(writeLog(messy, 'log-messy'))
  t.equal(fromFile.code, 0, `learn FILE exits 0 (${fromFile.stderr})`)
  t.equal(fromFile.text.split('\n')[0], header, 'the header: every call read through its prefix, each skipped line counted as not JSON or not a dockmoat request line (blank lines not counted)')
  t.same(fromFile.env, clean.env, 'the same learned set as from the clean log: no grant for the foreign POST')
  const fromStdin = await learnStdin(messy.join('\n') + '\n')
  t.equal(fromStdin.code, 0, `learn - exits 0 (${fromStdin.stderr})`)
  t.equal(fromStdin.text, fromFile.text, '`learn -` on stdin prints the same')

  const junk = await learnFile(writeLog(['not JSON', '{"a":', JSON.stringify({ name: 'other', msg: 'hello' })], 'log-junk'))
  t.equal(junk.text.split('\n')[0], '# dockmoat learn: 0 calls in 3 lines (3 skipped: 2 not JSON, 1 not dockmoat request lines)', 'a log with no calls: counted')
  t.match(junk.text, /no calls seen: nothing to grant/, 'and nothing granted')
  t.same(junk.env, {}, 'no variable printed')
})
