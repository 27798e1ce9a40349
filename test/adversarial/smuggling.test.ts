// Request smuggling through dockmoat with restrictive grants: every payload hides a
// forbidden `POST /volumes/create` of a uniquely named marker volume behind an allowed
// request, using a framing that some HTTP parser reads differently (dockerd's Go parser
// accepts CL+TE, duplicate Content-Length, HTTP/1.0 with TE, bare LF, folded headers).
// Evidence comes from dockerd alone: afterwards the marker volume must not exist, and no
// answer may be dockerd's answer to the marker request. A positive control sends the same
// bytes straight to dockerd's socket and notes whether the hidden request would run there.
import t from 'tap'
import { requireDocker, DOCKER_SOCKET } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { exchange, markerName, ping, removeVolumes, removeVolumesLate, settle, shown, volumeAppears, volumeCreate, volumeExists } from './raw.ts'

await requireDocker()

// CONTAINERS=1 lets container reads through; ALLOW_START=1 lets one write through
// (POST /containers/{id}/start) so that bodies of allowed requests are exercised too.
// VOLUMES and POST stay off: the marker request is forbidden.
const proxy: RunningProxy = await startProxy({ CONTAINERS: '1', ALLOW_START: '1' })
const markers: string[] = []
t.teardown(async () => {
  await proxy.stop()
  await removeVolumesLate(markers)
})

const H = 'Host: docker\r\n'
const START = 'POST /containers/dockmoat-test-zq-no-such-container/start HTTP/1.1\r\n'
const hex = (n: number): string => n.toString(16)

interface SmugglingCase {
  name: string
  /** Builds the bytes around the marker request V. */
  bytes: (v: string) => string
}

const CASES: SmugglingCase[] = [
  // Content-Length and Transfer-Encoding together (Go: chunked wins)
  { name: 'CL.TE: Content-Length covers the hidden request, chunked ends before it', bytes: (v) => `${START}${H}Content-Length: ${5 + v.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${v}` },
  { name: 'TE.CL: the hidden request sits in a chunk, Content-Length ends before it', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${hex(v.length)}\r\n${v}\r\n0\r\n\r\n` },
  { name: 'CL.TE on an allowed GET', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}Content-Length: ${5 + v.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${v}` },
  { name: 'TE, then CL 0, then the hidden request', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n${v}` },
  // Content-Length repeated
  { name: 'duplicate identical Content-Length', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 0\r\n\r\n${v}` },
  { name: 'conflicting Content-Length: 0 then the hidden request\'s length', bytes: (v) => `${START}${H}Content-Length: 0\r\nContent-Length: ${v.length}\r\n\r\n${v}` },
  { name: 'conflicting Content-Length: the hidden request\'s length then 0', bytes: (v) => `${START}${H}Content-Length: ${v.length}\r\nContent-Length: 0\r\n\r\n${v}` },
  { name: 'Content-Length as a list "0, N"', bytes: (v) => `${START}${H}Content-Length: 0, ${v.length}\r\n\r\n${v}` },
  { name: 'Content-Length with a sign or spaces', bytes: (v) => `${START}${H}Content-Length: +0\r\n\r\n${v}` },
  // HTTP/1.0 with Transfer-Encoding (Go ignores TE on HTTP/1.0)
  { name: 'HTTP/1.0 keep-alive with TE: chunked terminator then the hidden request', bytes: (v) => `GET /containers/json HTTP/1.0\r\n${H}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${v}` },
  { name: 'HTTP/1.0 keep-alive with TE: the hidden request inside a chunk', bytes: (v) => `GET /containers/json HTTP/1.0\r\n${H}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${hex(v.length)}\r\n${v}\r\n0\r\n\r\n` },
  { name: 'HTTP/1.0 with TE on an allowed POST', bytes: (v) => `${START.replace('HTTP/1.1', 'HTTP/1.0')}${H}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${v}` },
  // Content-Length: 0 and a second request
  { name: 'Content-Length: 0 followed by a second request', bytes: (v) => `${START}${H}Content-Length: 0\r\n\r\n${v}` },
  { name: 'GET with Content-Length: 0 followed by a second request', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}Content-Length: 0\r\n\r\n${v}` },
  // Line endings and folding (Go accepts bare LF and obs-fold)
  { name: 'bare LF line endings', bytes: (v) => `GET /containers/json HTTP/1.1\n${H.replace('\r\n', '\n')}Content-Length: 0\n\n${v}` },
  { name: 'bare LF hiding a Transfer-Encoding header', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}X-Pad: a\nTransfer-Encoding: chunked\r\nContent-Length: ${v.length}\r\n\r\n${v}` },
  { name: 'bare LF hiding a Content-Length header', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}X-Pad: a\nContent-Length: 0\r\n\r\n${v}` },
  { name: 'bare CR inside a header', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}X-Pad: a\rContent-Length: 0\r\n\r\n${v}` },
  { name: 'folded header line', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}X-Pad: a\r\n b\r\nContent-Length: 0\r\n\r\n${v}` },
  { name: 'folded Transfer-Encoding value', bytes: (v) => `${START}${H}Transfer-Encoding:\r\n chunked\r\nContent-Length: ${v.length}\r\n\r\n${v}` },
  // Transfer-Encoding spellings
  { name: 'Transfer-Encoding: xchunked', bytes: (v) => `${START}${H}Transfer-Encoding: xchunked\r\nContent-Length: ${v.length}\r\n\r\n${v}` },
  { name: 'Transfer-Encoding: chunked, identity', bytes: (v) => `${START}${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${v}` },
  { name: 'Transfer-Encoding: identity, then the hidden request', bytes: (v) => `${START}${H}Transfer-Encoding: identity\r\n\r\n${v}` },
  { name: 'space before the colon of Transfer-Encoding', bytes: (v) => `${START}${H}Transfer-Encoding : chunked\r\nContent-Length: ${v.length}\r\n\r\n${v}` },
  { name: 'tab before the Transfer-Encoding value', bytes: (v) => `${START}${H}Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n${v}` },
  { name: 'Transfer-Encoding given twice', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${v}` },
  { name: 'header name with a leading space', bytes: (v) => `${START}${H} Transfer-Encoding: chunked\r\nContent-Length: ${v.length}\r\n\r\n${v}` },
  // Chunk framing
  { name: 'chunk size with 0x prefix', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\n\r\n0x0\r\n\r\n${v}` },
  { name: 'chunk extension on the last chunk', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\n\r\n0;ext=1\r\n\r\n${v}` },
  { name: 'overflowing chunk size', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\n${v}\r\n0\r\n\r\n` },
  { name: 'chunk without its CRLF, then the hidden request', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n${v}` },
  { name: 'trailer section smuggling a request line', bytes: (v) => `${START}${H}Transfer-Encoding: chunked\r\n\r\n0\r\n${v.split('\r\n')[0]}\r\n\r\n${v}` },
  // Request line
  { name: 'request line with a trailing word', bytes: (v) => `GET /containers/json HTTP/1.1 x\r\n${H}\r\n${v}` },
  { name: 'two spaces in the request line', bytes: (v) => `GET  /containers/json HTTP/1.1\r\n${H}\r\n${v}` },
  { name: 'NUL in a header name', bytes: (v) => `GET /containers/json HTTP/1.1\r\n${H}X-\x00: a\r\n\r\n${v}` },
  { name: 'Expect: 100-continue on the forbidden request itself', bytes: (v) => v.replace('Content-Type:', 'Expect: 100-continue\r\nContent-Type:') },
  // Pipelining
  { name: 'pipelined: allowed read, then the hidden request', bytes: (v) => `GET /_ping HTTP/1.1\r\n${H}\r\n${v}` },
  { name: 'pipelined: allowed write, then the hidden request', bytes: (v) => `${START}${H}Content-Length: 2\r\nContent-Type: application/json\r\n\r\n{}${v}` },
  { name: 'pipelined: the hidden request between two allowed reads', bytes: (v) => `GET /_ping HTTP/1.1\r\n${H}\r\n${v}GET /containers/json HTTP/1.1\r\n${H}\r\n` },
  { name: 'the hidden request as the body of an allowed write', bytes: (v) => `${START}${H}Content-Length: ${v.length}\r\n\r\n${v}` },
  // Content-Length bodies are counted by dockmoat itself (http1.ts), not by llhttp.
  { name: 'the hidden request as a body whose Content-Length has leading zeros', bytes: (v) => `${START}${H}Content-Length: 000${v.length}\r\n\r\n${v}` },
  { name: 'a Content-Length one byte short of the hidden request', bytes: (v) => `${START}${H}Content-Length: ${v.length - 1}\r\n\r\n${v}` },
  { name: 'a Content-Length body ending one byte into the hidden request', bytes: (v) => `${START}${H}Content-Length: 1\r\n\r\n${v}` },
]

interface Result {
  marker: string
  x: Awaited<ReturnType<typeof exchange>>
  ranThroughProxy: boolean
  pingAfter: number
  /** The same bytes straight to dockerd ran the hidden request. */
  liveAtDockerd: boolean
  directStatuses: number[]
}

/** Markers sent through the proxy: none may ever exist, even late (see the last test). */
const proxied: string[] = []

async function attack(c: SmugglingCase): Promise<Result> {
  const marker = markerName('smuggle')
  markers.push(marker)
  proxied.push(marker)
  const x = await exchange({ port: proxy.port }, c.bytes(volumeCreate(marker)), { idleMs: 800 })
  await settle()
  const ranThroughProxy = await volumeExists(marker)
  const pingAfter = (await ping(proxy.port)).status
  // Positive control: the same bytes, with a marker of its own, straight to dockerd.
  const control = markerName('control')
  markers.push(control)
  const direct = await exchange({ socketPath: DOCKER_SOCKET }, c.bytes(volumeCreate(control)), { idleMs: 600 })
  const liveAtDockerd = await volumeAppears(control)
  if (liveAtDockerd) await removeVolumes([control])
  return { marker, x, ranThroughProxy, pingAfter, liveAtDockerd, directStatuses: direct.responses.map((r) => r.status) }
}

// The cases are independent (one marker each): run them eight at a time, then report.
const results = new Map<SmugglingCase, Result>()
{
  const queue = [...CASES]
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let c = queue.shift(); c !== undefined; c = queue.shift()) results.set(c, await attack(c))
  }))
}

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const r = results.get(c)!
    t.notOk(r.ranThroughProxy, `dockerd has no volume ${r.marker}: the hidden request never ran (${shown(r.x)})`)
    t.notOk(r.x.responses.some((res) => res.headers['api-version'] !== undefined && res.text.includes(r.marker)), 'no answer of dockerd to the hidden request came back')
    t.notOk(r.x.responses.some((res) => res.status === 101), 'nothing was upgraded')
    t.equal(r.pingAfter, 200, 'the proxy still serves another client')
    t.comment(r.liveAtDockerd
      ? 'control: sent straight to dockerd, this payload DOES run the hidden request'
      : `control: dockerd itself does not run the hidden request in this framing (${r.directStatuses.join(', ') || 'no answer'})`)
  })
}

t.test('pipelined forbidden reads are each refused by dockmoat, never answered by dockerd', async (t) => {
  const requests = ['GET /_ping', 'GET /volumes', 'GET /containers/json', 'GET /info', 'GET /images/json', 'HEAD /volumes', 'GET /networks', 'GET /_ping']
  const x = await exchange({ port: proxy.port }, requests.map((r) => `${r} HTTP/1.1\r\n${H}\r\n`).join(''), { methods: requests.map((r) => r.split(' ')[0]!), idleMs: 1500 })
  t.equal(x.responses.length, requests.length, `one answer per request (${shown(x)})`)
  requests.forEach((request, i) => {
    const r = x.responses[i]
    const allowed = request === 'GET /_ping' || request === 'GET /containers/json'
    if (allowed) t.ok(r?.headers['api-version'], `${request}: answered by dockerd`)
    else {
      t.equal(r?.status, 403, `${request}: refused with 403`)
      t.notOk(r?.headers['api-version'], `${request}: dockerd never saw it`)
    }
  })
})

t.test('no marker sent through dockmoat appears late', async (t) => {
  await settle(2000)
  const late = []
  for (const name of proxied) if (await volumeExists(name)) late.push(name)
  t.same(late, [], `none of the ${proxied.length} marker volumes exists at dockerd`)
})
