// framing.ts, pure: where each shape of answer dockerd produces ends, fed whole and split
// at every byte boundary, and what a misbehaving upstream's bytes are taken for.
import t from 'tap'
import { bodyMode, BodyScanner, parseHead, type Head } from '../../src/framing.ts'
import { closesAfter } from '../../src/headers.ts'

const NEXT = 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext'

// Each: the request method, one answer, and its body's payload as a client decodes it.
const SHAPES: [string, string, string, string][] = [
  ['content-length', 'GET', 'HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\nOK', 'OK'],
  ['empty content-length', 'POST', 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n', ''],
  ['204 without a length', 'POST', 'HTTP/1.1 204 No Content\r\nServer: Docker\r\n\r\n', ''],
  ['304', 'GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n', ''],
  ['HEAD with a length', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n', ''],
  ['chunked stream', 'GET', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n3\r\n1}\n\r\n0\r\n\r\n', '{"a":1}\n'],
  ['chunked with extensions and trailers', 'GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n0\r\nX-Trailer: 1\r\n\r\n', 'abcd'],
  ['chunked, upper-case hex', 'GET', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n${'x'.repeat(10)}\r\n0\r\n\r\n`, 'x'.repeat(10)],
  ['404 JSON', 'GET', 'HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{"message":"No such x: y"}\n\n\n', '{"message":"No such x: y"}\n\n\n'],
]

/** Feeds `bytes` in pieces cut at `cuts`; returns where the answer ended and the payload. */
function feed(method: string, bytes: Buffer, cuts: number[]): { end: number; payload: string; counted: number; head?: Head } {
  let pending = Buffer.alloc(0)
  let head: Head | undefined
  let scanner: BodyScanner | undefined
  let consumed = 0
  let payload = ''
  const points = [...cuts, bytes.length]
  let from = 0
  for (const to of points) {
    let piece = bytes.subarray(from, to)
    from = to
    if (head === undefined) {
      pending = Buffer.concat([pending, piece])
      const parsed = parseHead(pending)
      if (parsed === undefined) continue
      if (typeof parsed === 'string') throw new Error(parsed)
      head = parsed
      const mode = bodyMode(parsed, method)
      if (typeof mode === 'string') throw new Error(mode)
      scanner = new BodyScanner(mode, (data) => { payload += data.toString('latin1') })
      consumed = parsed.length
      piece = pending.subarray(parsed.length)
    }
    if (scanner!.done) break
    consumed += scanner!.scan(piece)
    if (scanner!.problem !== undefined) throw new Error(scanner!.problem)
    if (scanner!.done) break
  }
  return { end: scanner?.done === true ? consumed : -1, payload, counted: scanner?.payload ?? 0, ...(head === undefined ? {} : { head }) }
}

t.test('every shape ends exactly where it does, fed whole or split at any byte', async (t) => {
  for (const [what, method, answer, body] of SHAPES) {
    const bytes = Buffer.from(answer + NEXT, 'latin1')
    const whole = feed(method, bytes, [])
    t.equal(whole.end, answer.length, `${what}: ends at byte ${answer.length}, before the next answer`)
    t.equal(whole.payload, body, `${what}: the payload`)
    t.equal(whole.counted, Buffer.byteLength(body, 'latin1'), `${what}: payload counts the body's bytes, not its framing (the log's and metrics' bytes)`)
    let splitsOk = true
    for (let cut = 1; cut < answer.length + 4; cut++) {
      const split = feed(method, bytes, [cut])
      if (split.end !== answer.length || split.payload !== body || split.counted !== whole.counted) {
        splitsOk = false
        t.fail(`${what}: split at ${cut}: ended at ${split.end}, payload ${JSON.stringify(split.payload)}`)
      }
    }
    if (splitsOk) t.pass(`${what}: the same at every one of ${answer.length + 3} single splits`)
    const bytewise = feed(method, bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1))
    t.equal(bytewise.end, answer.length, `${what}: the same fed one byte at a time`)
  }
})

t.test('a close-delimited body runs to the end of the connection', async (t) => {
  const head = parseHead(Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n\r\n')) as Head
  t.same(bodyMode(head, 'GET'), { kind: 'close' }, 'no length and no chunking: until close')
  const scanner = new BodyScanner({ kind: 'close' })
  t.equal(scanner.scan(Buffer.from('abc')), 3, 'every byte is body')
  t.notOk(scanner.done, 'never done by itself')
  t.ok(scanner.closeDelimited, 'and says so')
})

t.test('what a misbehaving upstream sends is named, never taken for another answer', async (t) => {
  const head = (text: string) => parseHead(Buffer.from(text, 'latin1'))
  t.match(head('HTTP/2 200\r\n\r\n'), /not an HTTP\/1\.1 status line/, 'not HTTP/1.x')
  t.match(head('garbage\r\n\r\n'), /not an HTTP\/1\.1 status line/, 'not HTTP at all')
  t.match(head('HTTP/1.1 200 OK\r\nBad Header\r\n\r\n'), /malformed header line/, 'a header line without a colon')
  t.match(head('HTTP/1.1 200 OK\r\nX' + 'a'.repeat(70 * 1024)), /larger than 64 KiB/, 'an endless head')
  t.equal(head('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'), undefined, 'an incomplete head waits')
  const mode = (text: string) => bodyMode(head(text) as Head, 'GET')
  t.match(mode('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'), /both Transfer-Encoding and Content-Length/, 'both framings (a smuggling shape)')
  t.match(mode('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n'), /invalid Content-Length/, 'two lengths')
  t.match(mode('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'), /invalid Content-Length/, 'a negative length')
  const chunks = (body: string) => {
    const scanner = new BodyScanner({ kind: 'chunked' })
    scanner.scan(Buffer.from(body, 'latin1'))
    return scanner
  }
  t.match(chunks(`${'1'.repeat(2000)}`).problem, /chunk line longer than 1 KiB/, 'an oversized chunk line')
  t.match(chunks('zz\r\n').problem, /invalid chunk size line/, 'a chunk size that is not hex')
  t.match(chunks('2\r\nabcd\r\n').problem, /chunk data longer than its size/, 'more data than the chunk size')
  const cut = chunks('5\r\nab')
  t.notOk(cut.done, 'a body cut short is not done (the relay then ends the client\'s connection)')
  t.equal(cut.problem, undefined, '... and is no problem until the connection ends')
})

t.test('a dockerd connection that closes after its answer is recognised (it must not be pooled)', async (t) => {
  const closes = (text: string): boolean => {
    const head = parseHead(Buffer.from(text, 'latin1')) as Head
    return closesAfter(head)
  }
  t.equal(closes('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), false, 'HTTP/1.1: kept')
  t.equal(closes('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n'), true, 'Connection: close (Go, after a body it would not read)')
  t.equal(closes('HTTP/1.1 200 OK\r\nconnection: Upgrade, CLOSE\r\n\r\n'), true, 'as one token of several, in any case')
  t.equal(closes('HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n'), false, 'a token that is not close')
  t.equal(closes('HTTP/1.0 200 OK\r\n\r\n'), true, 'HTTP/1.0 without keep-alive')
  t.equal(closes('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n'), false, 'HTTP/1.0 with keep-alive')
})
