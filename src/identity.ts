// Who is asking: what the connection proves about its client. A TLS client certificate
// (verified against TLS_CA) names it; otherwise only its address does.
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'

export interface Peer {
  /** The verified client certificate's subject CN. */
  cn?: string
  /** Its subjectAltName entries as Node prints them (`DNS:ci.example.com`, `IP Address:10.0.0.7`). */
  sans?: string[]
}

const peers = new WeakMap<object, Peer>()

/** Read once the handshake is done: the certificate is the connection's for its lifetime. */
export function rememberPeer(socket: TLSSocket): void {
  if (!socket.authorized) return
  const certificate = socket.getPeerCertificate()
  const cn = certificate.subject?.CN
  const sans = certificate.subjectaltname?.split(', ').filter(Boolean)
  peers.set(socket, {
    ...(typeof cn === 'string' ? { cn } : {}),
    ...(sans === undefined ? {} : { sans }),
  })
}

export function peerOf(socket: Socket | object | undefined): Peer | undefined {
  return socket === undefined ? undefined : peers.get(socket)
}
