// node:fs, taken as node-http.ts takes node:http. An ESM import of node:fs evaluates every
// export, its lazy `promises` getter included, which loads fs/promises and with it
// readline, the REPL's history and the file watchers: a few MiB resident at every start.
const fs = process.getBuiltinModule('node:fs')
export default fs
