// POLICY_FILE `match: container` against the REAL dockerd: a compose project's containers
// call dockmoat over their network's gateway, and each gets the profile its container name
// matches (a soft identity: the container found at the caller's address). docker-compose
// 1.29 starts the project directly on dockerd; every effect is checked there too.
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, cleanup, compose, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy, type LogLine } from '../helpers/proxy.ts'

await requireDocker()
const image = await testImage()

const name = uniqueName('match').replace(/-/g, '')
const dir = mkdtempSync(join(tmpdir(), 'dockmoat-match-'))
const file = join(dir, 'docker-compose.yml')
const policy = join(dir, 'policy.yaml')
writeFileSync(file, [
  'version: "3.8"',
  'services:',
  ...['dashboard', 'intruder'].flatMap((service) => [`  ${service}:`, `    image: ${image}`, '    command: sleep 300']),
  '',
].join('\n'))
writeFileSync(policy, [
  'profiles:',
  '  - name: dashboard',
  `    match: { container: "${name}_dashboard_*" }`,
  '    env: { CONTAINERS: 1 }',
  // A leading wildcard, as in `*_traefik_1`: a link alias `/linker/x_aliased` would match it.
  '  - name: aliased',
  `    match: { container: "*_${name}_aliased" }`,
  '    env: { CONTAINERS: 1 }',
  '  - name: host',
  '    match: { source: 127.0.0.1 }',
  '    env: { INFO: 1 }',
  '',
].join('\n'))
const dashboard = `${name}_dashboard_1`
const intruder = `${name}_intruder_1`
t.teardown(async () => {
  await compose(['-p', name, '-f', file, 'down', '--timeout', '1'], { timeoutMs: 120_000 }).catch(() => undefined)
  await cleanup('container', [dashboard, intruder])
  await cleanup('network', [`${name}_default`])
  rmSync(dir, { recursive: true, force: true })
})

const up = await compose(['-p', name, '-f', file, 'up', '-d'], { timeoutMs: 120_000 })
if (up.code !== 0) throw new Error(`compose up failed: ${up.stderr}`)
const gateway = (await docker(['network', 'inspect', `${name}_default`, '-f', '{{(index .IPAM.Config 0).Gateway}}'])).stdout.trim()
const proxy = await startProxy({ POLICY_FILE: policy, LISTEN_ADDRESS: '0.0.0.0' })
t.teardown(() => proxy.stop())

/** `wget` inside the container, to dockmoat on the network's gateway: the HTTP status and body. */
async function callFrom(container: string, path: string): Promise<{ ok: boolean; output: string }> {
  const r = await docker(['exec', container, 'wget', '-q', '-O', '-', `http://${gateway}:${proxy.port}${path}`], { timeoutMs: 30_000 })
  return { ok: r.code === 0, output: r.stdout + r.stderr }
}

const requestLines = (): LogLine[] => proxy.logs().filter((l) => l.msg === 'request' || l.msg === 'refused')

/** The request lines logged after `from`, once there are `count` of them (the log arrives over a pipe). */
async function linesAfter(from: number, count = 1): Promise<LogLine[]> {
  for (let waited = 0; requestLines().length < from + count && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
  return requestLines().slice(from)
}

t.test('the dashboard container gets its profile by its name', async (t) => {
  t.match(gateway, /^\d+\.\d+\.\d+\.1$/, `the project network's gateway (${gateway})`)
  const list = await callFrom(dashboard, '/v1.41/containers/json')
  t.ok(list.ok, `GET /containers/json from ${dashboard} is answered (${list.output.slice(0, 120)})`)
  const names = list.ok ? (JSON.parse(list.output) as { Names: string[] }[]).flatMap((c) => c.Names) : []
  t.ok(names.includes(`/${dashboard}`), 'with dockerd\'s container list')
  const info = await callFrom(dashboard, '/v1.41/info')
  t.notOk(info.ok, 'GET /info from the dashboard is refused: its profile grants CONTAINERS only')
  await linesAfter(0, 2)
  const line = requestLines().find((l) => l.path === '/v1.41/containers/json' && l.decision === 'allow')
  t.equal(line?.profile, 'dashboard', 'the log line names the profile')
  const refused = requestLines().find((l) => l.path === '/v1.41/info')
  t.match(String(refused?.reason), /set INFO=1 \(POLICY_FILE profile dashboard\)/, 'the refusal names the variable and the profile')
})

t.test('another container on the same network matches no profile and is refused', async (t) => {
  const from = requestLines().length
  const list = await callFrom(intruder, '/v1.41/containers/json')
  t.notOk(list.ok, `GET /containers/json from ${intruder} is refused`)
  const line = (await linesAfter(from)).find((l) => l.path === '/v1.41/containers/json')
  t.equal(line?.status, 403, 'with 403')
  t.match(String(line?.reason), new RegExp(`no profile of POLICY_FILE matches this client \\(listener plain, address [0-9.]+, no client certificate, container ${intruder}\\)`), 'saying no profile matches, and which container it is')
})

t.test('the host is no container: it gets the profile its address matches', async (t) => {
  for (let i = 0; i < 3; i++) {
    const from = requestLines().length
    const r = await fetch(`http://127.0.0.1:${proxy.port}/v1.41/info`)
    t.equal(r.status, 200, `call ${i + 1} from the host is served by the host profile`)
    t.equal((await linesAfter(from)).at(-1)?.profile, 'host', '... logged as such')
  }
})

t.test('a container on an address the dashboard held gets nothing of the dashboard\'s', async (t) => {
  const network = `${name}_default`
  const address = (await docker(['inspect', dashboard, '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`])).stdout.trim()
  t.match(address, /^\d+\.\d+\.\d+\.\d+$/, `the dashboard's address (${address})`)
  const before = await callFrom(dashboard, '/v1.41/containers/json')
  t.ok(before.ok, 'the dashboard is served, so its address is in dockmoat\'s view')
  t.equal((await docker(['rm', '-f', dashboard])).code, 0, 'the dashboard is removed')
  const successor = `${name}_successor`
  t.teardown(() => cleanup('container', [successor]))
  t.equal((await docker(['run', '-d', '--name', successor, '--network', network, image, 'sleep', '300'])).code, 0, 'a new container joins the network')
  const now = (await docker(['inspect', successor, '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`])).stdout.trim()
  const list = await callFrom(successor, '/v1.41/containers/json')
  t.notOk(list.ok, `the successor (address ${now}${now === address ? ', the dashboard\'s own' : ''}) is refused`)
})

t.test('a legacy link alias that matches the pattern does not name the container', async (t) => {
  // Links on the default bridge add `/linker/alias` to the target's Names, and dockerd
  // lists names sorted, so the alias can come first.
  const target = `${name}_zz`
  const linker = `${name}_aa`
  t.teardown(() => cleanup('container', [linker, target]))
  t.equal((await docker(['run', '-d', '--name', target, image, 'sleep', '300'])).code, 0, 'a container on the default bridge')
  t.equal((await docker(['run', '-d', '--name', linker, '--link', `${target}:x_${name}_aliased`, image, 'sleep', '300'])).code, 0, 'another links to it with an alias the pattern *_..._aliased matches')
  const names = JSON.parse((await docker(['inspect', target, '-f', '{{json .Name}}'])).stdout) as string
  t.equal(names, `/${target}`, 'its own name')
  const listed = ((await api('GET', `/containers/json?filters=${encodeURIComponent(JSON.stringify({ id: [(await docker(['inspect', target, '-f', '{{.Id}}'])).stdout.trim()] }))}`)).json as { Names: string[] }[])[0]?.Names ?? []
  t.equal(listed[0], `/${linker}/x_${name}_aliased`, `dockerd lists the alias first among its names (${listed.join(', ')})`)
  const bridge = (await docker(['network', 'inspect', 'bridge', '-f', '{{(index .IPAM.Config 0).Gateway}}'])).stdout.trim()
  const r = await docker(['exec', target, 'wget', '-q', '-O', '-', `http://${bridge}:${proxy.port}/v1.41/containers/json`], { timeoutMs: 30_000 })
  t.not(r.code, 0, 'the linked container is refused: the alias is not its name')
})
