// Where dockmoat listens. Real sockets; only the IPv6-less kernel is simulated, by a
// server whose bind to `::` fails with EAFNOSUPPORT as it does there (Tecnativa #109).
import t from 'tap'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { pino } from 'pino'
import { listen } from '../../src/listen.ts'
import { parseConfig } from '../../src/settings.ts'

const silent = pino({ level: 'silent' })

function serverWithoutIPv6(): net.Server {
  const server = net.createServer((socket) => socket.end('hi'))
  const bind = server.listen.bind(server) as (options: net.ListenOptions, callback: () => void) => net.Server
  Object.assign(server, {
    listen(options: net.ListenOptions, callback: () => void) {
      if (options.host === '::') {
        process.nextTick(() => server.emit('error', Object.assign(new Error('listen EAFNOSUPPORT: address family not supported ::'), { code: 'EAFNOSUPPORT' })))
        return server
      }
      return bind(options, callback)
    },
  })
  return server
}

t.test('by default: `::`, which takes IPv4 clients too', async (t) => {
  const server = net.createServer((socket) => socket.end('hi'))
  t.teardown(() => server.close())
  const bound = await listen(server, parseConfig({ LISTEN_PORT: '0' }).listen, silent)
  t.equal(bound.address, '::')
  const reply = await new Promise<string>((resolve) => net.connect(bound.port as number, '127.0.0.1').on('data', (d) => resolve(String(d))))
  t.equal(reply, 'hi', 'an IPv4 client reaches it')
})

t.test('without IPv6 it falls back to 0.0.0.0 by itself, and says so', async (t) => {
  const server = serverWithoutIPv6()
  t.teardown(() => server.close())
  const lines: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line) } })
  const bound = await listen(server, parseConfig({ LISTEN_PORT: '0' }).listen, log)
  t.equal(bound.address, '0.0.0.0')
  t.match(lines.join(''), /IPv6 is not available here; listening on IPv4 only/)
})

t.test('an explicit LISTEN_ADDRESS=:: is not silently changed', async (t) => {
  const server = serverWithoutIPv6()
  await t.rejects(listen(server, parseConfig({ LISTEN_PORT: '0', LISTEN_ADDRESS: '::' }).listen, silent), { code: 'EAFNOSUPPORT' })
})

t.test('DISABLE_IPV6=1 binds 0.0.0.0', async (t) => {
  const server = net.createServer()
  t.teardown(() => server.close())
  const bound = await listen(server, parseConfig({ LISTEN_PORT: '0', DISABLE_IPV6: '1' }).listen, silent)
  t.equal(bound.address, '0.0.0.0')
})

t.test('LISTEN_SOCKET: a unix socket with its mode, replacing a stale one', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-listen-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const socketPath = path.join(dir, 'dockmoat.sock')
  // A process killed while listening leaves its socket file behind.
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`])
  t.ok(fs.statSync(socketPath).isSocket(), 'a stale socket file is there')
  const server = net.createServer((socket) => socket.end('hi'))
  t.teardown(() => server.close())
  t.same(await listen(server, parseConfig({ LISTEN_SOCKET: socketPath, LISTEN_SOCKET_MODE: '600' }).listen, silent), { socket: socketPath })
  t.equal(fs.statSync(socketPath).mode & 0o777, 0o600)
  const reply = await new Promise<string>((resolve) => net.connect(socketPath).on('data', (d) => resolve(String(d))))
  t.equal(reply, 'hi')
})
