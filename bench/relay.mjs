// The floor: a TCP listener that pipes bytes to dockerd's unix socket and does nothing
// else (no HTTP parsing, no policy, no logs). Whatever a TCP-listening Node proxy costs
// over talking to the socket directly, this costs too: `--floor` measures it alongside.
// Plain JavaScript, so that Node loads no TypeScript stripper: its memory and startup
// are Node's own.
//
//   node bench/relay.mjs PORT [SOCKET_PATH]
import net from 'node:net'

const port = Number(process.argv[2])
const socketPath = process.argv[3] ?? '/var/run/docker.sock'
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: node bench/relay.mjs PORT [SOCKET_PATH]\n')
  process.exit(2)
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const upstream = net.connect({ path: socketPath, allowHalfOpen: true })
  // Ends travel as half-closes (docker exec -i closes its stdin and still reads the output).
  client.pipe(upstream)
  upstream.pipe(client)
  const destroy = () => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', destroy)
  upstream.on('error', destroy)
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => { if (!client.writableEnded) client.end() })
})
server.listen(port, '127.0.0.1', () => process.stdout.write(`relay listening on 127.0.0.1:${port} -> ${socketPath}\n`))
process.on('SIGTERM', () => process.exit(0))
process.on('SIGINT', () => process.exit(0))
