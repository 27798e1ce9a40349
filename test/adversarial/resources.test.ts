// Resource abuse: slow headers, endless headers, huge header counts, a huge request line,
// hundreds of idle connections and thousands of pipelined refused requests. Each must be
// refused (or answered) within a bounded time and memory, while the proxy keeps serving
// another client.
import net from 'node:net'
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { requireDocker } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { exchange, fromDockerd, ping, rssKib, shown } from './raw.ts'

await requireDocker()
const proxy: RunningProxy = await startProxy({ CONTAINERS: '1' })
t.teardown(() => proxy.stop())
const pid = proxy.child.pid!

const H = 'Host: docker\r\n'
/** Slack over dockmoat's 30 s headers timeout: Node checks timeouts every 30 s. */
const SLOW_HEADERS_BOUND_MS = 75_000
const MIB = 1024

/** Pings through the proxy until `done` resolves; returns the slowest ping. */
async function pingWhile(done: Promise<unknown>, everyMs = 2000): Promise<{ worst: number; failures: number; count: number }> {
  let finished = false
  void done.finally(() => { finished = true })
  let worst = 0
  let failures = 0
  let count = 0
  while (!finished) {
    const p = await ping(proxy.port)
    count++
    worst = Math.max(worst, p.ms)
    if (p.status !== 200) failures++
    await Promise.race([sleep(everyMs), done])
  }
  return { worst, failures, count }
}

// The slow client takes up to a minute: it starts now and runs beside the other tests,
// which also show the proxy serving others meanwhile; its verdict is the last test.
const slowStarted = Date.now()
const slow = new Promise<{ ms: number; text: string; sent: number }>((resolve) => {
  const socket = net.connect(proxy.port, '127.0.0.1')
  let text = ''
  let sent = 0
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => { text += chunk })
  const tick = setInterval(() => {
    if (socket.writable) socket.write(`X-Drip-${sent++}: a\r\n`)
  }, 1000)
  const giveUp = setTimeout(() => socket.destroy(), SLOW_HEADERS_BOUND_MS + 5000)
  const end = (): void => { clearInterval(tick); clearTimeout(giveUp); resolve({ ms: Date.now() - slowStarted, text, sent }) }
  socket.on('close', end)
  socket.on('error', () => undefined)
  socket.on('connect', () => socket.write(`GET /containers/json HTTP/1.1\r\n${H}`))
})
const othersDuringSlow = pingWhile(slow)

t.test('endless headers are refused after a bounded amount, memory stays bounded', async (t) => {
  const before = rssKib(pid)
  const line = `X-Endless: ${'a'.repeat(1000)}\r\n`
  const started = Date.now()
  const result = await new Promise<{ accepted: number; text: string; ms: number }>((resolve) => {
    const socket = net.connect(proxy.port, '127.0.0.1')
    let written = 0
    let text = ''
    let done = false
    const end = (): void => {
      if (done) return
      done = true
      clearTimeout(giveUp)
      socket.destroy()
      resolve({ accepted: written, text, ms: Date.now() - started })
    }
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { text += chunk })
    socket.on('close', end)
    socket.on('error', end)
    const pump = (): void => {
      while (!done && written < 50 * 1024 * 1024) {
        written += line.length
        if (!socket.write(line)) return void socket.once('drain', pump)
      }
    }
    socket.on('connect', () => { socket.write(`GET /containers/json HTTP/1.1\r\n${H}`); pump() })
    const giveUp = setTimeout(end, 15_000)
  })
  t.ok(result.ms < 5000, `refused within ${result.ms} ms`)
  t.ok(result.accepted < 16 * 1024 * 1024, `after ${Math.round(result.accepted / 1024)} KiB had been written (the kernel buffers some)`)
  t.match(result.text, /^HTTP\/1\.1 431 |^$/, `431 Request Header Fields Too Large, or a reset (${JSON.stringify(result.text.slice(0, 60))})`)
  const after = rssKib(pid)
  t.ok(after - before < 64 * MIB, `proxy memory grew by ${Math.round((after - before) / MIB)} MiB`)
  t.equal((await ping(proxy.port)).status, 200, 'the proxy still serves another client')
})

t.test('huge header counts are refused or answered promptly', async (t) => {
  const before = rssKib(pid)
  for (const [what, count, header] of [
    ['100,000 headers', 100_000, 'a:b\r\n'],
    ['10,000 headers', 10_000, 'X-A: 1\r\n'],
    ['700 tiny headers (under the header size limit: served)', 700, 'a:\r\n'],
  ] as const) {
    const x = await exchange({ port: proxy.port }, `GET /containers/json HTTP/1.1\r\n${H}${header.repeat(count)}Connection: close\r\n\r\n`, { idleMs: 1000, timeoutMs: 10_000 })
    t.ok(x.ms < 5000, `${what}: settled within ${Math.round(x.ms)} ms (${shown(x)})`)
    t.ok(x.closedByServer, `${what}: the connection was closed`)
    const status = x.responses[0]?.status ?? 0
    t.ok(status === 431 || status === 200 || (status === 0 && x.closedByServer), `${what}: 431, or served (${status})`)
  }
  const after = rssKib(pid)
  t.ok(after - before < 64 * MIB, `proxy memory grew by ${Math.round((after - before) / MIB)} MiB`)
  t.equal((await ping(proxy.port)).status, 200, 'the proxy still serves another client')
})

t.test('a 1 MiB request line is refused promptly', async (t) => {
  const x = await exchange({ port: proxy.port }, `GET /containers/${'a'.repeat(1024 * 1024)}/json HTTP/1.1\r\n${H}\r\n`, { idleMs: 1000, timeoutMs: 10_000 })
  t.ok(x.ms < 5000, `settled within ${Math.round(x.ms)} ms (${shown(x)})`)
  t.ok(x.responses.length === 0 || [414, 431, 400].includes(x.responses[0]!.status), 'refused')
  t.equal(fromDockerd(x).length, 0, 'dockerd saw nothing')
  t.equal((await ping(proxy.port)).status, 200, 'the proxy still serves another client')
})

t.test('hundreds of idle half-sent requests do not starve another client', async (t) => {
  const sockets = await Promise.all(Array.from({ length: 300 }, () => new Promise<net.Socket>((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1', () => { s.write('GET /containers/json HTTP/1.1\r\nHost: d'); resolve(s) })
    s.on('error', () => undefined)
  })))
  try {
    for (let i = 0; i < 3; i++) {
      const p = await ping(proxy.port)
      t.equal(p.status, 200, `ping ${i + 1} served in ${Math.round(p.ms)} ms with 300 idle connections open`)
      t.ok(p.ms < 2000, 'promptly')
    }
  } finally {
    for (const s of sockets) s.destroy()
  }
})

t.test('thousands of pipelined forbidden requests are each refused', async (t) => {
  const before = rssKib(pid)
  const n = 2000
  const x = await exchange({ port: proxy.port }, `GET /volumes HTTP/1.1\r\n${H}\r\n`.repeat(n) + `GET /_ping HTTP/1.1\r\n${H}Connection: close\r\n\r\n`, { idleMs: 2000, timeoutMs: 30_000 })
  t.equal(x.responses.length, n + 1, `one answer per request (${x.responses.length}) in ${Math.round(x.ms)} ms`)
  t.equal(x.responses.slice(0, n).filter((r) => r.status === 403 && r.headers['api-version'] === undefined).length, n, `all ${n} forbidden requests refused by dockmoat`)
  t.equal(x.responses[n]?.status, 200, 'the allowed one at the end is served')
  t.ok(rssKib(pid) - before < 64 * MIB, `proxy memory grew by ${Math.round((rssKib(pid) - before) / MIB)} MiB`)
})

t.test('slow headers (one header line a second) are cut off by the headers timeout', async (t) => {
  const result = await slow
  const others = await othersDuringSlow
  t.ok(result.ms < SLOW_HEADERS_BOUND_MS, `the slow client was cut off after ${result.ms} ms and ${result.sent} header lines`)
  t.match(result.text, /^HTTP\/1\.1 408 /, 'with 408 Request Timeout')
  t.equal(others.failures, 0, `${others.count} pings by another client meanwhile all succeeded`)
  t.ok(others.worst < 2000, `the slowest took ${Math.round(others.worst)} ms`)
})
