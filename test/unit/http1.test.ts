// src/http1.ts reads requests as node:http's server read them for dockmoat before: the
// same bytes sent to a node:http server and to an http1.ts server must give the same
// method, target, version and combined headers (node:http is the oracle), or the same
// refusal. The policy decides on these headers (Content-Type first of all). Bodies too:
// http1.ts counts a Content-Length body itself rather than through the parser, so
// pipelined requests with bodies are compared split at every byte.
import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { Connections, type Handlers } from '../../src/http1.ts'
import { exchange } from '../adversarial/raw.ts'

interface Seen { method: string; url: string; httpVersion: string; headers: Record<string, unknown>; body: string }

const echo = (seen: Seen): string => JSON.stringify(seen)

// `/refused...` is answered without reading its body (as dockmoat refuses), `/hang` never.
const nodeServer = http.createServer((req, res) => {
  if (req.url?.startsWith('/refused')) return void res.writeHead(403).end('refused')
  let body = ''
  req.setEncoding('latin1')
  req.on('data', (text: string) => { body += text })
  req.on('end', () => res.end(echo({ method: req.method ?? '', url: req.url ?? '', httpVersion: req.httpVersion, headers: { ...req.headers }, body })))
})
let requestsRead = 0
const connections = new Connections()
const handlers: Handlers = {
  shouldUpgrade: () => false,
  upgrade: (_req, socket) => socket.destroy(),
  malformed: () => {},
  request: (req, reply) => {
    requestsRead++
    if (req.url.startsWith('/refused')) return reply.send(403, {}, 'refused')
    if (req.url === '/hang') return
    let body = ''
    req.body.setEncoding('latin1')
    req.body.on('data', (text: string) => { body += text })
    req.body.on('end', () => reply.send(200, {}, echo({ method: req.method, url: req.url, httpVersion: req.httpVersion, headers: { ...req.headers }, body })))
  },
}
const ourServer = net.createServer({ allowHalfOpen: true }, (socket) => connections.add(socket, handlers))
const listen = (server: net.Server): Promise<number> => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)))
const nodePort = await listen(nodeServer)
const ourPort = await listen(ourServer)
t.teardown(() => {
  nodeServer.close()
  ourServer.close()
  connections.destroyAll()
})

/** The status and body of the first answer to `bytes`, sent with a half-close after them. */
async function ask(port: number, bytes: string): Promise<{ status: number; body: string }> {
  const x = await exchange({ port }, bytes, { endAfterWrite: true, idleMs: 1000 })
  return { status: x.responses[0]?.status ?? 0, body: x.responses[0]?.text ?? '' }
}

const H = 'Host: docker\r\n'
const cases: [string, string][] = [
  ['plain GET', `GET /containers/json?all=1 HTTP/1.1\r\n${H}\r\n`],
  ['HTTP/1.0', `GET /_ping HTTP/1.0\r\n\r\n`],
  ['two Content-Types: the first counts', `POST /containers/create HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}`],
  ['names in any case', `GET / HTTP/1.1\r\nhOsT: docker\r\nX-Registry-AUTH: abc\r\nx-registry-auth: def\r\n\r\n`],
  ['set-cookie twice, cookie twice', `GET / HTTP/1.1\r\n${H}Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nCookie: c=3\r\nCookie: d=4\r\n\r\n`],
  ['repeated ordinary headers join', `GET / HTTP/1.1\r\n${H}Accept: a\r\nAccept: b\r\nX-Thing: 1\r\nX-Thing: 2\r\n\r\n`],
  ['first-wins headers', `GET / HTTP/1.1\r\n${H}User-Agent: one\r\nUser-Agent: two\r\nAuthorization: x\r\nAuthorization: y\r\nReferer: r1\r\nReferer: r2\r\n\r\n`],
  ['empty values and spaces around them', `GET / HTTP/1.1\r\n${H}X-Empty:\r\nX-Spaced:    padded   \r\n\r\n`],
  ['bytes above 0x7f in a value', `GET / HTTP/1.1\r\n${H}X-Latin: caf\xe9\r\n\r\n`],
  ['absolute-form target', `GET http://docker/containers/json HTTP/1.1\r\n${H}\r\n`],
  ['a target with percent escapes', `GET /containers/a%2Fb/json HTTP/1.1\r\n${H}\r\n`],
  ['Content-Length and Transfer-Encoding together', `POST /x HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['two different Content-Lengths', `POST /x HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
  ['a space before the colon', `GET / HTTP/1.1\r\n${H}X-Bad : 1\r\n\r\n`],
  ['a folded header', `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n  b\r\n\r\n`],
  ['a bare LF', `GET / HTTP/1.1\n${H}\n`],
  ['an unknown method', `BREW / HTTP/1.1\r\n${H}\r\n`],
  ['headers over 16 KiB', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`],
  ['60 headers', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 60 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')}\r\n`],
  // Every method llhttp reads, QUERY (numbered after RTSP's methods) included.
  ...http.METHODS.filter((method) => method !== 'CONNECT' && method !== 'HEAD').map((method): [string, string] => [`method ${method}`, `${method} /x HTTP/1.1\r\n${H}\r\n`]),
]

for (const [name, bytes] of cases) {
  t.test(name, async (t) => {
    const [theirs, ours] = await Promise.all([ask(nodePort, bytes), ask(ourPort, bytes)])
    t.equal(ours.status === 200, theirs.status === 200, `both read it, or both refuse it (node:http ${theirs.status}, http1.ts ${ours.status})`)
    if (theirs.status === 200) t.same(JSON.parse(ours.body), JSON.parse(theirs.body), 'the same request, as node:http reads it')
    else t.ok(ours.status >= 400 && ours.status < 500, `refused as malformed (${ours.status})`)
  })
}

// A body that looks like a request, a chunked one, a length with leading zeros, none, and
// one more: every answer's echo (body included) the same as node:http's, wherever TCP cuts.
const smuggled = `GET /smuggled HTTP/1.1\r\n${H}\r\n`
const pipelined = [
  `POST /a HTTP/1.1\r\n${H}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
  // Trailers: the parser reports them as it reports headers; they are no next request's.
  `POST /b HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\nContent-Type: text/trailer\r\n\r\n`,
  `PUT /c HTTP/1.1\r\n${H}Content-Length: 0012\r\n\r\ntwelve bytes`,
  `GET /d HTTP/1.1\r\n${H}\r\n`,
  `POST /e HTTP/1.1\r\n${H}Content-Length: 3\r\n\r\nxyz`,
].join('')

t.test('pipelined requests with bodies, split at every byte', async (t) => {
  const answers = async (port: number, cut: number): Promise<string[]> => {
    const x = await exchange({ port }, [pipelined.slice(0, cut), { waitMs: 1 }, pipelined.slice(cut)], { endAfterWrite: true, idleMs: 1000 })
    return x.responses.map((each) => `${each.status} ${each.text}`)
  }
  const whole = await answers(nodePort, pipelined.length)
  t.equal(whole.length, 5, 'node:http answers five requests')
  t.notOk(whole.join('').includes('"url":"/smuggled"'), 'a body that looks like a request is a body')
  const differing: number[] = []
  for (let cut = 1; cut < pipelined.length; cut++) {
    const [theirs, ours] = await Promise.all([answers(nodePort, cut), answers(ourPort, cut)])
    if (JSON.stringify(theirs) !== JSON.stringify(whole) || JSON.stringify(ours) !== JSON.stringify(whole)) differing.push(cut)
  }
  t.same(differing, [], `the same five answers at each of ${pipelined.length - 1} cuts`)
})

t.test('a refused request\'s unread body, larger than a socket buffer, is read past to the next request', async (t) => {
  const body = 'x'.repeat(200_000)
  for (const [what, head] of [
    ['refused by the handler', `POST /refused HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\n\r\n`],
    ['refused for its Expect', `POST /a HTTP/1.1\r\n${H}Expect: something-else\r\nContent-Length: ${body.length}\r\n\r\n`],
  ] as const) {
    const x = await exchange({ port: ourPort }, head + body + `GET /d HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { idleMs: 3000 })
    t.same(x.responses.map((each) => each.status), [head.includes('Expect') ? 417 : 403, 200], `${what}: both answered`)
  }
  const theirs = await exchange({ port: nodePort }, `POST /refused HTTP/1.1\r\n${H}Content-Length: ${body.length}\r\n\r\n${body}GET /d HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { idleMs: 3000 })
  t.same(theirs.responses.map((each) => each.status), [403, 200], 'as node:http answers')
})

t.test('the keep-alive timeout counts from the last byte: a refused body still arriving is read to its end', async (t) => {
  // 16 KiB over 7 s, past the 5 s keep-alive timeout, then a pipelined request.
  const pieces = Array.from({ length: 8 }, () => ['y'.repeat(2048), { waitMs: 900 }]).flat() as (string | { waitMs: number })[]
  const steps = [`POST /refused HTTP/1.1\r\n${H}Content-Length: ${8 * 2048}\r\n\r\n`, ...pieces, `GET /d HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]
  const [theirs, ours] = await Promise.all([exchange({ port: nodePort }, steps, { idleMs: 3000 }), exchange({ port: ourPort }, steps, { idleMs: 3000 })])
  t.same(theirs.responses.map((each) => each.status), [403, 200], 'node:http answers both')
  t.same(ours.responses.map((each) => each.status), [403, 200], 'so does http1.ts')
})

t.test('a client that pipelines without reading stops being read, whatever body comes behind', async (t) => {
  // /hang is never answered: the answers behind it queue up until reading pauses; a
  // request whose body is read then must not resume it.
  const before = requestsRead
  const pings = (n: number): string => `GET /d HTTP/1.1\r\n${H}\r\n`.repeat(n)
  const x = await exchange({ port: ourPort }, [
    `GET /hang HTTP/1.1\r\n${H}\r\n` + pings(14) + `POST /a HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nfive.`,
    { waitMs: 200 },
    'more.' + pings(5000),
    { waitMs: 500 },
  ], { idleMs: 200, timeoutMs: 3000 })
  t.ok(x.responses.length === 0, 'nothing answered: the first request hangs')
  const read = requestsRead - before
  t.ok(read <= 20, `${read} requests read, not the 5,000 sent behind the queue`)
})
