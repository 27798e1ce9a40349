// A client that sends its request and then half-closes its side (busybox `nc`, some
// SDKs) still gets its answer, as it would from dockerd itself.
import t from 'tap'
import net from 'node:net'
import { requireDocker } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'

await requireDocker()
const proxy = await startProxy({ CONTAINERS: '0' })
t.teardown(() => proxy.stop())

function askThenHalfClose(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxy.port, '127.0.0.1', () => socket.end(request))
    let answer = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('end', () => resolve(answer))
    socket.on('error', reject)
    socket.setTimeout(10_000, () => reject(new Error(`no answer within 10 s; got ${JSON.stringify(answer)}`)))
  })
}

t.test('an allowed request is answered by dockerd', async (t) => {
  const answer = await askThenHalfClose('GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n')
  t.match(answer, /^HTTP\/1\.1 200 /)
  t.match(answer, /\r\napi-version: 1\.\d+\r\n/i, 'the answer comes from dockerd')
  t.match(answer, /\r\n\r\nOK$/)
})

t.test('a refused request gets its 403', async (t) => {
  const answer = await askThenHalfClose('GET /containers/json HTTP/1.1\r\nHost: docker\r\n\r\n')
  t.match(answer, /^HTTP\/1\.1 403 /)
  t.match(answer, /set CONTAINERS=1/)
})
