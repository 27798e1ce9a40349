// The byte relay (relay.ts) when dockerd misbehaves, with a stand-in upstream on a unix
// socket that answers each container name with a broken shape (no dockerd produces these:
// the stand-in is the only way to send them), and pipelining against the REAL dockerd.
// The client must get a clean error or a closed connection, never bytes of another answer.
import t from 'tap'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { requireDocker } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'

await requireDocker()

const SMUGGLED = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED'
const ANSWERS: Record<string, string> = {
  ok: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
  truncated: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
  'close-mid-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab',
  'bad-chunk': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'f'.repeat(2000)}\r\n`,
  'not-http': 'SSH-2.0-OpenSSH\r\n\r\n',
  'both-framings': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'extra-bytes': `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}${SMUGGLED}`,
  // An interim answer and the final one in the same packet.
  interim: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}',
  // A header byte above 0x7f (obs-text), one byte on the wire.
  'high-byte': 'HTTP/1.1 200 OK\r\nX-Raw: caf\xe9\r\nContent-Length: 2\r\n\r\n{}',
  // Nothing to drop: relayed as sent, odd spacing and all.
  'as-sent': 'HTTP/1.1 200 OK\r\nX-Spaced:  two \r\nX-Raw: caf\xe9\r\nContent-Length: 2\r\n\r\n{}',
  chunked: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  'hop-by-hop': 'HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: 1\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\n{}',
}
/** The request heads the stand-in received, as latin1 (one character per byte). */
const received: string[] = []

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-relay-'))
const socketPath = path.join(dir, 'upstream.sock')
const upstream = net.createServer((socket) => {
  let buffered = ''
  socket.on('data', (chunk) => {
    buffered += chunk.toString('latin1')
    for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
      const requestLine = buffered.slice(0, buffered.indexOf('\r\n'))
      received.push(buffered.slice(0, end))
      buffered = buffered.slice(end + 4)
      const name = /\/containers\/([^/]+)\//.exec(requestLine)?.[1] ?? 'ok'
      // `lost`: the connection dies after the request was read, before any answer (dockerd
      // killed, or its connection cut): whether the request ran is unknown.
      if (name === 'lost') return void socket.destroy()
      // `split.SHAPE.K`: the answer SHAPE in two writes, cut after byte K, a moment apart.
      const split = /^split\.([a-z-]+)\.(\d+)$/.exec(name)
      if (split !== null) {
        const answer = Buffer.from(ANSWERS[split[1]!]!, 'latin1')
        const cut = Number(split[2])
        socket.write(answer.subarray(0, cut))
        setTimeout(() => socket.write(answer.subarray(cut)), 5)
        continue
      }
      socket.write(ANSWERS[name] ?? ANSWERS.ok!, 'latin1')
      if (!['ok', 'extra-bytes', 'interim', 'high-byte', 'as-sent', 'hop-by-hop', 'chunked'].includes(name)) socket.end()
    }
  })
  socket.on('error', () => socket.destroy())
})
await new Promise<void>((resolve) => upstream.listen(socketPath, resolve))
t.teardown(() => {
  upstream.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

const standIn = await startProxy({ CONTAINERS: '1', SOCKET_PATH: socketPath })
t.teardown(() => standIn.stop())

/** Writes `text` on one connection and returns everything read until the server closes it (or 3 s pass). */
function converse(port: number, text: string): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text, 'latin1'))
    let data = ''
    const timer = setTimeout(() => { socket.destroy(); resolve({ data, closed: false }) }, 3000)
    socket.on('data', (chunk) => { data += chunk.toString('latin1') })
    socket.on('error', () => undefined)
    socket.on('close', () => { clearTimeout(timer); resolve({ data, closed: true }) })
  })
}

const get = (name: string, extra = ''): string => `GET /v1.41/containers/${name}/json HTTP/1.1\r\nHost: x\r\n${extra}\r\n`

t.test('a misbehaving upstream: a closed connection or a 502, never another answer\'s bytes', async (t) => {
  for (const name of ['truncated', 'close-mid-chunk', 'bad-chunk']) {
    // A second, pipelined request rides behind: it must not be answered on this connection.
    const r = await converse(standIn.port, get(name) + get('ok'))
    t.ok(r.closed, `${name}: the client's connection is closed`)
    t.match(r.data, /^HTTP\/1\.1 200 OK\r\n/, `${name}: after the head dockerd had sent`)
    t.equal(r.data.split('HTTP/1.1 ').length - 1, 1, `${name}: and no second answer (${JSON.stringify(r.data.slice(-40))})`)
  }
  for (const name of ['not-http', 'both-framings']) {
    const r = await converse(standIn.port, get(name, 'Connection: close\r\n'))
    t.match(r.data, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*"message":"dockmoat cannot reach the Docker Engine at [^"]*upstream\.sock: dockerd's answer/, `${name}: 502 naming the socket and what was wrong`)
  }
  const interim = await converse(standIn.port, get('interim', 'Connection: close\r\n'))
  t.match(interim.data, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{\}$/, 'an interim 100 is skipped: the client gets the final answer, whole')
  const extra = await converse(standIn.port, get('extra-bytes') + get('ok', 'Connection: close\r\n'))
  const answers = extra.data.split('HTTP/1.1 ').slice(1)
  t.equal(answers.length, 2, 'extra bytes after an answer: two answers for two requests')
  t.notMatch(extra.data, /SMUGGLED/, 'and the bytes after the first answer never reach the client')
})

t.test('pipelined calls against the real dockerd: each answered in order, whole, refusals between them', async (t) => {
  const proxy = await startProxy({ VERSION: '1', PING: '1' })
  t.teardown(() => proxy.stop())
  const requests = [
    'GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n',
    'HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /v1.41/version HTTP/1.1\r\nHost: x\r\n\r\n',
    'GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  ]
  const r = await converse(proxy.port, requests.join(''))
  t.ok(r.closed, 'the connection closes after the last (Connection: close)')
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
  t.same(statuses, [200, 403, 200, 403, 200, 200], 'six answers, in order')
  t.match(r.data, /\r\n\r\nOK[\s\S]*"message":"dockmoat refused GET \/v1\.41\/containers\/json[\s\S]*"message":"dockmoat refused GET \/debug\/pprof\/[\s\S]*"ApiVersion":"1\.\d+"[\s\S]*\r\n\r\nOK$/, 'each body whole, none cut, nothing after the last')
})

t.test("dockerd's head reaches the client as dockerd sent it, minus hop-by-hop headers", async (t) => {
  const r = await converse(standIn.port, get('as-sent') + get('hop-by-hop') + get('ok', 'Connection: close\r\n'))
  const answers = r.data.split(/(?=HTTP\/1\.1 )/)
  t.equal(answers.length, 3, 'three answers')
  t.equal(answers[0], ANSWERS['as-sent'], 'an answer with nothing to drop or add: byte for byte')
  t.match(answers[1], /\r\nX-Kept: yes\r\n/, 'an answer with hop-by-hop headers keeps the others')
  t.notMatch(answers[1], /Keep-Alive|X-Secret|Connection/i, 'and loses Keep-Alive, Connection and the header Connection names')
  t.match(answers[2], /\r\nConnection: close\r\n/, 'the last says the connection closes')
})

t.test("an answer cut anywhere by dockerd's writes reaches the client the same, byte for byte", async (t) => {
  // Whole, the head and the body that came with it leave as one write; cut inside the head
  // or the body, they leave as they arrive; a head with hop-by-hop headers is rewritten.
  for (const shape of ['as-sent', 'hop-by-hop', 'chunked']) {
    const whole = await converse(standIn.port, get(shape, 'Connection: close\r\n'))
    t.match(whole.data, /^HTTP\/1\.1 200 OK\r\n/, `${shape}: answered whole`)
    const length = Buffer.byteLength(ANSWERS[shape]!, 'latin1')
    const differing: number[] = []
    for (let cut = 1; cut < length; cut++) {
      const r = await converse(standIn.port, get(`split.${shape}.${cut}`, 'Connection: close\r\n'))
      if (r.data !== whole.data || !r.closed) differing.push(cut)
    }
    t.same(differing, [], `${shape}: the same bytes at each of its ${length - 1} cuts`)
  }
})

t.test('a chunked answer is counted by its payload, not its framing (the log line, and the metrics)', async (t) => {
  const r = await converse(standIn.port, get('chunked') + get('ok', 'Connection: close\r\n'))
  t.ok(r.data.includes('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'), 'relayed chunked, as dockerd framed it')
  const line = standIn.logs().find((each) => each.msg === 'request' && each.path === '/v1.41/containers/chunked/json')
  t.equal(line?.bytes, 'hello world'.length, 'bytes: the 11 a client reads, not the 30 on the wire')
})

t.test('header bytes above 0x7f travel as they came, both ways (not re-encoded as UTF-8)', async (t) => {
  const r = await converse(standIn.port, get('high-byte', 'X-Client: na\xefve\r\nConnection: close\r\n'))
  t.match(r.data, /^HTTP\/1\.1 200 OK\r\n/, 'answered')
  t.ok(r.data.includes('X-Raw: caf\xe9\r\n'), 'the client gets dockerd\'s header byte 0xe9 as one byte')
  t.notOk(r.data.includes('caf\xc3\xa9'), 'not its UTF-8 encoding')
  const head = received.find((h) => h.includes('/containers/high-byte/json'))
  t.match(head, /\r\nX-Client: na\xefve(\r\n|$)/, 'dockerd gets the client\'s header byte 0xef as one byte')
  t.notOk(head?.includes('na\xc3\xafve'), 'not its UTF-8 encoding')
})

t.test("a request met by a dead pooled connection is sent again only if it is a GET (a POST may have run)", async (t) => {
  const proxy = await startProxy({ CONTAINERS: '1', ALLOW_RESTARTS: '1', SOCKET_PATH: socketPath })
  t.teardown(() => proxy.stop())
  const seen = (line: string): number => received.filter((head) => head.startsWith(line)).length
  // Each first call leaves a connection in the pool for the lost one to take.
  await converse(proxy.port, get('ok', 'Connection: close\r\n'))
  const inspect = await converse(proxy.port, get('lost', 'Connection: close\r\n'))
  t.match(inspect.data, /^HTTP\/1\.1 502 Bad Gateway\r\n/, 'a GET that meets two dead connections: 502')
  t.equal(seen('GET /v1.41/containers/lost/json'), 2, 'after one retry')
  await converse(proxy.port, get('ok', 'Connection: close\r\n'))
  const kill = await converse(proxy.port, 'POST /v1.41/containers/lost/kill HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(kill.data, /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*"message":"dockmoat cannot reach the Docker Engine at [^"]*upstream\.sock: /, 'a POST that meets a dead connection: 502 naming the socket')
  t.equal(seen('POST /v1.41/containers/lost/kill'), 1, 'sent once: never killed twice')
})

t.test("dockerd's Connection: close ends its connection: the next call goes on a fresh one (real dockerd)", async (t) => {
  const proxy = await startProxy({ CONTAINERS: '1', POST: '1' })
  t.teardown(() => proxy.stop())
  // Go's server reads at most 256 KiB of a body its handler left unread, then answers
  // Connection: close and closes. A create whose JSON is followed by 300,000 spaces (the
  // guard reads it whole, as dockerd's decoder would) for an image that is not there gets
  // such an answer; the kill behind it streams its body and so could not be sent again.
  const create = `{"Image":"dockmoat-test-no-such-image"}${' '.repeat(300_000)}`
  const requests = [
    `POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${create.length}\r\n\r\n${create}`,
    'POST /v1.41/containers/dockmoat-test-no-such-container/kill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
  ]
  for (let round = 0; round < 3; round++) {
    const r = await converse(proxy.port, requests.join(''))
    const answers = [...r.data.matchAll(/HTTP\/1\.1 (\d{3}) [^\r]*\r\n[\s\S]*?\r\n\r\n(\{[^\n]*\})/g)].map((m) => `${m[1]} ${m[2]}`)
    t.match(answers, [/^404 .*No such image: dockmoat-test-no-such-image/, /^404 .*No such container: dockmoat-test-no-such-container/], `round ${round + 1}: both answered by dockerd, the kill not a 502`)
    t.notMatch(r.data.split('\r\n\r\n')[0], /Connection: close/i, "dockerd's Connection: close is its connection's, not the client's")
  }
})
