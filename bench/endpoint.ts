// Where a target answers: dockerd's unix socket, or a TCP port on loopback.
import net from 'node:net'

export type Endpoint = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number }

export function dockerHost(endpoint: Endpoint): string {
  return endpoint.kind === 'unix' ? `unix://${endpoint.socketPath}` : `tcp://${endpoint.host}:${endpoint.port}`
}

export function connectRaw(endpoint: Endpoint): net.Socket {
  const socket = endpoint.kind === 'unix' ? net.connect(endpoint.socketPath) : net.connect(endpoint.port, endpoint.host)
  socket.setNoDelay?.(true)
  return socket
}

