// The floor for a proxy built on dockmoat's own stack: node:http in front, an undici Pool
// to dockerd's socket behind, and nothing else (no policy, no logs, the least header
// handling undici accepts). What dockmoat costs beyond this is its own code; what this
// costs beyond bench/relay.mjs is the stack's. Hijacked requests (exec, attach) become
// byte relays, as in dockmoat.
//
//   node bench/http-relay.mjs PORT [SOCKET_PATH]
import { createRequire } from 'node:module'
import { floorArgs, relayUpgrade, serveFloor } from './floor.mjs'

const require = createRequire(import.meta.url)
const http = require('node:http') // loaded as dockmoat loads it (src/node-http.ts)
const { Pool } = require('undici')

const args = floorArgs('http-relay.mjs')

// undici refuses these in a request; Node re-frames the response itself.
const REQUEST_SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect'])
const RESPONSE_SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding'])

const upstream = new Pool('http://docker', { socketPath: args.socketPath, headersTimeout: 0, bodyTimeout: 0 })

const server = http.createServer({ noDelay: true, requestTimeout: 0 }, (req, res) => {
  const headers = []
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!REQUEST_SKIP.has(req.rawHeaders[i].toLowerCase())) headers.push(req.rawHeaders[i], req.rawHeaders[i + 1])
  }
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  let abort = () => {}
  res.on('close', () => { if (!res.writableFinished) abort() })
  upstream.dispatch({ path: req.url, method: req.method, headers, body: hasBody ? req : null }, {
    onRequestStart(controller) { abort = () => controller.abort(new Error('client gone')) },
    onResponseStart(controller, status, responseHeaders) {
      const out = {}
      for (const name in responseHeaders) if (!RESPONSE_SKIP.has(name)) out[name] = responseHeaders[name]
      res.writeHead(status, out)
      if (out['content-length'] === undefined) res.flushHeaders() // streams show their headers at once
      res.on('drain', () => controller.resume())
    },
    onResponseData(controller, chunk) { if (!res.write(chunk)) controller.pause() },
    onResponseEnd() { res.end() },
    onResponseError() { res.destroy() },
  })
})

server.on('upgrade', (req, client, head) => relayUpgrade(req, client, head, args.socketPath))

serveFloor(server, 'http relay', args)
