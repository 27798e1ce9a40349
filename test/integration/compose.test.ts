// docker-compose 1.29 (Python, docker SDK) driven through dockmoat against the REAL dockerd.
// Every effect is checked directly against dockerd, never through the proxy.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cleanup, compose, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy, type LogLine } from '../helpers/proxy.ts'
import { decide } from '../../src/policy.ts'
import { parseConfig, type Toggle } from '../../src/settings.ts'

await requireDocker()
const image = await testImage()

/**
 * The smallest set of grants docker-compose 1.29 needs for `up -d` and `down -v` of a
 * service with a named volume and a network (read from the proxy logs: compose calls
 * GET /info on `up`, so INFO is needed beside the brief's five).
 */
const COMPOSE_GRANTS: Record<string, string> = { CONTAINERS: '1', NETWORKS: '1', VOLUMES: '1', IMAGES: '1', INFO: '1', POST: '1' }

function project(prefix: string): { name: string; dir: string; file: string; container: string; volume: string; network: string } {
  const name = uniqueName(prefix)
  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-compose-'))
  const file = join(dir, 'docker-compose.yml')
  writeFileSync(file, [
    'version: "3.8"',
    'services:',
    '  app:',
    `    image: ${image}`,
    '    command: sleep 300',
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
  return { name, dir, file, container: `${name}_app_1`, volume: `${name}_data`, network: `${name}_net` }
}

/** Removes whatever the project left behind, straight against dockerd. */
async function removeProject(p: ReturnType<typeof project>): Promise<void> {
  await compose(['-p', p.name, '-f', p.file, 'down', '-v', '--timeout', '1'], { timeoutMs: 120_000 }).catch(() => undefined)
  const left = await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${p.name}`])
  await cleanup('container', [p.container, ...left.stdout.split('\n').filter(Boolean)])
  await cleanup('volume', [p.volume])
  await cleanup('network', [p.network])
  rmSync(p.dir, { recursive: true, force: true })
}

async function projectContainers(name: string): Promise<string[]> {
  const r = await docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${name}`, '--format', '{{.Names}}'])
  if (r.code !== 0) throw new Error(`docker ps failed: ${r.stderr}`)
  return r.stdout.split('\n').filter(Boolean)
}

const exists = async (kind: 'volume' | 'network' | 'container', name: string): Promise<boolean> =>
  (await docker([kind, 'inspect', name])).code === 0

const requests = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.msg === 'request' || l.msg === 'refused')

t.test('compose up -d and down -v through dockmoat with the minimal grants', { timeout: 240_000 }, async (t) => {
  const p = project('compose-up')
  t.teardown(() => removeProject(p))
  const proxy = await startProxy(COMPOSE_GRANTS)
  t.teardown(() => proxy.stop())

  const up = await compose(['-p', p.name, '-f', p.file, 'up', '-d'], { host: proxy.dockerHost, timeoutMs: 120_000 })
  t.equal(up.code, 0, `compose up -d exits 0\n${up.stdout}\n${up.stderr}`)

  // Directly against dockerd: the container runs the test image with the volume and network.
  t.same(await projectContainers(p.name), [p.container], 'one container for the project')
  const inspect = await docker(['inspect', p.container])
  t.equal(inspect.code, 0, inspect.stderr)
  const info = inspect.code === 0 ? JSON.parse(inspect.stdout)[0] : {}
  t.equal(info.State?.Running, true, 'the service container is running')
  t.equal(info.Config?.Image, image, 'it runs the test image')
  t.same(info.Config?.Cmd, ['sleep', '300'], 'with the compose command')
  t.ok((info.Mounts ?? []).some((m: { Type: string; Name?: string }) => m.Type === 'volume' && m.Name === p.volume), `mounts volume ${p.volume}`)
  t.ok(Object.keys(info.NetworkSettings?.Networks ?? {}).includes(p.network), `is attached to network ${p.network}`)
  t.ok(await exists('volume', p.volume), 'the named volume exists')
  t.ok(await exists('network', p.network), 'the network exists')

  const down = await compose(['-p', p.name, '-f', p.file, 'down', '-v', '--timeout', '1'], { host: proxy.dockerHost, timeoutMs: 120_000 })
  t.equal(down.code, 0, `compose down -v exits 0\n${down.stdout}\n${down.stderr}`)

  t.same(await projectContainers(p.name), [], 'the container was removed')
  t.notOk(await exists('volume', p.volume), 'the volume was removed')
  t.notOk(await exists('network', p.network), 'the network was removed')

  // The proxy logs show every call compose made: none was refused, and each grant of
  // the set is needed by at least one of them (dropping it would refuse that call).
  const calls = requests(proxy.logs())
  t.ok(calls.length > 10, `the proxy logged compose's calls (${calls.length})`)
  t.same(calls.filter((l) => l.decision !== 'allow').map((l) => `${l.method} ${l.path}: ${l.reason}`), [], 'no call was refused')
  const granted = parseConfig(COMPOSE_GRANTS).grants
  for (const name of Object.keys(COMPOSE_GRANTS) as Toggle[]) {
    const without = { ...granted, [name]: false }
    const needs = calls.filter((l) => !decide(String(l.method), String(l.path), without).allow)
    t.ok(needs.length > 0, `${name}=1 is needed (e.g. ${needs[0] ? String(needs[0].route) : 'nothing'})`)
  }
  const routes = new Set(calls.map((l) => l.route))
  for (const route of ['POST /containers/create', 'POST /containers/{name}/start', 'DELETE /containers/{name}',
    'POST /networks/create', 'DELETE /networks/{id}', 'POST /volumes/create', 'DELETE /volumes/{name}', 'GET /info']) {
    t.ok(routes.has(route), `compose called ${route} through the proxy`)
  }
})

t.test('compose up -d with POST=0 is refused by dockmoat and creates nothing', { timeout: 180_000 }, async (t) => {
  const p = project('compose-ro')
  t.teardown(() => removeProject(p))
  const proxy = await startProxy({ ...COMPOSE_GRANTS, POST: '0' })
  t.teardown(() => proxy.stop())

  const up = await compose(['-p', p.name, '-f', p.file, 'up', '-d'], { host: proxy.dockerHost, timeoutMs: 120_000 })
  t.not(up.code, 0, 'compose up -d fails')
  t.match(up.stdout + up.stderr, /dockmoat refused POST \S*\/(networks|volumes|containers)\/create .*set POST=1/,
    'compose prints the dockmoat refusal naming POST=1')

  t.same(await projectContainers(p.name), [], 'no container was created')
  t.notOk(await exists('container', p.container), `no container ${p.container}`)
  t.notOk(await exists('volume', p.volume), `no volume ${p.volume}`)
  t.notOk(await exists('network', p.network), `no network ${p.network}`)

  const refused = requests(proxy.logs()).filter((l) => l.decision === 'deny')
  t.ok(refused.length > 0, 'the proxy logged the refusal')
  t.ok(refused.every((l) => l.method !== 'GET' && l.method !== 'HEAD'), 'only writes were refused')
})
