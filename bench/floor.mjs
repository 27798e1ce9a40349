// What the two floors (relay.mjs, http-relay.mjs) share: their command line, the byte
// splice between a client and dockerd, and how they listen and stop. Plain JavaScript, so
// that Node loads no TypeScript stripper: a floor's memory and startup are Node's own.
import net from 'node:net'

/** `node bench/<script> PORT [SOCKET_PATH]`; exits 2 with the usage on a bad port. */
export function floorArgs(script) {
  const port = Number(process.argv[2])
  const socketPath = process.argv[3] ?? '/var/run/docker.sock'
  if (!Number.isInteger(port) || port <= 0) {
    process.stderr.write(`usage: node bench/${script} PORT [SOCKET_PATH]\n`)
    process.exit(2)
  }
  return { port, socketPath }
}

/** A new connection to dockerd's socket, piped both ways with `client`. */
export function splice(client, socketPath) {
  const dockerd = net.connect({ path: socketPath, allowHalfOpen: true })
  // Ends travel as half-closes (docker exec -i closes its stdin and still reads the output).
  client.pipe(dockerd)
  dockerd.pipe(client)
  const destroy = () => {
    client.destroy()
    dockerd.destroy()
  }
  client.on('error', destroy)
  dockerd.on('error', destroy)
  client.on('close', () => dockerd.destroy())
  dockerd.on('close', () => { if (!client.writableEnded) client.end() })
  return dockerd
}

/** A hijacked request (exec, attach): its head written as it came, then a byte relay both ways. */
export function relayUpgrade(req, client, head, socketPath) {
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`
  for (let i = 0; i < req.rawHeaders.length; i += 2) text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`
  // Written at once, so they precede whatever the client sends next (piped data comes later).
  const dockerd = splice(client, socketPath)
  dockerd.write(text + '\r\n')
  if (head.length > 0) dockerd.write(head)
}

export function serveFloor(server, name, { port, socketPath }) {
  server.listen(port, '127.0.0.1', () => process.stdout.write(`${name} listening on 127.0.0.1:${port} -> ${socketPath}\n`))
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGINT', () => process.exit(0))
}
