// node:http, taken with process.getBuiltinModule (as require() would). An ESM import of a
// builtin evaluates every export, and node:http's lazy `WebSocket` getter loads Node's
// internal copy of undici: ~13 MiB of resident memory dockmoat never uses (idle RSS 59 MiB
// instead of 45 for a bare server).
const http = process.getBuiltinModule('node:http')
export default http
