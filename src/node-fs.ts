// node:fs, loaded with require() as node-http.ts loads node:http. An ESM import of node:fs
// evaluates every export, its lazy `promises` getter included, which loads fs/promises and
// with it readline, the REPL's history and the file watchers: a few MiB resident at every start.
import { createRequire } from 'node:module'

const fs: typeof import('node:fs') = createRequire(import.meta.url)('node:fs')
export default fs
