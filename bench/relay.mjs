// The floor: a TCP listener that pipes bytes to dockerd's unix socket and does nothing
// else (no HTTP parsing, no policy, no logs). Whatever a TCP-listening Node proxy costs
// over talking to the socket directly, this costs too: `--floor` measures it alongside.
//
//   node bench/relay.mjs PORT [SOCKET_PATH]
import net from 'node:net'
import { floorArgs, serveFloor, splice } from './floor.mjs'

const args = floorArgs('relay.mjs')
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => splice(client, args.socketPath))
serveFloor(server, 'relay', args)
