// docker-compose.example.yml (Traefik) and examples/docker-compose.nginx-proxy.yml, brought
// up with the local image. Neither Traefik nor nginx-proxy can be pulled here, so a stand-in
// client on the same internal network makes the calls each of them makes (from their
// sources), and the writes they must not be able to make.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { compose, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { REPO, dockmoatImage, eventually, show, socketGid } from './support.ts'

await requireDocker()
const image = await dockmoatImage()
const busybox = await testImage()

interface Stack {
  project: string
  /** Runs argv in the stand-in client container (through `docker exec`, straight to dockerd). */
  client(argv: string[], timeoutMs?: number): ReturnType<typeof docker>
  /** A raw HTTP/1.0 request to dockmoat:2375 from the stand-in; the whole answer. */
  raw(method: string, target: string, body?: string): Promise<string>
  whoami: string
  dockmoat: string
}

/** `up -d` of the example file with the stand-ins; everything goes at the end of the test. */
async function bringUp(t: Test, file: string): Promise<Stack> {
  const project = uniqueName('compose')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-compose-'))
  const override = path.join(dir, 'override.yml')
  fs.writeFileSync(override, [
    'services:',
    '  whoami:               # the routed application: any labelled container will do',
    `    image: ${busybox}`,
    '    command: ["sleep", "3600"]',
    '  standin:              # calls dockmoat the way the reverse proxy does',
    `    image: ${busybox}`,
    '    command: ["sleep", "3600"]',
    '    networks: [socket-proxy]',
    '',
  ].join('\n'))
  const files = ['-p', project, '-f', path.join(REPO, file), '-f', override]
  const env = { DOCKMOAT_IMAGE: image, DOCKER_GID: String(socketGid()) }
  t.teardown(async () => {
    await compose([...files, 'down', '--volumes', '--remove-orphans', '--timeout', '1'], { env, timeoutMs: 120_000 })
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const up = await compose([...files, 'up', '-d', 'dockmoat', 'whoami', 'standin'], { env, timeoutMs: 180_000 })
  if (up.code !== 0) throw new Error(`compose up failed: ${show(up)}`)
  const id = async (service: string): Promise<string> => {
    const r = await compose([...files, 'ps', '-q', service], { env })
    const found = r.stdout.trim()
    if (r.code !== 0 || !found) throw new Error(`no container for ${service}: ${show(r)}`)
    return found
  }
  const [standin, whoami, dockmoat] = [await id('standin'), await id('whoami'), await id('dockmoat')]
  const stack: Stack = {
    project, whoami, dockmoat,
    client: (argv, timeoutMs = 30_000) => docker(['exec', standin, ...argv], { timeoutMs }),
    async raw(method, target, body = '') {
      const head = `${method} ${target} HTTP/1.0\r\nHost: dockmoat\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`
      // The stand-in keeps its side open a moment, as HTTP clients do.
      const r = await docker(['exec', '-i', standin, 'sh', '-c', '(cat; sleep 1) | nc -w 5 dockmoat 2375'], { input: head + body })
      return r.stdout
    },
  }
  const ready = await eventually(async () => (await stack.client(['wget', '-q', '-O', '-', 'http://dockmoat:2375/_ping'], 5000)).stdout === 'OK', 30_000)
  if (!ready) throw new Error(`dockmoat does not answer from the stand-in; its logs:\n${(await docker(['logs', dockmoat])).stderr}`)
  return stack
}

async function json<T>(stack: Stack, target: string): Promise<T> {
  const r = await stack.client(['wget', '-q', '-O', '-', `http://dockmoat:2375${target}`])
  if (r.code !== 0) throw new Error(`GET ${target} failed: ${show(r)}`)
  return JSON.parse(r.stdout) as T
}

/** GET /events until a few seconds from now, while the test restarts the application. */
async function eventsDuringRestart(stack: Stack, prefix: string, filters: string): Promise<{ status?: string; id?: string; Action?: string }[]> {
  const until = Math.floor(Date.now() / 1000) + 6
  const streaming = stack.client(['wget', '-q', '-O', '-', `http://dockmoat:2375${prefix}/events?until=${until}&filters=${encodeURIComponent(filters)}`], 30_000)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const restart = await docker(['restart', '-t', '1', stack.whoami])
  if (restart.code !== 0) throw new Error(`restart failed: ${show(restart)}`)
  const r = await streaming
  if (r.code !== 0) throw new Error(`GET /events failed: ${show(r)}`)
  return r.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { status?: string; id?: string })
}

async function checkDeployment(t: Test, stack: Stack, grants: Record<string, string>): Promise<void> {
  const inspect = await docker(['inspect', '--format', '{{json .}}', stack.dockmoat])
  const c = JSON.parse(inspect.stdout) as {
    Config: { Env: string[]; User: string }
    HostConfig: { ReadonlyRootfs: boolean; CapDrop: string[]; GroupAdd: string[]; SecurityOpt: string[]; PortBindings: object }
    NetworkSettings: { Networks: Record<string, object> }
  }
  t.equal(c.HostConfig.ReadonlyRootfs, true, 'read-only root filesystem')
  t.same(c.HostConfig.CapDrop, ['ALL'], 'all capabilities dropped')
  t.same(c.HostConfig.GroupAdd, [String(socketGid())], 'group_add from DOCKER_GID')
  t.same(c.HostConfig.PortBindings ?? {}, {}, 'no published port')
  t.same(Object.keys(c.NetworkSettings.Networks), [`${stack.project}_socket-proxy`], 'only on the socket-proxy network')
  const internal = await docker(['network', 'inspect', '--format', '{{.Internal}}', `${stack.project}_socket-proxy`])
  t.equal(internal.stdout.trim(), 'true', 'the socket-proxy network is internal')
  for (const [name, value] of Object.entries(grants)) t.ok(c.Config.Env.includes(`${name}=${value}`), `${name}=${value}`)
  const extra = c.Config.Env.filter((e) => /^(POST|EXEC|ALLOW_\w+|SWARM|SECRETS|IMAGES|BUILD|VOLUMES)=1$/.test(e))
  t.same(extra, [], 'no write or secret-reading grant')
}

async function checkWritesRefused(t: Test, stack: Stack, prefix: string): Promise<void> {
  const writes: [string, string, string?][] = [
    ['POST', `${prefix}/containers/create`, '{"Image":"x","HostConfig":{"Privileged":true}}'],
    ['DELETE', `${prefix}/containers/${stack.whoami}?force=1`],
    ['POST', `${prefix}/containers/${stack.whoami}/stop`],
    ['POST', `${prefix}/containers/${stack.whoami}/exec`, '{"Cmd":["id"]}'],
    ['GET', `${prefix}/containers/${stack.whoami}/logs?stdout=1`],
    ['GET', `${prefix}/containers/${stack.whoami}/archive?path=/etc`],
    ['POST', `${prefix}/images/create?fromImage=busybox`],
    ['GET', `${prefix}/secrets`],
  ]
  for (const [method, target, body] of writes) {
    const answer = await stack.raw(method, target, body)
    t.match(answer, /^HTTP\/1\.1 403 /, `${method} ${target.replace(stack.whoami, '{id}')} is refused`)
    t.match(answer, /"message":"dockmoat refused/)
  }
  const running = await docker(['inspect', '--format', '{{.State.Running}}', stack.whoami])
  t.equal(running.stdout.trim(), 'true', 'the application is untouched')
}

t.test('docker-compose.example.yml: dockmoat next to Traefik', async (t) => {
  const stack = await bringUp(t, 'docker-compose.example.yml')
  await checkDeployment(t, stack, { CONTAINERS: '1', EVENTS: '1', VERSION: '1', PING: '1' })
  // Traefik's docker provider pins API 1.24 and sends HEAD /_ping (3.6.1+).
  const api = '/v1.24'

  const ping = await stack.raw('HEAD', '/_ping')
  t.match(ping, /^HTTP\/1\.1 200 /, 'HEAD /_ping')
  const version = await json<{ ApiVersion: string }>(stack, `${api}/version`)
  t.match(version.ApiVersion, /^1\.\d+$/, 'GET /version')

  const all = await json<{ Id: string; Labels: Record<string, string> }[]>(stack, `${api}/containers/json?all=1`)
  t.ok(all.some((c) => c.Id === stack.whoami), 'GET /containers/json?all=1 lists the application')
  const labelled = await json<{ Id: string }[]>(stack, `${api}/containers/json?filters=${encodeURIComponent('{"label":{"traefik.enable=true":true}}')}`)
  t.ok(labelled.some((c) => c.Id === stack.whoami), 'the label filter reaches dockerd')
  t.notOk(labelled.some((c) => c.Id === stack.dockmoat), 'and filters')

  const inspected = await json<{ Config: { Labels: Record<string, string> }; NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>(
    stack, `${api}/containers/${stack.whoami}/json`)
  t.equal(inspected.Config.Labels['traefik.http.routers.whoami.rule'], 'Host(`whoami.localhost`)', 'inspect shows the router labels')
  t.match(inspected.NetworkSettings.Networks[`${stack.project}_web`], { IPAddress: /^\d+\.\d+\.\d+\.\d+$/ }, 'and the address on the web network')

  const events = await eventsDuringRestart(stack, api, '{"type":{"container":true}}')
  const mine = events.filter((e) => e.id === stack.whoami).map((e) => e.status)
  t.ok(mine.includes('die') && mine.includes('start'), `GET /events streams die and start (${mine.join(', ')})`)

  const info = await stack.raw('GET', `${api}/info`)
  t.match(info, /^HTTP\/1\.1 403 .*[\s\S]*set INFO=1/, 'GET /info is not granted to Traefik')
  await checkWritesRefused(t, stack, api)
})

t.test('examples/docker-compose.nginx-proxy.yml: dockmoat next to nginx-proxy', async (t) => {
  const stack = await bringUp(t, 'examples/docker-compose.nginx-proxy.yml')
  await checkDeployment(t, stack, { CONTAINERS: '1', EVENTS: '1', INFO: '1', VERSION: '1', PING: '1' })
  // docker-gen (go-dockerclient) calls unversioned paths.
  const api = ''

  t.equal((await stack.client(['wget', '-q', '-O', '-', 'http://dockmoat:2375/_ping'])).stdout, 'OK', 'GET /_ping')
  const info = await json<{ ServerVersion: string; Containers: number }>(stack, `${api}/info`)
  t.ok(info.ServerVersion && info.Containers > 0, 'GET /info (the .Docker template data)')
  const version = await json<{ ApiVersion: string }>(stack, `${api}/version`)
  t.match(version.ApiVersion, /^1\.\d+$/, 'GET /version')
  const running = await json<{ Id: string }[]>(stack, `${api}/containers/json`)
  t.ok(running.some((c) => c.Id === stack.whoami), 'GET /containers/json')
  const inspected = await json<{ Config: { Env: string[] } }>(stack, `${api}/containers/${stack.whoami}/json`)
  t.ok(inspected.Config.Env.includes('VIRTUAL_HOST=whoami.localhost'), 'inspect shows VIRTUAL_HOST')

  const events = await eventsDuringRestart(stack, api, '{"type":["container"]}')
  const mine = events.filter((e) => e.id === stack.whoami).map((e) => e.status)
  t.ok(mine.includes('die') && mine.includes('start'), `GET /events streams die and start (${mine.join(', ')})`)
  await checkWritesRefused(t, stack, api)
})
