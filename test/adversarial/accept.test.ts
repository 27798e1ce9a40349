// The accept edge (src/http1.ts) against the real dockerd: what node:http's server did for
// dockmoat before, it must still do. Every marker here is a `POST /volumes/create` the
// proxy ALLOWS (VOLUMES=1, POST=1), so its absence at dockerd afterwards means the bytes
// were never read as a request, not that they were refused.
import t, { type Test } from 'tap'
import net from 'node:net'
import { DOCKER_SOCKET, cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { dockerd, exchange, fromDockerd, markerName, removeVolumesLate, rssKib, settle, shown, volumeAppears, volumeCreate, volumeExists } from './raw.ts'

await requireDocker()

const proxy: RunningProxy = await startProxy({ VOLUMES: '1', POST: '1', CONTAINERS: '1', ALLOW_ARCHIVE: '1' })
const markers: string[] = []
const containers: string[] = []
t.teardown(async () => {
  await proxy.stop()
  await removeVolumesLate(markers)
  await cleanup('container', containers)
})
const where = { port: proxy.port }
const H = 'Host: docker\r\n'
/** A container made straight at dockerd (removed at the end), for the archive uploads. */
const container = async (t: Test, label: string): Promise<string> => {
  const name = uniqueName(label)
  containers.push(name)
  const created = await docker(['create', '--name', name, await testImage(), 'true'])
  t.equal(created.code, 0, created.stderr)
  return name
}
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

t.test('an HTTP/0.9 or HTTP/2.0 request line is answered 505, as dockerd answers it, and nothing behind it is read', async (t) => {
  for (const version of ['HTTP/2.0', 'HTTP/0.9']) {
    const request = `GET /_ping ${version}\r\n${H}\r\n`
    const direct = await exchange({ socketPath: DOCKER_SOCKET }, request, { idleMs: 1000 })
    t.equal(direct.responses[0]?.status, 505, `${version}: dockerd answers 505 (${shown(direct)})`)
    const name = marker('accept-version')
    const x = await exchange(where, request + volumeCreate(name), { idleMs: 1500 })
    t.equal(x.responses.length, 1, `${version}: one answer (${shown(x)})`)
    t.equal(x.responses[0]?.status, 505, `${version}: 505 from dockmoat`)
    t.match(x.responses[0]?.text ?? '', new RegExp(`"message":"dockmoat refused a malformed request: HTTP Version Not Supported: ${version.replace('.', '\\.')}"`), 'naming the version')
    t.equal(fromDockerd(x).length, 0, 'dockerd was not asked')
    t.ok(x.closedByServer, 'and the connection closed')
    await settle()
    t.notOk(await volumeAppears(name), 'dockerd never saw the pipelined create')
  }
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

t.test('a client that goes away in the middle of a streamed body leaves the proxy serving, with no error', async (t) => {
  const name = await container(t, 'accept-cut-upload')
  await new Promise<void>((resolve) => {
    const socket = net.connect(proxy.port, '127.0.0.1', () => {
      socket.write(`PUT /containers/${name}/archive?path=%2Ftmp HTTP/1.1\r\n${H}Content-Type: application/x-tar\r\nContent-Length: 10000000\r\n\r\n`)
      socket.write(Buffer.alloc(100_000))
      setTimeout(() => { socket.destroy(); resolve() }, 300)
    })
    socket.on('error', () => undefined)
  })
  await settle(500)
  const ping = await exchange(where, `GET /_ping HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
  t.equal(ping.responses[0]?.status, 200, 'the next client is served')
  const cut = proxy.logs().filter((line) => line.route === 'PUT /containers/{name}/archive')
  t.equal(cut.length, 1, 'the cut upload has its log line')
  t.equal(cut[0]?.complete, false, 'marked incomplete')
  t.same(proxy.logs().filter((line) => Number(line.level) >= 50).map((line) => line.msg), [], 'and nothing was logged as an error')
})

t.test('a streamed body whose chunk framing breaks halfway cuts the connection instead of leaving it hanging', async (t) => {
  const name = await container(t, 'accept-bad-chunk')
  const head = `PUT /containers/${name}/archive?path=%2Ftmp HTTP/1.1\r\n${H}Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n`
  const x = await exchange(where, [head, `200\r\n${'\0'.repeat(512)}\r\n`, { waitMs: 200 }, 'zz-not-a-chunk-size\r\n'], { idleMs: 5000, timeoutMs: 15_000 })
  t.ok(x.closedByServer, `closed by the proxy (${shown(x)})`)
  t.ok(x.ms < 5000, 'without waiting for a timeout')
  t.equal((await exchange(where, `GET /_ping HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)).responses[0]?.status, 200, 'the proxy goes on serving')
})

t.test('a client that pipelines and never reads its answers is not read further: memory stays bounded', async (t) => {
  const pid = proxy.child.pid!
  const before = rssKib(pid)
  const one = 'GET /networks HTTP/1.1\r\n' + H + '\r\n'
  const socket = net.connect(proxy.port, '127.0.0.1')
  socket.on('error', () => undefined)
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  socket.pause()
  const batch = one.repeat(1000)
  const until = Date.now() + 6000
  while (Date.now() < until) {
    if (socket.write(batch)) continue
    // The proxy may never read again (that is the point): the wait for a drain is dropped after 200 ms.
    let drained = (): void => {}
    await Promise.race([new Promise<void>((resolve) => socket.once('drain', drained = resolve)), settle(200)])
    socket.off('drain', drained)
  }
  const grown = (rssKib(pid) - before) / 1024
  t.ok(grown < 200, `the proxy grew by ${Math.round(grown)} MiB while the client wrote ${Math.round(socket.bytesWritten / 1024 / 1024)} MiB of requests`)
  t.ok(socket.bytesWritten < 64 * 1024 * 1024, 'the client could not push more than the kernel buffers')
  const ping = await exchange(where, `GET /_ping HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
  t.equal(ping.responses[0]?.status, 200, 'another client is served meanwhile')
  socket.destroy()
})

t.test('HTTP/1.0 with keep-alive: every answer says so, and the connection stays for the next request', async (t) => {
  const keep = 'Connection: keep-alive\r\n'
  const x = await exchange(where, [
    `GET /_ping HTTP/1.0\r\n${H}${keep}\r\n`,
    `GET /secrets HTTP/1.0\r\n${H}${keep}\r\n`,
    `GET /version HTTP/1.0\r\n${H}\r\n`,
  ], { idleMs: 1500 })
  t.equal(x.responses.length, 3, shown(x))
  t.equal(x.responses[0]?.status, 200, "dockerd's answer")
  t.equal(x.responses[0]?.headers.connection, 'keep-alive', 'relayed with Connection: keep-alive')
  t.equal(x.responses[1]?.status, 403, "dockmoat's own refusal")
  t.equal(x.responses[1]?.headers.connection, 'keep-alive', 'also with Connection: keep-alive')
  t.equal(x.responses[2]?.status, 200)
  t.equal(x.responses[2]?.headers.connection, 'close', 'the request without keep-alive gets Connection: close')
  t.ok(x.closedByServer, 'and the connection closes after it')
})
