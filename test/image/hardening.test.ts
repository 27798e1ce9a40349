// The image itself: distroless layout, non-root, read-only, no shell, healthcheck, prompt
// stop with open streams, clear startup errors.
import fs from 'node:fs'
import http from 'node:http'
import t from 'tap'
import { DOCKER_SOCKET, cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { REPO, RUNTIME_BASE, dockmoatImage, eventually, show, socketGid, startSidecar, waitForHealth } from './support.ts'

// The image's command line, as its ENTRYPOINT declares it and as PID 1 must run.
const ENTRYPOINT = ['/nodejs/bin/node', '--max-semi-space-size=8', '/app/dockmoat.js']

await requireDocker()
const image = await dockmoatImage()
const gid = socketGid()
const HEALTH_FAST = ['--health-interval', '1s', '--health-timeout', '5s', '--health-retries', '2']

t.test('the image: non-root, exec-form healthcheck and entrypoint, labels, one layer on the runtime base', async (t) => {
  const inspect = await docker(['image', 'inspect', '--format', '{{json .}}', image])
  t.equal(inspect.code, 0, show(inspect))
  const info = JSON.parse(inspect.stdout) as {
    Size: number
    Config: { User: string; ExposedPorts: Record<string, object>; Entrypoint: string[]; StopSignal: string
      Healthcheck: { Test: string[] }; Labels: Record<string, string> }
    RootFS: { Layers: string[] }
  }
  t.equal(info.Config.User, '65532:65532', 'runs as nonroot')
  t.same(Object.keys(info.Config.ExposedPorts), ['2375/tcp'])
  t.same(info.Config.Entrypoint, ENTRYPOINT, 'exec-form entrypoint through the image\'s node')
  t.same(info.Config.Healthcheck.Test, ['CMD', '/nodejs/bin/node', '/app/dockmoat.js', 'healthcheck'], 'exec-form healthcheck, no shell')
  t.equal(info.Config.StopSignal, 'SIGTERM')
  const version = (JSON.parse(fs.readFileSync(`${REPO}/package.json`, 'utf8')) as { version: string }).version
  t.match(info.Config.Labels, {
    'org.opencontainers.image.source': /^https:\/\//,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.licenses': 'MIT',
  }, 'OCI labels')

  const base = await docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', RUNTIME_BASE])
  t.equal(base.code, 0, show(base))
  const baseLayers = JSON.parse(base.stdout) as string[]
  t.same(info.RootFS.Layers.slice(0, baseLayers.length), baseLayers, 'built on the runtime base')
  t.equal(info.RootFS.Layers.length, baseLayers.length + 1, 'exactly one layer on top: the bundle')
  t.ok(info.Size < 200e6, `size ${(info.Size / 1e6).toFixed(1)} MB`)

  const shell = await docker(['run', '--rm', '--entrypoint', '/bin/sh', image, '-c', 'true'])
  t.not(shell.code, 0, 'there is no /bin/sh')
  const busybox = await docker(['run', '--rm', '--entrypoint', 'sh', image])
  t.not(busybox.code, 0, 'there is no sh on PATH')
})

t.test('`check` runs in the image without dockerd', async (t) => {
  const allowed = await docker(['run', '--rm', '--network', 'none', '-e', 'CONTAINERS=1', image, 'check', 'GET', '/containers/json'])
  t.equal(allowed.code, 0, show(allowed))
  t.match(allowed.stdout, /^allowed: /)
  const refused = await docker(['run', '--rm', '--network', 'none', '-e', 'CONTAINERS=1', image, 'check', 'POST', '/containers/create'])
  t.equal(refused.code, 1, show(refused))
  t.match(refused.stdout, /^refused: .*POST=1/)
})

t.test('runs as 65532 with the socket group, --read-only, --cap-drop ALL, no-new-privileges', async (t) => {
  const proxy = await startSidecar(t, {
    env: { CONTAINERS: '1' },
    args: ['--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'],
  })
  const probe = await docker(['exec', proxy.name, '/nodejs/bin/node', '-e',
    'const s = require("fs").readFileSync("/proc/1/status", "utf8"); ' +
    'console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), ' +
    'capEff: /CapEff:\\s*(\\w+)/.exec(s)[1], noNewPrivs: /NoNewPrivs:\\s*(\\d)/.exec(s)[1], cmd: require("fs").readFileSync("/proc/1/cmdline", "utf8").split("\\0").filter(Boolean) }))'])
  t.equal(probe.code, 0, show(probe))
  const me = JSON.parse(probe.stdout) as { uid: number; gid: number; groups: number[]; capEff: string; noNewPrivs: string; cmd: string[] }
  t.equal(me.uid, 65532, 'uid 65532')
  t.equal(me.gid, 65532, 'gid 65532')
  t.ok(me.groups.includes(gid), `supplementary group ${gid} (the socket's)`)
  t.equal(me.capEff, '0000000000000000', 'no capabilities')
  t.equal(me.noNewPrivs, '1')
  t.same(me.cmd, ENTRYPOINT, 'node is PID 1: it gets SIGTERM itself')

  const ps = await docker(['ps', '--format', '{{.Names}}'], { host: proxy.host })
  t.equal(ps.code, 0, show(ps))
  t.match(ps.stdout, proxy.name, 'serves through the read-only container')
  const diff = await docker(['diff', proxy.name])
  const mountpoint = ['A /var', 'A /var/run', 'A /var/run/docker.sock']
  t.same(diff.stdout.trim().split('\n').filter((l) => l && !mountpoint.includes(l)), [], 'wrote nothing to its filesystem')
})

t.test('the healthcheck turns healthy with the socket', async (t) => {
  const proxy = await startSidecar(t, { args: HEALTH_FAST })
  const health = await waitForHealth(proxy.name, 'healthy')
  t.equal(health.status, 'healthy', health.log)
})

t.test('the healthcheck turns unhealthy without the socket, and the log says to mount it', async (t) => {
  const proxy = await startSidecar(t, { socket: false, groupAdd: false, args: HEALTH_FAST })
  const health = await waitForHealth(proxy.name, 'unhealthy')
  t.equal(health.status, 'unhealthy', health.log)
  t.match(health.log, /cannot reach the Docker Engine at \/var\/run\/docker\.sock/)
  t.match(await proxy.logs(), /cannot open the Docker socket \/var\/run\/docker\.sock.*mount it, e\.g\. -v \/var\/run\/docker\.sock/)
})

t.test('without --group-add, the log names the socket\'s group and the flag to use', async (t) => {
  const mode = fs.statSync(DOCKER_SOCKET).mode
  t.equal(mode & 0o006, 0, `precondition: ${DOCKER_SOCKET} is not world-accessible (mode ${(mode & 0o777).toString(8)})`)
  t.not(gid, 0, `precondition: ${DOCKER_SOCKET} belongs to a group other than root`)
  const proxy = await startSidecar(t, { groupAdd: false })
  const logs = await eventually(async () => {
    const text = await proxy.logs()
    return text.includes('--group-add') ? text : ''
  }, 10_000)
  t.match(logs, `belongs to group ${gid}`)
  t.match(logs, `docker run --group-add ${gid}`)
  t.match(logs, `group_add: [\\"${gid}\\"]`, 'and the compose form (JSON-escaped in the log line)')
  t.notMatch(logs, /EACCES/, 'not a bare EACCES')
  const refused = await docker(['version'], { host: proxy.host })
  t.not(refused.code, 0, 'requests cannot reach dockerd')
})

t.test('docker stop returns within 2 s with open event and log streams', async (t) => {
  const proxy = await startSidecar(t, { env: { CONTAINERS: '1', ALLOW_LOGS: '1', EVENTS: '1' } })
  // Streams the proxy must end: two raw /events requests (headers seen), a docker events
  // and a docker logs -f of a quiet container.
  const raw = await Promise.all([1, 2].map(() => new Promise<{ ended: Promise<string> }>((resolve, reject) => {
    const request = http.get(`${proxy.url}/v1.41/events`, (response) => {
      response.resume()
      resolve({
        ended: new Promise((ended) => {
          response.on('end', () => ended('end'))
          response.on('close', () => ended('close'))
          response.on('error', () => ended('error'))
        }),
      })
    })
    request.on('error', reject)
  })))
  const quiet = uniqueName('quiet')
  t.teardown(() => cleanup('container', [quiet]))
  await docker(['run', '-d', '--name', quiet, await testImage(), 'sleep', '600'])
  const cli = [
    docker(['events'], { host: proxy.host, timeoutMs: 30_000 }),
    docker(['logs', '-f', quiet], { host: proxy.host, timeoutMs: 30_000 }),
  ]
  await new Promise((resolve) => setTimeout(resolve, 1500))

  const started = Date.now()
  const stop = await docker(['stop', proxy.name], { timeoutMs: 30_000 })
  const took = Date.now() - started
  t.equal(stop.code, 0, show(stop))
  t.ok(took < 2000, `docker stop took ${took} ms`)
  const state = await docker(['inspect', '--format', '{{.State.ExitCode}} {{.State.OOMKilled}}', proxy.name])
  t.equal(state.stdout.trim(), '0 false', 'exited 0 by itself, not SIGKILLed (137)')
  for (const stream of raw) t.ok(['end', 'close', 'error'].includes(await stream.ended), 'raw /events stream ended')
  for (const done of await Promise.all(cli)) t.not(done.timedOut, true, 'client stream ended with the proxy')
  t.match(await proxy.logs(), /"signal":"SIGTERM"/, 'logged the shutdown')
})

t.test('a bad setting stops the container with the message in docker logs', async (t) => {
  for (const [env, message] of [
    ['POST=maybe', 'POST="maybe" is not a boolean'],
    ['LISTEN_PORT=99999', 'LISTEN_PORT="99999" is not valid'],
    ['LOG_LEVEL=loud', 'LOG_LEVEL="loud" is not a log level'],
  ] as const) {
    const name = uniqueName('badenv')
    t.teardown(() => cleanup('container', [name]))
    const run = await docker(['run', '--name', name, '-v', `${DOCKER_SOCKET}:/var/run/docker.sock:ro`, '--group-add', String(gid),
      '-e', env, image], { timeoutMs: 30_000 })
    t.equal(run.code, 2, `${env}: exit 2`)
    const state = await docker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name])
    t.equal(state.stdout.trim(), 'exited 2', `${env}: the container is not left running`)
    const logs = await docker(['logs', name])
    t.match(logs.stderr, `dockmoat: configuration error: ${message}`, `${env}: docker logs says why`)
  }
})
