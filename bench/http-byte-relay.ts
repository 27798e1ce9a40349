// The floor of the stack dockmoat is built on now: node:http parses the client's request,
// dockmoat's own byte relay (src/relay.ts) sends it to dockerd and copies the answer back,
// and nothing else (no classification, grants, body guard, ownership or log lines). What
// dockmoat costs beyond this column is its own per-request code; what this costs beyond
// bench/relay.mjs is Node's HTTP server. Hijacked requests become byte relays.
//
//   node bench/http-byte-relay.ts PORT [SOCKET_PATH]
import type { IncomingMessage } from 'node:http'
import { floorArgs, relayUpgrade, serveFloor } from './floor.mjs'
import { relay, UpstreamSockets } from '../src/relay.ts'
import { upstreamRequestHeaders } from '../src/headers.ts'
import http from '../src/node-http.ts'

const args = floorArgs('http-byte-relay.ts')
const pool = new UpstreamSockets(args.socketPath)
const HIJACK = /\/(attach|exec\/[^/]+\/start|session|grpc)(\?|$)/

const hasBody = (req: IncomingMessage): boolean => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0

const server = http.createServer({ noDelay: true, requestTimeout: 0, shouldUpgradeCallback: (req) => HIJACK.test(req.url ?? '') }, (req, res) => {
  const abort = relay(pool, {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: upstreamRequestHeaders(req.rawHeaders, req.headers.connection, true),
    body: hasBody(req) ? req : undefined,
    http10: req.httpVersion === '1.0',
  }, res, { onHead: () => {}, onBytes: () => {}, onUnanswered: () => res.destroy() })
  res.on('close', () => { if (!res.writableFinished) abort() })
})

server.on('upgrade', (req, client, head) => relayUpgrade(req, client, head, args.socketPath))

serveFloor(server, 'http byte relay', args)
