// The proxy process as operators run it (the built bundle), against the REAL dockerd:
// upstream loss and recovery, shutdown with open streams, idle streams, configuration
// errors, `check`, `healthcheck`, the unix socket listener and refusals on the wire.
import t, { type Test } from 'tap'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { DOCKER_SOCKET, cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { BUNDLE, freePort, runBundle, startProxy, type LogLine } from '../helpers/proxy.ts'

await requireDocker()
const image = await testImage()

interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

type Where = { port: number } | { socketPath: string }

/** One request on its own connection; resolves with the whole answer. */
function request(where: Where, method: string, path: string, timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ ...('port' in where ? { host: '127.0.0.1', port: where.port } : where), method, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

interface OpenStream {
  res: IncomingMessage
  text: () => string
  /** Resolves when the response is over, however it ended. */
  closed: Promise<void>
  isClosed: () => boolean
  destroy: () => void
}

/** A GET whose response is kept open (events, logs -f); resolves once headers arrived. */
function openStream(where: Where, path: string, timeoutMs = 30_000): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...('port' in where ? { host: '127.0.0.1', port: where.port } : where), path, agent: false }, (res) => {
      clearTimeout(timer)
      let text = ''
      let over = false
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('error', () => undefined)
      const closed = new Promise<void>((done) => res.once('close', () => { over = true; done() }))
      resolve({ res, text: () => text, closed, isClosed: () => over, destroy: () => req.destroy() })
    })
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`GET ${path}: no response headers within ${timeoutMs} ms`)) }, timeoutMs)
    req.on('error', (error) => { clearTimeout(timer); reject(error) })
  })
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}

const runningDirect = async (name: string): Promise<string> =>
  (await docker(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim()


t.test('(a) 502 while the docker socket is gone, then recovery without a restart', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-upstream-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const link = join(dir, 'docker.sock')
  symlinkSync(DOCKER_SOCKET, link)
  const proxy = await startProxy({ SOCKET_PATH: link })
  t.teardown(() => proxy.stop())
  const pid = proxy.child.pid

  const before = await request(proxy, 'GET', '/v1.41/version')
  t.equal(before.status, 200, 'GET /version answers through the symlink')
  t.match(JSON.parse(before.body), { ApiVersion: /^1\.\d+$/ }, 'with dockerd\'s version document')

  unlinkSync(link)
  // The pooled keep-alive connection to dockerd outlives the socket file; undici drops
  // it after ~4 s idle, so ask again after idle pauses until a new connection is needed.
  let gone: Answer | undefined
  for (let attempt = 0; attempt < 6 && gone?.status !== 502; attempt++) {
    await sleep(5000)
    gone = await request(proxy, 'GET', '/v1.41/version')
  }
  t.equal(gone?.status, 502, 'GET /version answers 502 once dockerd cannot be reached')
  t.match(gone?.headers['content-type'], /^application\/json/, 'as JSON')
  const message = (JSON.parse(gone?.body ?? '{}') as { message?: string }).message ?? ''
  t.match(message, `dockmoat cannot reach the Docker Engine at ${link}`, 'the message names the socket path')
  t.match(message, /ENOENT/, 'and the error (ENOENT)')

  symlinkSync(DOCKER_SOCKET, link)
  const after = await request(proxy, 'GET', '/v1.41/version')
  t.equal(after.status, 200, 'the next request after the socket is back succeeds')
  t.match(JSON.parse(after.body), { ApiVersion: /^1\.\d+$/ }, 'with dockerd\'s version document again')
  t.equal(proxy.child.pid, pid, 'served by the same process')
  t.equal(proxy.child.exitCode, null, 'which never exited')
})

t.test('(b) SIGTERM with 50 open /events streams exits within 2 s with code 0', { timeout: 120_000 }, async (t) => {
  const proxy = await startProxy({})
  t.teardown(() => proxy.stop('SIGKILL'))
  const streams = await Promise.all(Array.from({ length: 50 }, () => openStream(proxy, '/v1.41/events')))
  t.teardown(() => streams.forEach((s) => s.destroy()))
  t.same(streams.map((s) => s.res.statusCode), Array(50).fill(200), 'all 50 streams got their response headers')
  t.equal(streams.filter((s) => s.isClosed()).length, 0, 'and are open')

  const stopped = await proxy.stop('SIGTERM')
  t.ok(stopped.ms < 2000, `the proxy exited within 2000 ms (took ${stopped.ms} ms)`)
  t.equal(stopped.code, 0, 'with exit code 0')
  t.equal(stopped.signal, null, 'on its own, not killed by the signal')
  await Promise.all(streams.map((s) => s.closed))
  t.pass('every client saw its stream end')
  t.ok(proxy.logs().some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM' && l.open === 50), 'it logged the shutdown with 50 open exchanges')
})

t.test('(b) SIGINT with a `docker logs -f` stream open exits within 2 s with code 0', { timeout: 120_000 }, async (t) => {
  const name = uniqueName('life-logs')
  t.teardown(() => cleanup('container', [name]))
  const run = await docker(['run', '-d', '--name', name, image, 'sh', '-c', 'echo started; sleep 300'])
  t.equal(run.code, 0, `container started directly ${run.stderr}`)
  const proxy = await startProxy({ CONTAINERS: '1', ALLOW_LOGS: '1' })
  t.teardown(() => proxy.stop('SIGKILL'))

  const cli: ChildProcess = spawn('docker', ['logs', '-f', name], {
    env: { ...process.env, DOCKER_HOST: proxy.dockerHost }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(() => { if (cli.exitCode === null) cli.kill('SIGKILL') })
  let out = ''
  cli.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  cli.stderr!.on('data', (c: Buffer) => { out += c.toString() })
  const cliExit = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)))
  await until('docker logs -f to print the first line', () => (out.includes('started') ? true : undefined))
  t.equal(cli.exitCode, null, 'docker logs -f is following')

  const stopped = await proxy.stop('SIGINT')
  t.ok(stopped.ms < 2000, `the proxy exited within 2000 ms (took ${stopped.ms} ms)`)
  t.equal(stopped.code, 0, 'with exit code 0')
  t.ok(proxy.logs().some((l) => l.msg === 'shutting down' && l.signal === 'SIGINT'), 'it logged the SIGINT shutdown')
  await cliExit
  t.pass('docker logs -f ended when the proxy went away')
})

/**
 * A container whose `stop` lasts `stopSeconds` (`sleep` as PID 1 ignores SIGTERM, so dockerd
 * waits, then SIGKILLs), a proxy with the given grace period, and that stop request sent
 * through it and seen to reach dockerd (its `kill` event, watched directly).
 */
async function stopInFlight(t: Test, graceMs: number, stopSeconds: number) {
  const name = uniqueName('life-grace')
  t.teardown(() => cleanup('container', [name]))
  const run = await docker(['run', '-d', '--name', name, image, 'sleep', '300'])
  t.equal(run.code, 0, `container started directly ${run.stderr}`)
  const id = run.stdout.trim()
  const proxy = await startProxy({ ALLOW_STOP: '1', SHUTDOWN_GRACE_MS: String(graceMs) })
  t.teardown(() => proxy.stop('SIGKILL'))
  const filters = encodeURIComponent(JSON.stringify({ container: [id], event: ['kill'] }))
  const events = await openStream({ socketPath: DOCKER_SOCKET }, `/v1.41/events?filters=${filters}`)
  t.teardown(() => events.destroy())
  // Settled at once into the answer's status or the error's code, so it never rejects unhandled.
  const stopping = request(proxy, 'POST', `/v1.41/containers/${id}/stop?t=${stopSeconds}`, 60_000)
    .then((answer) => answer.status, (error: NodeJS.ErrnoException) => error.code)
  await until('dockerd to start stopping the container', () => (events.text().includes('"kill"') ? true : undefined))
  return { name, proxy, stopping }
}

const stopLogged = (l: LogLine): boolean => l.msg === 'request' && String(l.path).includes('/stop')

t.test('(b) an ordinary in-flight request finishes during the grace period', { timeout: 120_000 }, async (t) => {
  const { name, proxy, stopping } = await stopInFlight(t, 3000, 1)
  const exited = proxy.stop('SIGTERM')
  await until('the proxy to begin its shutdown', () => (proxy.logs().some((l) => l.msg === 'shutting down') ? true : undefined))
  await t.rejects(request(proxy, 'GET', '/v1.41/version'), { code: 'ECONNREFUSED' }, 'during the grace period new connections are not accepted')
  t.equal(await stopping, 204, 'the stop started before SIGTERM still got its 204')
  const stopped = await exited
  t.equal(stopped.code, 0, 'the proxy then exited with code 0')
  t.equal(await runningDirect(name), 'false', 'and the container is stopped')
  const order = proxy.logs().map((l) => l.msg === 'shutting down' ? 'shutdown' : (stopLogged(l) ? `stop ${l.status}` : undefined)).filter(Boolean)
  t.same(order, ['shutdown', 'stop 204'], 'the stop was still in flight when the shutdown began')
})

t.test('(b) a request that outlives the grace period is ended and the proxy still exits', { timeout: 120_000 }, async (t) => {
  const { proxy, stopping } = await stopInFlight(t, 500, 30)
  const stopped = await proxy.stop('SIGTERM')
  t.equal(stopped.code, 0, 'the proxy exited with code 0')
  t.ok(stopped.ms < 10_000, `it exited after the grace period, not after the 30 s stop (took ${stopped.ms} ms)`)
  t.equal(await stopping, 'ECONNRESET', 'the client of the unfinished request saw its connection end')
  t.ok(proxy.logs().some((l) => l.msg === 'shutting down' && l.open === 1), 'the shutdown log counted the open request')
  t.equal(proxy.logs().find(stopLogged)?.complete, false, 'the unfinished request was logged as incomplete')
})

/** A PUT whose body goes out in two parts: the second only when `rest` resolves. Settles to the status or the error's code. */
function putInParts(where: { port: number }, path: string, body: Buffer, rest: Promise<void>): Promise<number | string | undefined> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: where.port, method: 'PUT', path, agent: false, headers: { 'content-type': 'application/x-tar', 'content-length': body.length } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
      res.on('error', (error: NodeJS.ErrnoException) => resolve(error.code))
    })
    req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code))
    const half = Math.floor(body.length / 2)
    req.write(body.subarray(0, half))
    void rest.then(() => req.end(body.subarray(half)))
  })
}

t.test('(b) a finite answer on a streaming route gets the grace period; a stream ends at once', { timeout: 120_000 }, async (t) => {
  const name = uniqueName('life-finite')
  t.teardown(() => cleanup('container', [name]))
  const run = await docker(['run', '-d', '--name', name, image, 'sleep', '300'])
  t.equal(run.code, 0, `container started directly ${run.stderr}`)
  const proxy = await startProxy({ CONTAINERS: '1', POST: '1', ALLOW_ARCHIVE: '1', SHUTDOWN_GRACE_MS: '8000' })
  t.teardown(() => proxy.stop('SIGKILL'))
  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-finite-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'landed.txt'), 'x'.repeat(200_000))
  const tar = execFileSync('tar', ['-cf', '-', '-C', dir, 'landed.txt'])

  // `docker stats` streams; `docker stats --no-stream` is one answer, which dockerd gives
  // after two samples (~1 s); a `docker cp` upload's second half is sent after the SIGTERM.
  const live = await openStream(proxy, `/v1.41/containers/${name}/stats`)
  t.teardown(() => live.destroy())
  const oneSample = request(proxy, 'GET', `/v1.41/containers/${name}/stats?stream=false`).then((answer) => answer, (error: NodeJS.ErrnoException) => error.code)
  let sendRest = (): void => {}
  const upload = putInParts(proxy, `/v1.41/containers/${name}/archive?path=%2Ftmp`, tar, new Promise((resolve) => { sendRest = resolve }))
  await sleep(300)

  const exited = proxy.stop('SIGTERM')
  await until('the proxy to begin its shutdown', () => (proxy.logs().some((l) => l.msg === 'shutting down') ? true : undefined))
  await until('the streaming stats to end', () => (live.isClosed() ? true : undefined), 1000)
  t.pass('the streaming stats ended at once')
  sendRest()

  const answer = await oneSample
  t.equal(typeof answer === 'object' && answer.status, 200, 'stats --no-stream, in flight at SIGTERM, got its answer')
  t.equal(typeof answer === 'object' && (JSON.parse(answer.body) as { name?: string }).name, `/${name}`, 'the whole sample of that container')
  t.equal(await upload, 200, 'the upload, half sent at SIGTERM, got its 200')
  const landed = await docker(['exec', name, 'sh', '-c', 'wc -c < /tmp/landed.txt'])
  t.equal(landed.stdout.trim(), '200000', 'and dockerd wrote the whole file into the container')
  const stopped = await exited
  t.equal(stopped.code, 0, 'the proxy then exited with code 0')
  t.ok(stopped.ms < 8000, `before the grace period ran out (took ${stopped.ms} ms)`)
  t.ok(proxy.logs().some((l) => l.msg === 'shutting down' && l.open === 3), 'all three were open when the shutdown began')
})

t.test('(b) SIGTERM to `npm start` reaches dockmoat, which exits: no proxy left running', { timeout: 60_000 }, async (t) => {
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: '0', PING: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  npm.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  npm.stderr!.on('data', (c: Buffer) => { out += c.toString() })
  const npmExit = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)))
  const logged = (msg: string): LogLine | undefined => out.split('\n').map((l) => { try { return JSON.parse(l) as LogLine } catch { return undefined } }).find((l) => l?.msg === msg)
  const listening = await until('npm start to log `dockmoat listening`', () => logged('dockmoat listening'))
  const pid = listening.pid as number
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch { /* gone */ } })
  t.not(pid, npm.pid, 'dockmoat runs as its own process under npm')
  t.equal((await request({ port: listening.port as number }, 'GET', '/_ping')).status, 200, 'and answers')

  npm.kill('SIGTERM')
  t.equal(await npmExit, 0, 'npm exits 0, as dockmoat did')
  const gone = await until('dockmoat to exit', () => { try { process.kill(pid, 0); return undefined } catch { return true } }, 5000)
  t.ok(gone, `dockmoat (pid ${pid}) is no longer running`)
  t.equal(logged('shutting down')?.signal, 'SIGTERM', 'it shut down on the SIGTERM')
})

t.test('(c) a long-idle /events stream is not cut', { timeout: 120_000 }, async (t) => {
  // Peers cut idle streams (10 min in Tecnativa, 4 min in linuxserver). dockmoat's undici
  // pool has headersTimeout: 0 and bodyTimeout: 0, and its server requestTimeout: 0, so
  // nothing times a quiet stream out. 15 s of silence rules out any short idle timeout
  // (undici's 4 s keep-alive, a few-seconds socket timeout) without a 10-minute test.
  const name = uniqueName('life-idle')
  t.teardown(() => cleanup('container', [name]))
  const proxy = await startProxy({})
  t.teardown(() => proxy.stop())

  // Filtered to a container that does not exist yet: nothing at all flows for 15 s.
  const filters = encodeURIComponent(JSON.stringify({ container: [name] }))
  const stream = await openStream(proxy, `/v1.41/events?filters=${filters}`)
  t.teardown(() => stream.destroy())
  t.equal(stream.res.statusCode, 200, 'the stream is open')
  await sleep(15_000)
  t.equal(stream.text(), '', 'no event arrived while idle')
  t.notOk(stream.isClosed(), 'the stream is still open after 15 s idle')

  const created = await docker(['create', '--name', name, image, 'true'])
  t.equal(created.code, 0, created.stderr)
  const line = await until('the create event', () => stream.text().split('\n').find((l) => l.includes('"create"')))
  t.match(JSON.parse(line), { Type: 'container', Action: 'create', Actor: { ID: created.stdout.trim() } }, 'the event arrived after the idle period')
})

t.test('(d) bad configuration exits 2 naming the variable, the value and the accepted values', async (t) => {
  const cases: { env: Record<string, string>; patterns: (string | RegExp)[] }[] = [
    { env: { POST: 'ture' }, patterns: ['POST', '"ture"', /true\/false/, /1\/0/] },
    { env: { CONTAINERS: '2' }, patterns: ['CONTAINERS', '"2"', /true\/false/, /1\/0/] },
    { env: { LOG_LEVEL: 'loud' }, patterns: ['LOG_LEVEL', '"loud"', /\bdebug\b/, /\binfo\b/, /\bwarn\b/, /\berror\b/] },
    { env: { LISTEN_PORT: 'abc' }, patterns: ['LISTEN_PORT', '"abc"', /0 to 65535/] },
  ]
  for (const { env, patterns } of cases) {
    const shown = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')
    const r = await runBundle([], env)
    t.equal(r.code, 2, `${shown}: exit code 2`)
    t.equal(r.stdout, '', `${shown}: nothing on stdout (it never started)`)
    for (const pattern of patterns) t.match(r.stderr, pattern, `${shown}: stderr names ${pattern}`)
  }
  const both = await runBundle([], { LISTEN_SOCKET: '/tmp/never.sock', LISTEN_PORT: '2375' })
  t.equal(both.code, 2, 'LISTEN_SOCKET with LISTEN_PORT: exit code 2')
  t.match(both.stderr, /LISTEN_SOCKET.*LISTEN_PORT/, 'naming both variables')
})

t.test('(d) a misspelt CONTAINER=1 logs a warning naming CONTAINERS and grants nothing', async (t) => {
  const proxy = await startProxy({ CONTAINER: '1' })
  t.teardown(() => proxy.stop())
  const warning = proxy.logs().find((l: LogLine) => l.level === 40 && l.msg.includes('CONTAINER '))
  t.ok(warning, 'a warning line about CONTAINER')
  t.match(warning?.msg, /CONTAINER is not a dockmoat variable.*did you mean CONTAINERS\?/, 'it suggests CONTAINERS')
  const r = await request(proxy, 'GET', '/v1.41/containers/json')
  t.equal(r.status, 403, 'containers stay refused')
})

t.test('(e) dockmoat check METHOD PATH', async (t) => {
  const allowed = await runBundle(['check', 'GET', '/containers/json'], { CONTAINERS: '1' })
  t.equal(allowed.code, 0, 'exit 0 when allowed')
  t.match(allowed.stdout, /^allowed: GET \/containers\/json allowed by CONTAINERS=1\n$/, 'prints allowed and the grant')

  const refused = await runBundle(['check', 'GET', '/containers/json'], {})
  t.equal(refused.code, 1, 'exit 1 when refused')
  t.match(refused.stdout, /^refused: /, 'prints refused')
  t.match(refused.stdout, 'CONTAINERS=1', 'and the variable to set')

  const bad = await runBundle(['check', 'GET'], {})
  t.equal(bad.code, 2, 'a missing PATH is a usage error')
  t.match(bad.stderr, /usage: dockmoat/)
})

t.test('(f) dockmoat healthcheck', { timeout: 60_000 }, async (t) => {
  const proxy = await startProxy({ PING: '0' })
  t.teardown(() => proxy.stop())
  const ping = await request(proxy, 'GET', '/_ping')
  t.equal(ping.status, 403, 'PING=0: /_ping itself is refused')
  const healthy = await runBundle(['healthcheck'], { LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(proxy.port), PING: '0' })
  t.equal(healthy.code, 0, `exit 0 when the proxy serves and dockerd answers, even with PING=0 (stderr: ${healthy.stderr})`)

  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-health-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const missing = join(dir, 'missing.sock')
  const broken = await startProxy({ SOCKET_PATH: missing })
  t.teardown(() => broken.stop())
  const sick = await runBundle(['healthcheck'], { LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(broken.port), SOCKET_PATH: missing })
  t.not(sick.code, 0, 'non-zero when dockerd cannot be reached through the proxy')
  t.match(sick.stderr, new RegExp(`502 .*cannot reach the Docker Engine at ${missing}`), 'and says why')

  const port = await freePort()
  const none = await runBundle(['healthcheck'], { LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: String(port) })
  t.not(none.code, 0, 'non-zero when no proxy listens')
  t.match(none.stderr, /does not answer.*ECONNREFUSED/, 'and says so')
})

t.test('(g) unix socket listener with LISTEN_SOCKET_MODE=600', { timeout: 60_000 }, async (t) => {
  // startProxy always sets LISTEN_ADDRESS/LISTEN_PORT, which LISTEN_SOCKET refuses: spawn the bundle here.
  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-listen-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'dockmoat.sock')
  const child = spawn(process.execPath, [BUNDLE], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', LISTEN_SOCKET: path, LISTEN_SOCKET_MODE: '600' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await exited } })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  await until(`the proxy to listen (stderr: ${err})`, () => (out.includes('"dockmoat listening"') || child.exitCode !== null ? true : undefined), 10_000)
  t.equal(child.exitCode, null, `the proxy is running (stderr: ${err})`)
  t.match(out, new RegExp(`"socket":"${path}"`), 'it logged the socket path')

  const stat = statSync(path)
  t.ok(stat.isSocket(), 'the path is a unix socket')
  t.equal((stat.mode & 0o7777).toString(8), '600', 'with mode 0600')

  const version = await docker(['version', '--format', '{{.Server.APIVersion}}'], { host: `unix://${path}` })
  t.equal(version.code, 0, `docker -H unix://${path} version works (${version.stderr})`)
  t.match(version.stdout.trim(), /^1\.\d+$/, 'and shows the server API version')
  const refused = await request({ socketPath: path }, 'GET', '/v1.41/containers/json')
  t.equal(refused.status, 403, 'the policy applies on the unix socket too')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM stops it with code 0')
})

t.test('(h) refusals over raw HTTP', async (t) => {
  const proxy = await startProxy({})
  t.teardown(() => proxy.stop())

  const refused = await request(proxy, 'GET', '/v1.41/containers/json')
  t.equal(refused.status, 403, 'a route without its grant: 403')
  t.match(refused.headers['content-type'], /^application\/json/, 'content-type application/json')
  const { message } = JSON.parse(refused.body) as { message: string }
  t.match(message, /^dockmoat refused GET \/v1\.41\/containers\/json /, 'message names the method and path')
  t.match(message, '(GET /containers/json)', 'and the route')
  t.match(message, 'CONTAINERS=1', 'and the variable')

  const unknown = await request(proxy, 'GET', '/foo')
  t.equal(unknown.status, 403, 'an unknown route: 403')
  t.match(JSON.parse(unknown.body), { message: /^dockmoat refused GET \/foo: no Docker Engine API route/ }, 'saying no dockerd route has that path')

  const bad = await request(proxy, 'GET', '/%zz')
  t.equal(bad.status, 400, 'an invalid percent-escape: 400')
  t.match(JSON.parse(bad.body), { message: /^dockmoat refused GET \/%zz: .*percent-escape/ }, 'saying the percent-escape is invalid')

  // Upgrade headers must not route a request around the policy (a create is no hijack route).
  const name = uniqueName('life-upgrade')
  t.teardown(() => cleanup('container', [name]))
  const sneaky = await new Promise<Answer>((resolve, reject) => {
    const body = JSON.stringify({ Image: image, Cmd: ['true'] })
    const req = http.request({
      host: '127.0.0.1', port: proxy.port, method: 'POST', path: `/v1.41/containers/create?name=${name}`, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'Upgrade', upgrade: 'tcp' },
    }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }) })
    req.on('error', reject)
    req.end(body)
  })
  t.equal(sneaky.status, 403, 'a create with Connection: Upgrade is refused like any other')
  t.match(sneaky.body, /dockmoat refused POST .*set CONTAINERS=1 and POST=1/, 'with the usual message')
  t.not((await docker(['inspect', name])).code, 0, 'and no container was created')

  const allowed = await request(proxy, 'GET', '/v1.41/version')
  t.equal(allowed.status, 200, 'a granted route passes on the same proxy')
  // Log lines are written asynchronously: wait (bounded) for the four refusals to land.
  const refusedLines = () => proxy.logs().filter((l) => l.msg === 'refused')
  for (let waited = 0; refusedLines().length < 4 && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50))
  const logged = refusedLines().map((l) => `${l.method} ${l.path}`)
  t.same(logged, ['GET /v1.41/containers/json', 'GET /foo', 'GET /%zz', `POST /v1.41/containers/create?name=${name}`], 'each refusal was logged')
})

t.test('(b) a body still arriving when SIGTERM comes is judged and forwarded within the grace period', { timeout: 120_000 }, async (t) => {
  const volume = uniqueName('life-upload')
  t.teardown(() => cleanup('volume', [volume]))
  const proxy = await startProxy({ VOLUMES: '1', POST: '1', SHUTDOWN_GRACE_MS: '3000' })
  t.teardown(() => proxy.stop('SIGKILL'))
  const body = JSON.stringify({ Name: volume })
  const socket = net.connect(proxy.port, '127.0.0.1')
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
  const ended = new Promise((resolve) => socket.on('close', resolve))
  await new Promise((resolve) => socket.on('connect', resolve))
  // Nothing else is open: only this request's unread body keeps the proxy from exiting at once.
  socket.write(`POST /v1.41/volumes/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`)
  await sleep(200)
  const exited = proxy.stop('SIGTERM')
  await until('the proxy to begin its shutdown', () => (proxy.logs().some((l) => l.msg === 'shutting down') ? true : undefined))
  await sleep(300)
  socket.write(body.slice(5))
  await ended
  t.match(answer, /^HTTP\/1\.1 201 Created\r\n/, 'the create was answered by dockerd')
  t.equal((await exited).code, 0, 'and the proxy exited with code 0')
  const listed = await docker(['volume', 'ls', '-q', '--filter', `name=^${volume}$`])
  t.equal(listed.stdout.trim(), volume, 'dockerd made the volume')
})
