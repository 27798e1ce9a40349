// Upgrade and hijack abuse through dockmoat. dockerd keeps parsing HTTP on a connection
// whenever it answers anything but 101, so a proxy that tunnels the client's bytes before
// it has seen the 101 lets pipelined requests through unchecked. Each case pipelines a
// forbidden marker request (`POST /volumes/create` of a unique volume; VOLUMES is off)
// behind an upgrade attempt and checks with dockerd that the marker never ran.
import t, { type Test } from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import { cleanup, docker, requireDocker, testImage, uniqueName, DOCKER_SOCKET } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { dockerd, exchange, fromDockerd, markerName, ping, removeVolumes, removeVolumesLate, settle, shown, volumeAppears, volumeCreate, volumeExists } from './raw.ts'

await requireDocker()
const image = await testImage()

// Hijacks allowed: attach and exec (CONTAINERS, EXEC, POST), BuildKit's /grpc and /session.
const open: RunningProxy = await startProxy({ CONTAINERS: '1', POST: '1', EXEC: '1', GRPC: '1', SESSION: '1' })
// Reads only: every hijack route is forbidden here.
const readOnly: RunningProxy = await startProxy({ CONTAINERS: '1', EXEC: '1' })

// A container whose stdin is open and echoed back (`cat`), for attach and exec.
const box = uniqueName('upgrade-cat')
const run = await docker(['run', '-d', '-i', '--name', box, '--network', 'none', '--label', 'org.dockmoat.test=true', image, 'cat'])
if (run.code !== 0) throw new Error(`cannot start the test container: ${run.stderr}`)

const markers: string[] = []
t.teardown(async () => {
  await Promise.all([open.stop(), readOnly.stop()])
  await cleanup('container', [box])
  await removeVolumesLate(markers)
})

const H = 'Host: docker\r\n'
const UPGRADE = 'Connection: Upgrade\r\nUpgrade: tcp\r\n'

/** Markers sent through the proxy: none may ever exist, even late (see the last test). */
const proxied: string[] = []

function marker(): { name: string; request: string } {
  const name = markerName('upgrade')
  markers.push(name)
  proxied.push(name)
  return { name, request: volumeCreate(name) }
}

async function newExec(): Promise<string> {
  const r = await dockerd('POST', `/containers/${box}/exec`, { Cmd: ['true'], AttachStdout: true })
  const id = (r.json as { Id?: string } | undefined)?.Id
  if (r.status !== 201 || id === undefined) throw new Error(`cannot create an exec instance: ${r.status} ${r.body}`)
  return id
}

/** Sends bytes through the proxy; asserts the marker never ran; returns the exchange. */
async function attempt(t: Test, proxy: RunningProxy, name: string, bytes: string, what: string): Promise<Awaited<ReturnType<typeof exchange>>> {
  const x = await exchange({ port: proxy.port }, bytes, { idleMs: 1000 })
  await settle()
  t.notOk(await volumeExists(name), `${what}: dockerd has no volume ${name} (${shown(x)})`)
  // (After a 101 the rest is the hijacked stream, which may echo the bytes back.)
  t.notOk(x.responses.some((r) => r.status !== 101 && r.text.includes(`"Name":"${name}"`)), `${what}: no answer of dockerd to the pipelined request`)
  t.equal((await ping(proxy.port)).status, 200, 'the proxy still serves another client')
  return x
}

/** The same bytes straight to dockerd: does the pipelined request run there? (comment only) */
async function control(t: Test, build: (markerRequest: string) => string): Promise<void> {
  const name = markerName('control')
  markers.push(name)
  await exchange({ socketPath: DOCKER_SOCKET }, build(volumeCreate(name)), { idleMs: 800 })
  const live = await volumeAppears(name)
  t.comment(live ? 'control: straight to dockerd, the pipelined request DOES run' : 'control: straight to dockerd, the pipelined request does not run either')
  if (live) await removeVolumes([name])
}

t.test('Upgrade on a non-hijack route (container create with a body) is plain HTTP', async (t) => {
  for (const protocol of ['tcp', 'h2c', 'websocket']) {
    const m = marker()
    const body = JSON.stringify({ Image: 'dockmoat-test-zq-no-such-image:latest', Labels: { 'org.dockmoat.test': 'true' } })
    const bytes = `POST /containers/create HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: ${protocol}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}${m.request}`
    const x = await attempt(t, open, m.name, bytes, `Upgrade: ${protocol}`)
    const first = x.responses[0]
    t.equal(first?.status, 404, `the create itself reached dockerd as HTTP, with its body (${first?.text.trim()})`)
    t.match(first?.text ?? '', /No such image/, 'dockerd read the JSON body')
    t.notOk(x.responses.some((r) => r.status === 101), 'no 101: the connection was never handed over')
  }
})

t.test('attach to a missing container answered 404, with pipelined bytes behind it', async (t) => {
  const m = marker()
  const bytes = `POST /containers/dockmoat-test-zq-no-such-container/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n${H}${UPGRADE}Content-Length: 0\r\n\r\n${m.request}`
  const x = await attempt(t, open, m.name, bytes, 'attach 404')
  t.equal(x.responses[0]?.status, 404, 'dockerd\'s 404 is relayed')
  t.match(x.responses[0]?.text ?? '', /No such container/, 'the 404 is dockerd\'s own')
  t.ok(x.closedByServer, 'the proxy closed the connection after the non-101 answer')
})

t.test('after a real 101, pipelined bytes go to the container, not to dockerd\'s HTTP parser', async (t) => {
  const m = marker()
  const bytes = `POST /containers/${box}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n${H}${UPGRADE}Content-Length: 0\r\n\r\n${m.request}`
  const x = await attempt(t, open, m.name, bytes, 'attach 101')
  t.equal(x.responses[0]?.status, 101, 'the attach was upgraded')
  t.ok(x.text.includes(`"Name":"${m.name}"`), 'the pipelined bytes came back from `cat` in the container: they were stdin')
})

t.test('exec start with {"Detach":true} and Upgrade: dockerd answers 200 and keeps HTTP', async (t) => {
  for (const framing of ['length', 'chunked'] as const) {
    const m = marker()
    const id = await newExec()
    const body = '{"Detach":true}'
    const framed = framing === 'length'
      ? `Content-Length: ${body.length}\r\n\r\n${body}`
      : `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
    const build = (request: string, exec: string): string => `POST /exec/${exec}/start HTTP/1.1\r\n${H}${UPGRADE}Content-Type: application/json\r\n${framed}${request}`
    const x = await attempt(t, open, m.name, build(m.request, id), `Detach with ${framing} body`)
    t.equal(x.responses[0]?.status, 200, 'dockerd answered 200 (no hijack)')
    t.ok(x.responses[0]?.headers['api-version'], 'the 200 is dockerd\'s')
    t.equal(fromDockerd(x).length, 1, 'exactly one answer came from dockerd')
    t.ok(x.closedByServer, 'the proxy closed the connection instead of tunnelling')
    const another = await newExec()
    await control(t, (request) => build(request, another))
  }
})

t.test('/grpc and /session with a wrong upgrade protocol, then a pipelined request', async (t) => {
  for (const path of ['/grpc', '/session']) {
    for (const protocol of ['tcp', 'websocket', 'h2']) {
      const m = marker()
      const build = (request: string): string => `POST ${path} HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: ${protocol}\r\nContent-Length: 0\r\n\r\n${request}`
      const x = await attempt(t, open, m.name, build(m.request), `${path} with Upgrade: ${protocol}`)
      t.ok((x.responses[0]?.status ?? 0) >= 400, `dockerd refused the upgrade (${x.responses[0]?.status} ${x.responses[0]?.text.trim()})`)
      t.ok(x.closedByServer, 'the proxy closed the connection')
      if (protocol === 'tcp') await control(t, build)
    }
  }
})

t.test('the HTTP/2 connection preface is refused, never passed through', async (t) => {
  const m = marker()
  // Preface, an empty SETTINGS frame, then a pipelined HTTP/1.1 request for good measure.
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]).toString('latin1')
  const bytes = `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${settings}${m.request}`
  const x = await attempt(t, open, m.name, bytes, 'HTTP/2 preface')
  t.equal(fromDockerd(x).length, 0, 'dockerd answered nothing')
  t.ok(x.closedByServer, 'the proxy closed the connection')
  t.notOk(x.text.includes('\x00\x00'), 'no HTTP/2 frames came back')
})

t.test('an h2c upgrade on an allowed read is answered as HTTP/1.1', async (t) => {
  const m = marker()
  const bytes = `GET /_ping HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${m.request}`
  const x = await attempt(t, open, m.name, bytes, 'h2c upgrade')
  t.equal(x.responses[0]?.status, 200, 'plain 200 from dockerd')
  t.notOk(x.responses.some((r) => r.status === 101), 'never switched protocols')
})

t.test('hijack routes that are not granted are refused before any upgrade', async (t) => {
  const id = await newExec()
  const requests = [
    `POST /containers/${box}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n${H}${UPGRADE}Content-Length: 0\r\n\r\n`,
    `GET /containers/${box}/attach/ws?stream=1&stdin=1 HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://evil.example\r\n\r\n`,
    `POST /exec/${id}/start HTTP/1.1\r\n${H}${UPGRADE}Content-Type: application/json\r\nContent-Length: 17\r\n\r\n{"Detach":false}\n`,
    `POST /grpc HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n`,
    `POST /session HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n`,
  ]
  for (const request of requests) {
    const x = await exchange({ port: readOnly.port }, request + 'hello\n', { idleMs: 800 })
    const line = request.split('\r\n')[0]
    t.equal(x.responses[0]?.status, 403, `${line}: 403 (${shown(x)})`)
    t.equal(fromDockerd(x).length, 0, `${line}: dockerd saw nothing`)
    t.notOk(x.responses.some((r) => r.status === 101), `${line}: not upgraded`)
  }
  const inspect = await dockerd('GET', `/exec/${id}/json`)
  t.equal((inspect.json as { Running?: boolean; ExitCode?: number | null } | undefined)?.ExitCode ?? null, null, 'the exec instance never started (dockerd says so)')
})

t.test('a hijack request body over 1 MiB is refused by dockmoat', async (t) => {
  const id = await newExec()
  const size = 2 * 1024 * 1024
  const x = await exchange({ port: open.port }, [
    `POST /exec/${id}/start HTTP/1.1\r\n${H}${UPGRADE}Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    Buffer.alloc(size, 0x20),
  ], { idleMs: 1000 })
  t.equal(x.responses[0]?.status, 400, `refused (${shown(x)})`)
  t.equal(fromDockerd(x).length, 0, 'dockerd saw nothing')
  const inspect = await dockerd('GET', `/exec/${id}/json`)
  t.equal((inspect.json as { ExitCode?: number | null } | undefined)?.ExitCode ?? null, null, 'the exec instance never started')
})

t.test('no marker sent through dockmoat appears late', async (t) => {
  await settle(2000)
  const late = []
  for (const name of proxied) if (await volumeExists(name)) late.push(name)
  t.same(late, [], `none of the ${proxied.length} marker volumes exists at dockerd`)
})

t.test('an attach whose client resets before the 101 leaves no tunnel to dockerd behind', async (t) => {
  const sockets = (): number => fs.readdirSync(`/proc/${open.child.pid}/fd`).filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/${open.child.pid}/fd/${fd}`).startsWith('socket:')
    } catch {
      return false
    }
  }).length
  await new Promise((resolve) => setTimeout(resolve, 300))
  const before = sockets()
  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve) => {
      const client = net.connect(open.port, '127.0.0.1', () => {
        client.write(`POST /containers/${box}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n${H}${UPGRADE}Content-Length: 0\r\n\r\n`, () => {
          client.resetAndDestroy()
          resolve()
        })
      })
      client.on('error', () => resolve())
    })
  }
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const after = sockets()
  t.ok(after <= before + 2, `the proxy holds ${after} sockets after 20 reset attaches, ${before} before`)
  const echo = await exchange({ port: open.port }, `POST /containers/${box}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n${H}${UPGRADE}Content-Length: 0\r\n\r\nstill-echoed\n`, { idleMs: 1000 })
  t.ok(echo.text.includes('still-echoed'), 'and the container still echoes to the next attach')
})
