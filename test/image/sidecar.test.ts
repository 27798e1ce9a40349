// The image as a `docker run` sidecar: the docker CLI talks to dockerd through the
// container (DOCKER_HOST=tcp://127.0.0.1:PORT) and gets exactly what the toggles grant.
import t, { type Test } from 'tap'
import { cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { dockmoatImage, show, startSidecar } from './support.ts'

await requireDocker()
await dockmoatImage()
const busybox = await testImage()

/** A long-running container made directly against dockerd (not through the proxy). */
async function target(t: Test, script = 'while true; do sleep 1; done'): Promise<string> {
  const name = uniqueName('target')
  t.teardown(() => cleanup('container', [name]))
  const r = await docker(['run', '-d', '--name', name, busybox, 'sh', '-c', script])
  if (r.code !== 0) throw new Error(`cannot start ${name}: ${r.stderr}`)
  return name
}

async function startedAt(name: string): Promise<string> {
  return (await docker(['inspect', '--format', '{{.State.StartedAt}}', name])).stdout.trim()
}

t.test('with no grants: version and ping pass, everything else is refused with the reason', async (t) => {
  const proxy = await startSidecar(t)
  const version = await docker(['version', '--format', '{{.Server.APIVersion}}'], { host: proxy.host })
  t.equal(version.code, 0, show(version))
  t.match(version.stdout.trim(), /^1\.\d+$/)

  const ps = await docker(['ps'], { host: proxy.host })
  t.not(ps.code, 0, 'docker ps is refused')
  t.match(ps.stderr, /dockmoat refused GET \/v[\d.]+\/containers\/json.*set CONTAINERS=1/)

  const info = await docker(['info', '--format', '{{.ServerVersion}}'], { host: proxy.host })
  t.match(info.stdout + info.stderr, /dockmoat refused GET \/v[\d.]+\/info.*set INFO=1/, 'docker info is refused')

  const run = await docker(['run', '--rm', busybox, 'true'], { host: proxy.host })
  t.not(run.code, 0, 'docker run is refused')
  t.match(run.stderr, /dockmoat refused POST \/v[\d.]+\/containers\/create/)

  const lines = (await proxy.logs()).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  t.match(lines.find((l) => l.route === 'GET /containers/json'), { decision: 'deny', status: 403, reason: /set CONTAINERS=1/ },
    'the refusal is logged as JSON with its route and reason')
})

t.test('CONTAINERS=1 alone is read-only in effect', async (t) => {
  const name = await target(t, 'echo secret-in-logs; while true; do sleep 1; done')
  const proxy = await startSidecar(t, { env: { CONTAINERS: '1' } })
  const on = { host: proxy.host }

  const ps = await docker(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Names}}'], on)
  t.equal(ps.code, 0, show(ps))
  t.equal(ps.stdout.trim(), name, 'docker ps lists the container')
  const inspect = await docker(['inspect', '--format', '{{.State.Running}}', name], on)
  t.equal(inspect.stdout.trim(), 'true', 'docker inspect works')

  const refusals: [string, string[], RegExp][] = [
    ['docker rm -f', ['rm', '-f', name], /set POST=1/],
    ['docker stop', ['stop', '-t', '1', name], /refused POST .*\/stop/],
    ['docker logs', ['logs', name], /set ALLOW_LOGS=1/],
    ['docker cp (archive)', ['cp', `${name}:/etc/passwd`, '-'], /ALLOW_ARCHIVE=1/],
    ['docker export', ['export', name], /ALLOW_EXPORT=1/],
    ['docker create', ['create', busybox, 'true'], /refused POST .*\/containers\/create/],
  ]
  for (const [what, args, reason] of refusals) {
    const r = await docker(args, { ...on, timeoutMs: 20_000 })
    t.not(r.code, 0, `${what} is refused`)
    t.match(r.stderr, reason, `${what}: the reason says which toggle`)
    t.notMatch(r.stdout, /secret-in-logs|root:x:0/, `${what}: nothing leaks`)
  }
  t.equal((await docker(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim(), 'true', 'the container still runs')
})

t.test('ALLOW_RESTARTS=1 restarts and stops without POST=1 or CONTAINERS=1', async (t) => {
  const name = await target(t)
  const proxy = await startSidecar(t, { env: { ALLOW_RESTARTS: '1' } })
  const on = { host: proxy.host, timeoutMs: 30_000 }

  const before = await startedAt(name)
  const restart = await docker(['restart', '-t', '1', name], on)
  t.equal(restart.code, 0, show(restart))
  t.not(await startedAt(name), before, 'the container was restarted')

  const rm = await docker(['rm', '-f', name], on)
  t.not(rm.code, 0, 'docker rm is still refused')
  const ps = await docker(['ps'], on)
  t.not(ps.code, 0, 'listing is still refused')

  const stop = await docker(['stop', '-t', '1', name], on)
  t.equal(stop.code, 0, show(stop))
  t.equal((await docker(['inspect', '--format', '{{.State.Running}}', name])).stdout.trim(), 'false', 'stopped')
  const start = await docker(['start', name], on)
  t.not(start.code, 0, 'start needs ALLOW_START')
  t.match(start.stderr, /ALLOW_START=1/)
})

t.test('exec -i, logs -f, events and build pass through the container', async (t) => {
  const proxy = await startSidecar(t, {
    env: { CONTAINERS: '1', POST: '1', EXEC: '1', ALLOW_LOGS: '1', EVENTS: '1', IMAGES: '1', BUILD: '1' },
  })
  const on = { host: proxy.host }

  t.test('docker exec -i carries stdin both ways', async (t) => {
    const name = await target(t)
    const input = 'through the dockmoat container\n'.repeat(1000)
    const wc = await docker(['exec', '-i', name, 'wc', '-c'], { ...on, input })
    t.equal(wc.code, 0, show(wc))
    t.equal(wc.stdout.trim(), String(Buffer.byteLength(input)))
    const echo = await docker(['exec', name, 'echo', 'no stdin'], on)
    t.equal(echo.stdout, 'no stdin\n', 'exec without -i prints')
  })

  t.test('docker logs -f follows a live container and ends with it', async (t) => {
    const live = await target(t, 'echo one; sleep 1; echo two; while true; do sleep 1; done')
    const follow = await docker(['logs', '-f', live], { ...on, timeoutMs: 5000 })
    t.equal(follow.timedOut, true, 'still following after 5 s (not cut)')
    t.equal(follow.stdout, 'one\ntwo\n')

    const short = await target(t, 'echo first; sleep 2; echo last')
    const ended = await docker(['logs', '-f', short], { ...on, timeoutMs: 30_000 })
    t.equal(ended.code, 0, show(ended))
    t.equal(ended.stdout, 'first\nlast\n', 'the stream ends when the container exits')
  })

  t.test('docker events streams as things happen', async (t) => {
    const name = uniqueName('evented')
    t.teardown(() => cleanup('container', [name]))
    const until = Math.floor(Date.now() / 1000) + 7
    const events = docker(['events', '--filter', `container=${name}`, '--format', '{{.Action}}', '--until', String(until)],
      { ...on, timeoutMs: 30_000 })
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const run = await docker(['run', '--name', name, busybox, 'true'])
    t.equal(run.code, 0, show(run))
    const seen = await events
    t.equal(seen.code, 0, show(seen))
    t.same(seen.stdout.trim().split('\n').filter((a) => ['create', 'start', 'die'].includes(a)), ['create', 'start', 'die'])
  })

  t.test('docker build (legacy builder) builds through the proxy', async (t) => {
    const tag = `${uniqueName('built')}:latest`
    t.teardown(() => cleanup('image', [tag]))
    const dockerfile = `FROM ${busybox}\nRUN echo built-through-dockmoat > /proof\nCMD ["cat", "/proof"]\n`
    const build = await docker(['build', '--network', 'none', '-t', tag, '-'], { ...on, input: dockerfile, timeoutMs: 120_000 })
    t.equal(build.code, 0, show(build))
    const run = await docker(['run', '--rm', tag])
    t.equal(run.stdout, 'built-through-dockmoat\n')
  })
})
