// dockerode (docker-modem) pointed at dockmoat, against the REAL dockerd.
import t from 'tap'
import net from 'node:net'
import { PassThrough, type Readable } from 'node:stream'
import Docker from 'dockerode'
import { cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'

await requireDocker()
const image = await testImage()

const GRANTS = { CONTAINERS: '1', POST: '1', EXEC: '1', ALLOW_LOGS: '1' }

function client(port: number): Docker {
  return new Docker({ host: '127.0.0.1', port })
}

/** Runs a container directly against dockerd (not through the proxy) and returns its id. */
async function runDirect(name: string, cmd: string[]): Promise<string> {
  const r = await docker(['run', '-d', '--name', name, image, ...cmd])
  if (r.code !== 0) throw new Error(`docker run ${name} failed: ${r.stderr}`)
  return r.stdout.trim()
}

/** Resolves with `pick(text)` once it is truthy; rejects on timeout or when the stream ends first. */
function waitFor<T>(stream: Readable, text: () => string, pick: (text: string) => T | undefined, what: string, ms = 30_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(text())}`)), ms)
    const check = (): void => {
      const found = pick(text())
      if (found !== undefined) done(undefined, found)
    }
    const onEnd = (): void => { check(); done(new Error(`the stream ended before ${what}; got ${JSON.stringify(text())}`)) }
    const onError = (error: Error): void => done(error)
    let settled = false
    function done(error: Error | undefined, value?: T): void {
      if (settled) return
      settled = true
      clearTimeout(timer)
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onEnd)
      stream.off('error', onError)
      if (error) reject(error)
      else resolve(value as T)
    }
    const onData = (): void => { setImmediate(check) }
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('close', onEnd)
    stream.on('error', onError)
    check()
  })
}

/** Collects what docker.modem.demuxStream writes to stdout and stderr. */
function demux(d: Docker, stream: Readable): { out: PassThrough; stdout: () => string; stderr: () => string } {
  const out = new PassThrough()
  const err = new PassThrough()
  let stdout = ''
  let stderr = ''
  out.on('data', (c: Buffer) => { stdout += c.toString() })
  err.on('data', (c: Buffer) => { stderr += c.toString() })
  d.modem.demuxStream(stream, out, err)
  return { out, stdout: () => stdout, stderr: () => stderr }
}

t.test('listContainers through the proxy sees a container dockerd runs', async (t) => {
  const name = uniqueName('ode-list')
  t.teardown(() => cleanup('container', [name]))
  const id = await runDirect(name, ['sleep', '300'])
  const proxy = await startProxy(GRANTS)
  t.teardown(() => proxy.stop())

  const list = await client(proxy.port).listContainers({ all: true })
  t.ok(Array.isArray(list), 'an array')
  const mine = list.find((c) => c.Id === id)
  t.ok(mine, `the list holds ${name}`)
  t.same(mine?.Names, [`/${name}`], 'with its name')
  t.equal(mine?.State, 'running', 'and its state')
})

t.test('createContainer + start + inspect through the proxy', async (t) => {
  const name = uniqueName('ode-create')
  t.teardown(() => cleanup('container', [name]))
  const proxy = await startProxy(GRANTS)
  t.teardown(() => proxy.stop())
  const d = client(proxy.port)

  const container = await d.createContainer({ Image: image, Cmd: ['sleep', '300'], name, Labels: { 'org.dockmoat.test': 'dockerode' } })
  t.match(container.id, /^[0-9a-f]{64}$/, 'created, with an id')
  await container.start()
  const info = await container.inspect()
  t.equal(info.Name, `/${name}`, 'inspect names it')
  t.equal(info.State.Running, true, 'inspect says running')

  const direct = await docker(['inspect', '--format', '{{.State.Running}} {{index .Config.Labels "org.dockmoat.test"}}', name])
  t.equal(direct.code, 0, direct.stderr)
  t.equal(direct.stdout.trim(), 'true dockerode', 'dockerd itself runs it with the label')
})

t.test('hijacked exec with stdin through the proxy (Content-Length body)', { timeout: 90_000 }, async (t) => {
  const name = uniqueName('ode-exec')
  t.teardown(() => cleanup('container', [name]))
  await runDirect(name, ['sleep', '300'])
  const proxy = await startProxy(GRANTS)
  t.teardown(() => proxy.stop())
  const d = client(proxy.port)

  const exec = await d.getContainer(name).exec({
    Cmd: ['sh', '-c', 'cat; echo "[done]"; echo to-stderr >&2'],
    AttachStdin: true, AttachStdout: true, AttachStderr: true,
  })
  // docker-modem sends the start options as a JSON body with Content-Length, keeps the
  // request open (stdin) and hands back the upgraded socket.
  const stream = await exec.start({ hijack: true, stdin: true }) as unknown as net.Socket
  const { stdout, stderr, out } = demux(d, stream)
  const text = 'hello through dockmoat\nsecond line\n'
  stream.write(text)
  stream.end()
  const got = await waitFor(out, stdout, (s) => (s.includes('[done]') ? s : undefined), 'the echoed stdin')
  t.equal(got, text + '[done]\n', 'cat echoed stdin back, and saw its end')
  await waitFor(stream, stderr, (s) => (s.includes('to-stderr') ? s : undefined), 'stderr').catch(() => undefined)
  t.equal(stderr(), 'to-stderr\n', 'stderr is demuxed apart')

  const inspected = await exec.inspect()
  for (let i = 0; i < 50 && inspected.Running; i++) Object.assign(inspected, await exec.inspect())
  t.equal(inspected.ExitCode, 0, 'the exec exited 0 after stdin was closed')
})

t.test('hijacked exec whose chunked body arrives in a later packet (raw socket)', { timeout: 90_000 }, async (t) => {
  // The same upgrade, framed with Transfer-Encoding: chunked and its body sent 300 ms
  // after the headers: the proxy must wait for the whole body before forwarding.
  const name = uniqueName('ode-chunked')
  t.teardown(() => cleanup('container', [name]))
  await runDirect(name, ['sleep', '300'])
  const proxy = await startProxy(GRANTS)
  t.teardown(() => proxy.stop())
  const d = client(proxy.port)
  const exec = await d.getContainer(name).exec({ Cmd: ['cat'], AttachStdin: true, AttachStdout: true, AttachStderr: true })

  const socket = net.connect(proxy.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let raw = Buffer.alloc(0)
  socket.on('data', (c: Buffer) => { raw = Buffer.concat([raw, c]) })
  socket.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.write(`POST /v1.41/exec/${exec.id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n` +
    'Connection: Upgrade\r\nUpgrade: tcp\r\nTransfer-Encoding: chunked\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const body = JSON.stringify({ Detach: false, Tty: false })
  socket.write(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)

  const head = await waitFor(socket, () => raw.toString('latin1'), (s) => {
    const end = s.indexOf('\r\n\r\n')
    return end === -1 ? undefined : s.slice(0, end)
  }, 'the response head')
  t.match(head, /^HTTP\/1\.1 101 /, `dockerd upgraded the connection: ${head.split('\r\n')[0]}`)

  socket.write('chunked stdin\n')
  socket.end()
  // Frames: 8-byte header (stream, 0, 0, 0, big-endian length), then the payload.
  const payload = (): string => {
    let buffer = raw.subarray(raw.indexOf('\r\n\r\n') + 4)
    let text = ''
    while (buffer.length >= 8 && buffer.length >= 8 + buffer.readUInt32BE(4)) {
      if (buffer[0] === 1) text += buffer.subarray(8, 8 + buffer.readUInt32BE(4)).toString()
      buffer = buffer.subarray(8 + buffer.readUInt32BE(4))
    }
    return text
  }
  const echoed = await waitFor(socket, payload, (s) => (s.includes('\n') ? s : undefined), 'the echoed stdin')
  t.equal(echoed, 'chunked stdin\n', 'cat echoed stdin through the tunnel')
})

t.test('container.logs({follow:true}) streams live with ALLOW_LOGS', { timeout: 90_000 }, async (t) => {
  const name = uniqueName('ode-logs')
  t.teardown(() => cleanup('container', [name]))
  await runDirect(name, ['sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done'])
  const proxy = await startProxy(GRANTS)
  t.teardown(() => proxy.stop())
  const d = client(proxy.port)

  const stream = await d.getContainer(name).logs({ follow: true, stdout: true }) as unknown as Readable
  t.teardown(() => stream.destroy())
  const { stdout, out } = demux(d, stream)
  const first = await waitFor(out, stdout, (s) => /tick (\d+)\n/.exec(s)?.[1], 'a first line')
  const later = Number(first) + 2
  await waitFor(out, stdout, (s) => (s.includes(`tick ${later}\n`) ? true : undefined), `tick ${later}`)
  t.pass(`lines written after the stream opened arrived live (tick ${first} .. tick ${later})`)
  t.match(stdout(), new RegExp(`tick ${first}\\n(tick \\d+\\n)*tick ${later}\\n`), 'in order, with none lost')
})

t.test('getEvents() receives a live event through the proxy', { timeout: 90_000 }, async (t) => {
  const name = uniqueName('ode-events')
  t.teardown(() => cleanup('container', [name]))
  const proxy = await startProxy(GRANTS)
  t.teardown(() => proxy.stop())
  const d = client(proxy.port)

  const stream = await d.getEvents({ filters: { container: [name] } }) as unknown as Readable
  t.teardown(() => stream.destroy())
  let text = ''
  stream.on('data', (c: Buffer) => { text += c.toString() })
  const created = await docker(['create', '--name', name, image, 'true'])
  t.equal(created.code, 0, created.stderr)
  const event = await waitFor(stream, () => text, (s) => s.split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> } })
    .find((e) => e.Action === 'create'), 'the create event')
  t.equal(event.Type, 'container', 'a container event')
  t.equal(event.Actor.ID, created.stdout.trim(), 'for the container created directly')
  t.equal(event.Actor.Attributes.name, name, 'with its name')
})

t.test('refusals surface in dockerode as errors with statusCode 403 and the dockmoat message', async (t) => {
  const name = uniqueName('ode-refused')
  t.teardown(() => cleanup('container', [name]))
  await runDirect(name, ['sleep', '300'])
  const proxy = await startProxy({ CONTAINERS: '1' })
  t.teardown(() => proxy.stop())
  const d = client(proxy.port)

  t.ok((await d.listContainers()).length > 0, 'reads still pass')
  await t.rejects(d.createContainer({ Image: image, Cmd: ['true'], name: uniqueName('never') }), {
    statusCode: 403,
    json: { message: /^dockmoat refused POST \/containers\/create\?\S* \(POST \/containers\/create\): set POST=1 \(CONTAINERS=1 already set\)/ },
    message: /HTTP code 403.*dockmoat refused POST \/containers\/create/,
  }, 'create needs POST=1')
  // For streaming calls docker-modem reads the refusal body into the message (json stays null).
  await t.rejects(d.getContainer(name).logs({ follow: true, stdout: true }), {
    statusCode: 403,
    message: /HTTP code 403.*dockmoat refused GET \/containers\/[^ ]+\/logs\S* \(GET \/containers\/\{name\}\/logs\): set ALLOW_LOGS=1/,
  }, 'logs need ALLOW_LOGS=1 (a streaming call)')
  await t.rejects(d.getContainer(name).exec({ Cmd: ['true'] }), {
    statusCode: 403,
    message: /HTTP code 403/,
    json: { message: /dockmoat refused POST .*\/exec .*EXEC=1/ },
  }, 'exec needs EXEC=1')
  await t.rejects(d.listImages(), { statusCode: 403, message: /HTTP code 403/, json: { message: /dockmoat refused GET \/images\/json .*IMAGES=1/ } }, 'images need IMAGES=1')
  await t.rejects(d.getContainer(name).stop({ t: 0 }), { statusCode: 403, message: /HTTP code 403/, json: { message: /dockmoat refused POST .*\/stop.*ALLOW_STOP=1/ } }, 'stop names its action grant')

  const direct = await docker(['inspect', '--format', '{{.State.Running}}', name])
  t.equal(direct.stdout.trim(), 'true', 'the refused stop did not reach dockerd')
})
