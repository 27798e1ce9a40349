// The floor of the stack dockmoat is built on: Node's strict HTTP parser reads the
// client's request (src/http1.ts), dockmoat's own byte relay (src/relay.ts) sends it to
// dockerd and copies the answer back, and nothing else (no classification, grants, body
// guard, ownership or log lines). What dockmoat costs beyond this column is its own
// per-request code; what this costs beyond bench/relay.mjs is reading HTTP at all.
// Hijacked requests become byte relays.
//
//   node bench/parser-byte-relay.ts PORT [SOCKET_PATH]
import net from 'node:net'
import { floorArgs, relayUpgrade, serveFloor } from './floor.mjs'
import { relay, UpstreamSockets } from '../src/relay.ts'
import { upstreamRequestHeaders } from '../src/headers.ts'
import { Connections, type Handlers } from '../src/http1.ts'

const args = floorArgs('parser-byte-relay.ts')
const pool = new UpstreamSockets(args.socketPath)
const HIJACK = /\/(attach|exec\/[^/]+\/start|session|grpc)(\?|$)/

const handlers: Handlers = {
  shouldUpgrade: (req) => HIJACK.test(req.url),
  upgrade: (req, client, head) => relayUpgrade(req, client, head, args.socketPath),
  malformed: () => {},
  request: (req, reply) => {
    const abort = relay(pool, {
      method: req.method,
      path: req.url,
      headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, true),
      body: req.hasBody ? req.body : undefined,
      declaredLength: req.headers['content-length'],
      http10: req.httpVersion === '1.0',
    }, reply, { onBytes: () => {}, onUnanswered: () => reply.destroy() })
    reply.onDone((complete) => { if (!complete) abort() })
  },
}
const connections = new Connections()
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => connections.add(socket, handlers))

serveFloor(server, 'http byte relay', args)
