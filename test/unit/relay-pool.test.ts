// relay.ts's pool of connections to dockerd, with http1.ts, against stub dockerds (one
// function's contract, not a feature's proof; each stub does what dockerd does only by
// chance of timing): a connection back in the pool is no longer the exchange's that used
// it, and must not be paused, ended or asked twice on its behalf.
//
// First: an answer whose last bytes fill a slow client's socket must not leave dockerd's
// connection paused in the pool, where the next exchange on it — another client's — would
// wait for the slow client to read. The stub answers each request with one write of 48 KiB,
// so an answer's end and the client's full socket meet in one chunk, as they can with
// dockerd's own single-write answers.
import t, { type Test } from 'tap'
import net from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ask, relay, UpstreamSockets } from '../../src/relay.ts'
import { upstreamRequestHeaders } from '../../src/headers.ts'
import { Connections, type Handlers } from '../../src/http1.ts'

const BODY = Buffer.alloc(48 * 1024, 'x')
const ANSWER = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`), BODY])

t.test('a client that stops reading does not stall the next client on a shared dockerd connection', async (t) => {
  const socketPath = await stubDockerd(t, (_line, socket) => socket.write(ANSWER))
  const port = await relayProxy(t, socketPath)

  // The slow client: one request every 2 ms, nothing read, until its answers fill the sockets.
  const slow = net.connect(port, '127.0.0.1')
  slow.pause()
  await new Promise((resolve) => slow.on('connect', resolve))
  let sent = 0
  const pace = setInterval(() => {
    sent++
    slow.write('GET /big HTTP/1.1\r\nHost: docker\r\n\r\n')
  }, 2)

  const ask = (): Promise<string> => new Promise((resolve) => {
    const other = net.connect(port, '127.0.0.1', () => other.write('GET /other HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n'))
    let bytes = 0
    let status = ''
    other.on('data', (chunk: Buffer) => {
      if (bytes === 0) status = chunk.toString('latin1').split('\r\n')[0]!
      bytes += chunk.length
    })
    other.on('end', () => resolve(`${status}, ${bytes > BODY.length ? 'whole' : `cut at ${bytes} bytes`}`))
    other.on('error', () => resolve('error'))
    setTimeout(() => { other.destroy(); resolve('no answer within 2 s') }, 2000)
  })

  // Four other clients, one request after another, so that one of them is the next to take
  // dockerd's connection from the pool after the slow client's answer paused it.
  const answers: string[] = []
  const until = performance.now() + 3000
  await Promise.all([1, 2, 3, 4].map(async () => {
    while (performance.now() < until) answers.push(await ask())
  }))
  clearInterval(pace)
  t.ok(sent > 500, `the slow client sent ${sent} requests`)
  t.ok(answers.length > 100, `the other clients asked ${answers.length} times`)
  t.same(answers.filter((each) => each !== 'HTTP/1.1 200 OK, whole'), [], 'every other client is answered whole while the slow client reads nothing')

  slow.destroy()
})

/** A stub dockerd on a fresh unix socket: `answer` gets each request line and the socket. */
async function stubDockerd(t: Test, answer: (requestLine: string, socket: net.Socket) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'dockmoat-relay-pool-'))
  const socketPath = join(dir, 'dockerd.sock')
  const stub = net.createServer((socket) => {
    let pending = ''
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        answer(pending.slice(0, pending.indexOf('\r\n')), socket)
        pending = pending.slice(end + 4)
      }
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => stub.listen(socketPath, resolve))
  t.teardown(() => {
    stub.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return socketPath
}

/**
 * http1.ts in front of relay.ts on `socketPath` and nothing else; `lines` gives a
 * request's line filter (OWNER's events). Returns the port.
 */
async function relayProxy(t: Test, socketPath: string, lines: (url: string) => ((line: string) => Promise<boolean>) | undefined = () => undefined): Promise<number> {
  const pool = new UpstreamSockets(socketPath)
  const handlers: Handlers = {
    shouldUpgrade: () => false,
    upgrade: (_req, socket) => socket.destroy(),
    malformed: () => {},
    request: (req, reply) => {
      const filter = lines(req.url)
      const abort = relay(pool, { method: req.method, path: req.url, headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, true), body: undefined, http10: false, ...(filter === undefined ? {} : { lines: { keep: filter } }) }, reply, { onBytes: () => {}, onUnanswered: () => reply.destroy() })
      reply.onDone((complete) => { if (!complete) abort() })
    },
  }
  const connections = new Connections()
  const proxy = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => connections.add(socket, handlers))
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    connections.destroyAll()
    pool.destroy()
    proxy.close()
  })
  return (proxy.address() as net.AddressInfo).port
}

t.test("a client leaving after its answer ended does not cut another client's call on the same dockerd connection", async (t) => {
  // OWNER's event stream: dockerd's answer has ended, its connection is back in the pool,
  // and the last line is still being judged (an ownership lookup) when the client goes away.
  const socketPath = await stubDockerd(t, (line, socket) => {
    if (line.startsWith('GET /events')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"a":1}\n\r\n0\r\n\r\n')
    else setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK'), 300)
  })
  // Each line of the events is judged for 600 ms (an ownership lookup).
  const port = await relayProxy(t, socketPath, (url) => url === '/events' ? () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 600)) : undefined)

  const watcher = net.connect(port, '127.0.0.1', () => watcher.write('GET /events HTTP/1.1\r\nHost: docker\r\n\r\n'))
  watcher.on('error', () => {})
  await new Promise((resolve) => setTimeout(resolve, 100))
  const answer = new Promise<string>((resolve) => {
    const other = net.connect(port, '127.0.0.1', () => other.write('GET /ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n'))
    let data = ''
    other.on('data', (chunk: Buffer) => { data += chunk.toString('latin1') })
    other.on('close', () => resolve(data))
    setTimeout(() => { other.destroy(); resolve(`no answer within 2 s (${JSON.stringify(data)})`) }, 2000)
  })
  // The other call is on the events' connection by now, its answer 300 ms away: the watcher
  // leaves (a reset: a FIN alone is a half-close, after which answers still go out).
  await new Promise((resolve) => setTimeout(resolve, 100))
  watcher.resetAndDestroy()
  t.match(await answer, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nOK$/, 'the other client is answered whole')
})

t.test('a lookup that times out is not sent again, and fails after its own timeout', async (t) => {
  let asked = 0
  const socketPath = await stubDockerd(t, (_line, socket) => {
    // Answers the first request only: then dockerd is busy and says nothing.
    if (++asked === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK')
  })
  const pool = new UpstreamSockets(socketPath)
  t.teardown(() => pool.destroy())
  t.equal((await ask(pool, 'GET', '/_ping', undefined, 1000)).status, 200, 'the first lookup is answered (its connection pooled)')
  const started = performance.now()
  await t.rejects(ask(pool, 'GET', '/_ping', undefined, 300), /no answer within 300 ms/, 'the second, on the pooled connection, times out')
  const took = performance.now() - started
  t.ok(took < 550, `after its 300 ms (${Math.round(took)} ms), not twice that`)
  t.equal(asked, 2, 'dockerd was asked twice in all: the timed-out lookup once')
})
