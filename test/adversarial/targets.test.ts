// Request-target tricks end to end: dockmoat must forward exactly the target it
// classified, so that dockerd runs the route dockmoat allowed and nothing else. dockerd's
// own answer names the object it parsed ("Cannot kill container: X"), which shows what it
// ran; marker containers and volumes show that nothing else ran.
import t from 'tap'
import { cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { containersLabelled, exchange, fromDockerd, markerName, removeVolumesLate, settle, shown, volumeExists } from './raw.ts'

await requireDocker()
const image = await testImage()

// ALLOW_RESTARTS alone: kill, restart and stop of any container, nothing else.
const restarts: RunningProxy = await startProxy({ ALLOW_RESTARTS: '1' })
// Container reads only.
const reads: RunningProxy = await startProxy({ CONTAINERS: '1' })

const box = uniqueName('targets-box')
const created = await docker(['create', '--name', box, '--network', 'none', '--label', 'org.dockmoat.test=true', image, 'true'])
if (created.code !== 0) throw new Error(`cannot create the test container: ${created.stderr}`)

const markers: string[] = []
const labels: string[] = []
t.teardown(async () => {
  await Promise.all([restarts.stop(), reads.stop()])
  const leftovers = (await Promise.all(labels.map((l) => containersLabelled(`org.dockmoat.marker=${l}`)))).flat()
  await cleanup('container', [box, ...leftovers])
  await removeVolumesLate(markers)
})

const H = 'Host: docker\r\n'

t.test('a fragment-looking `#` cannot cut the forwarded path short (kill of create#/X, not create)', async (t) => {
  for (const hash of ['#', '%23']) {
    const label = markerName('fragment')
    labels.push(label)
    // If anything on the way cut the path at `#`, dockerd would run POST /containers/create
    // with this body and a labelled container would appear.
    const body = JSON.stringify({ Image: image, Cmd: ['true'], Labels: { 'org.dockmoat.test': 'true', 'org.dockmoat.marker': label } })
    const target = `/containers/create${hash}/${label}/kill`
    const x = await exchange({ port: restarts.port }, `POST ${target} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    const answer = x.responses[0]
    t.ok(answer?.headers['api-version'], `allowed as a kill and forwarded (${shown(x)})`)
    const parsed = `create#/${label}` // `%23` is decoded once, to `#`, by both
    t.match(answer?.text ?? '', `Cannot kill container: ${parsed}`, `dockerd ran kill on the container named ${JSON.stringify(parsed)}, as dockmoat classified it`)
    await settle()
    t.same(await containersLabelled(`org.dockmoat.marker=${label}`), [], 'no container was created')
  }
})

t.test('greedy names: the route dockerd runs is the one dockmoat granted', async (t) => {
  const cases: [string, string, RegExp][] = [
    // A prefix matcher would see /logs (needs ALLOW_LOGS); dockerd inspects the container "box/logs".
    ['GET', `/containers/${box}/logs/json`, new RegExp(`No such container: ${box}/logs`)],
    ['GET', `/containers/${box}/export/json`, new RegExp(`No such container: ${box}/export`)],
    ['GET', `/containers/${box}%2Farchive/json`, new RegExp(`No such container: ${box}/archive`)],
    ['GET', `/containers/${box}%252Flogs/json`, new RegExp(`No such container: ${box}%2Flogs`)],
    ['GET', `/v1.41.0/containers/${box}/top/json`, new RegExp(`No such container: ${box}/top`)],
    ['GET', `http://docker/containers/${box}/changes/json`, new RegExp(`No such container: ${box}/changes`)],
  ]
  for (const [method, target, expected] of cases) {
    const x = await exchange({ port: reads.port }, `${method} ${target} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
    t.equal(x.responses[0]?.status, 404, `${target}: forwarded as an inspect (${shown(x)})`)
    t.match(x.responses[0]?.text ?? '', expected, `${target}: dockerd parsed the same greedy name`)
  }
  // And with ALLOW_RESTARTS alone, /start hidden in a name is still a kill.
  const x = await exchange({ port: restarts.port }, `POST /containers/${box}/start/kill HTTP/1.1\r\n${H}Content-Length: 0\r\nConnection: close\r\n\r\n`)
  t.match(x.responses[0]?.text ?? '', `Cannot kill container: ${box}/start`, 'POST /containers/X/start/kill is a kill of X/start')
  const status = await docker(['inspect', '--format', '{{.State.Status}}', box])
  t.equal(status.stdout.trim(), 'created', 'the container was never started')
})

t.test('encoded, versioned and absolute spellings of forbidden routes are refused', async (t) => {
  const marker = markerName('spelling')
  markers.push(marker)
  const body = JSON.stringify({ Name: marker })
  const targets = [
    '/volumes/create', '/%76olumes/create', '/volumes/%63reate', '/v1.41/volumes/create', '/v1.41.0/volumes/create',
    '/v01.041/volumes/create', '/%761.41/volumes/create', '/v1.41%2Fvolumes/create', 'http://docker/volumes/create',
    'http://docker/v1.41/volumes/create', 'HTTP://x/volumes/create', 'http:/volumes/create', '/volumes/create?x=/containers/json',
    '/volumes/create#/containers/json', '/containers/json/../../volumes/create', '/containers/%2e%2e/volumes/create',
    '//volumes/create', '/volumes//create', '/VOLUMES/create', '/volumes/create/',
  ]
  for (const target of targets) {
    const x = await exchange({ port: reads.port }, `POST ${target} HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    t.equal(fromDockerd(x).length, 0, `POST ${target}: dockerd saw nothing (${shown(x)})`)
  }
  await settle()
  t.notOk(await volumeExists(marker), 'no marker volume exists')
})
