// The accept edge (src/http1.ts) against the real dockerd: what node:http's server did for
// dockmoat before, it must still do. Every marker here is a `POST /volumes/create` the
// proxy ALLOWS (VOLUMES=1, POST=1), so its absence at dockerd afterwards means the bytes
// were never read as a request, not that they were refused.
import t from 'tap'
import { requireDocker, uniqueName } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { dockerd, exchange, fromDockerd, markerName, removeVolumesLate, settle, shown, volumeAppears, volumeCreate, volumeExists } from './raw.ts'

await requireDocker()

const proxy: RunningProxy = await startProxy({ VOLUMES: '1', POST: '1', CONTAINERS: '1' })
const markers: string[] = []
t.teardown(async () => {
  await proxy.stop()
  await removeVolumesLate(markers)
})
const where = { port: proxy.port }
const H = 'Host: docker\r\n'
const marker = (label: string): string => {
  const name = markerName(label)
  markers.push(name)
  return name
}

t.test('positive control: the marker request alone is created through this proxy', async (t) => {
  const name = marker('accept-control')
  const x = await exchange(where, volumeCreate(name), { idleMs: 1000 })
  t.equal(x.responses[0]?.status, 201, shown(x))
  t.ok(await volumeExists(name), 'dockerd has the volume')
})

const lastRequests = [
  { name: 'Connection: close', first: `GET /_ping HTTP/1.1\r\n${H}Connection: close\r\n\r\n` },
  { name: 'HTTP/1.0 without keep-alive', first: `GET /_ping HTTP/1.0\r\n${H}\r\n` },
  { name: 'an Upgrade header on a route that is no tunnel', first: `GET /_ping HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n` },
  { name: 'an Upgrade header without Connection: Upgrade', first: `GET /_ping HTTP/1.1\r\n${H}Upgrade: tcp\r\n\r\n` },
]
for (const c of lastRequests) {
  t.test(`nothing pipelined after ${c.name} is read`, async (t) => {
    const name = marker('accept-last')
    const x = await exchange(where, c.first + volumeCreate(name), { idleMs: 1500 })
    t.equal(x.responses.length, 1, `one answer (${shown(x)})`)
    t.equal(x.responses[0]?.status, 200, 'the first request is answered')
    t.ok(x.closedByServer, 'and the connection closed after it')
    await settle()
    t.notOk(await volumeAppears(name), 'dockerd never saw the pipelined create')
  })
}

t.test('HTTP/1.1 without Host is refused as malformed, and nothing after it is read', async (t) => {
  const name = marker('accept-nohost')
  const x = await exchange(where, `GET /_ping HTTP/1.1\r\n\r\n${volumeCreate(name)}`, { idleMs: 1500 })
  t.equal(x.responses.length, 1, shown(x))
  t.equal(x.responses[0]?.status, 400)
  t.match(JSON.parse(x.responses[0]?.text ?? '{}').message, /Host header/, 'the message says what is missing')
  t.equal(fromDockerd(x).length, 0, 'no answer came from dockerd')
  t.ok(x.closedByServer, 'the connection is closed')
  await settle()
  t.notOk(await volumeAppears(name), 'the pipelined create never ran')
})

t.test('an Expect other than 100-continue gets 417, its request never runs, the connection goes on', async (t) => {
  const name = marker('accept-expect')
  const create = volumeCreate(name).replace('Content-Type:', 'Expect: 200-ok\r\nContent-Type:')
  const x = await exchange(where, create + `GET /_ping HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { idleMs: 1500 })
  t.equal(x.responses.length, 2, shown(x))
  t.equal(x.responses[0]?.status, 417)
  t.match(JSON.parse(x.responses[0]?.text ?? '{}').message, /Expect: 200-ok/)
  t.equal(x.responses[1]?.status, 200, 'the next request on the connection is answered (its body was skipped)')
  await settle()
  t.notOk(await volumeExists(name), 'dockerd never created the volume')
})

t.test('a request head that arrives a few bytes at a time, with 40 headers, reaches dockerd whole', async (t) => {
  const missing = uniqueName('accept-split')
  const fillers = Array.from({ length: 40 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(20)}\r\n`).join('')
  const text = `GET /containers/${missing}/json HTTP/1.1\r\n${H}${fillers}Connection: close\r\n\r\n`
  const steps = []
  for (let at = 0; at < text.length; at += 7) steps.push(text.slice(at, at + 7), { waitMs: 1 })
  const x = await exchange(where, steps, { idleMs: 1500 })
  t.equal(x.responses[0]?.status, 404, shown(x))
  t.ok(x.responses[0]?.headers['api-version'] !== undefined, 'dockerd answered')
  t.match(JSON.parse(x.responses[0]?.text ?? '{}').message, missing, "dockerd's answer names the container of the whole path")
  const direct = await dockerd('GET', `/containers/${missing}/json`)
  t.equal(direct.status, 404, 'as dockerd answers it directly')
})

t.test('an idle keep-alive connection is closed by the proxy after its answer', async (t) => {
  const x = await exchange(where, `GET /_ping HTTP/1.1\r\n${H}\r\n`, { idleMs: 15_000, timeoutMs: 20_000 })
  t.equal(x.responses[0]?.status, 200, 'answered first')
  t.ok(x.closedByServer, `then closed by the proxy (${Math.round(x.ms)} ms)`)
  t.ok(x.ms < 15_000, 'before the client gave up waiting')
})
