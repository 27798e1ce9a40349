// What loading dockmoat costs in memory. An ESM import of node:http evaluates its lazy
// `WebSocket` getter, which loads Node's internal copy of undici (~13 MiB resident,
// never used: the upstream client is the undici package). src/node-http.ts avoids it;
// this keeps any module from bringing the import back.
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { HEALTH_PATH } from '../../src/proxy.ts'
import { startProxy } from '../helpers/proxy.ts'

const SRC = path.resolve(import.meta.dirname, '../../src')

t.test("loading the proxy and the CLI's modules does not load Node's internal undici", async (t) => {
  const script = `
    await import(${JSON.stringify(path.join(SRC, 'proxy.ts'))})
    await import(${JSON.stringify(path.join(SRC, 'listen.ts'))})
    await import(${JSON.stringify(path.join(SRC, 'log.ts'))})
    console.log(JSON.stringify(process.moduleLoadList))`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  t.equal(run.status, 0, run.stderr)
  const loaded: string[] = JSON.parse(run.stdout)
  t.ok(loaded.includes('NativeModule net'), 'node:net is loaded (the check sees builtins)')
  t.notOk(loaded.includes('NativeModule internal/deps/undici/undici'), "Node's internal undici stays unloaded")
})

// The bundle takes undici's Pool from its own module and leaves node:http2 out
// (package.json's build): undici's index would load fetch, web streams, zlib and crypto,
// its HTTP/2 client node:http2 and node:tls; ~7 MiB resident and ~60 ms of startup that
// an HTTP/1.1 client of a unix socket never uses. (node:crypto is not checked: tap's
// process-info loader, which tap gives every child process, loads it itself.)
t.test('the bundle, serving a request, loads none of the builtins dockmoat does not use', async (t) => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-footprint-')), 'builtins.json')
  t.teardown(() => fs.rmSync(path.dirname(out), { recursive: true, force: true }))
  const writeOnExit = "process.on('exit', () => process.getBuiltinModule('node:fs').writeFileSync(process.env.FOOTPRINT_OUT, JSON.stringify(process.moduleLoadList)))"
  const proxy = await startProxy({
    NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(writeOnExit)}`,
    FOOTPRINT_OUT: out,
    // Nothing listens there: the health check goes through the Pool's connect and answers 502.
    SOCKET_PATH: '/nonexistent/docker.sock',
  })
  const health = await fetch(`${proxy.url}${HEALTH_PATH}`)
  t.equal(health.status, 502, 'the health check went through the upstream Pool')
  t.match(await health.text(), /cannot reach the Docker Engine at \/nonexistent\/docker\.sock: connect ENOENT/)
  t.equal((await proxy.stop()).code, 0)
  const loaded: string[] = JSON.parse(fs.readFileSync(out, 'utf8'))
  t.ok(loaded.includes('NativeModule net'), 'the list holds the builtins the bundle loaded')
  for (const unused of ['http2', 'tls', 'zlib', 'stream/web']) {
    t.notOk(loaded.includes(`NativeModule ${unused}`), `node:${unused} is not loaded`)
  }
})

// scripts/build.ts: a static import of another file pages in Node's module linking at
// startup (~2 MiB resident); the lazy parts are whole files of their own.
t.test('the bundle starts from one file: dockmoat.js imports other files only on demand', async (t) => {
  const dist = path.resolve(import.meta.dirname, '../../dist')
  const text = fs.readFileSync(path.join(dist, 'dockmoat.js'), 'utf8')
  t.notMatch(text, /\bfrom\s*["']\.{1,2}\//, 'no static import of a file')
  const lazy = [...text.matchAll(/\bimport\(\s*["'](\.\/[^"']+)["']\s*\)/g)].map((m) => m[1]!)
  t.same([...new Set(lazy)].sort(), ['./metrics.js', './policy-file.js', './undici-pool.js'])
  for (const file of lazy) t.ok(fs.existsSync(path.join(dist, file)), `${file} is built`)
})
