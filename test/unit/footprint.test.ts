// What loading dockmoat costs in memory. An ESM import of node:http evaluates its lazy
// `WebSocket` getter, which loads Node's internal copy of undici (~13 MiB resident,
// never used: the upstream client is the undici package). src/node-http.ts avoids it;
// this keeps any module from bringing the import back.
import t from 'tap'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

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
  t.ok(loaded.includes('NativeModule http'), 'node:http is loaded (the check sees builtins)')
  t.notOk(loaded.includes('NativeModule internal/deps/undici/undici'), "Node's internal undici stays unloaded")
})
