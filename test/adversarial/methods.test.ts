// Method tricks through dockmoat with CONTAINERS=1 only (reads of containers; POST off):
// override headers, lowercase and unknown methods, CONNECT, TRACE, and HEAD/OPTIONS on
// forbidden routes. Evidence is dockerd's: its own answers carry Api-Version, and the
// marker container and marker volume must be untouched afterwards.
import t from 'tap'
import { cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'
import { containerExists, exchange, fromDockerd, markerName, ping, removeVolumesLate, settle, shown, volumeExists } from './raw.ts'

await requireDocker()
const image = await testImage()
const proxy: RunningProxy = await startProxy({ CONTAINERS: '1' })

// A stopped container that a forbidden DELETE (or a forbidden start) would change.
const box = uniqueName('methods-box')
const created = await docker(['create', '--name', box, '--network', 'none', '--label', 'org.dockmoat.test=true', image, 'true'])
if (created.code !== 0) throw new Error(`cannot create the test container: ${created.stderr}`)

const markers: string[] = []
t.teardown(async () => {
  await proxy.stop()
  await cleanup('container', [box])
  await removeVolumesLate(markers)
})

const H = 'Host: docker\r\n'

async function state(): Promise<string> {
  const r = await docker(['inspect', '--format', '{{.State.Status}}', box])
  return r.stdout.trim()
}

t.test('override headers do not change the method dockerd runs', async (t) => {
  for (const header of ['X-HTTP-Method-Override', 'X-Method-Override', 'X-HTTP-Method', '_method']) {
    for (const override of ['DELETE', 'POST']) {
      const x = await exchange({ port: proxy.port }, `GET /containers/${box}/json?force=1 HTTP/1.1\r\n${H}${header}: ${override}\r\nConnection: close\r\n\r\n`)
      t.equal(x.responses[0]?.status, 200, `GET with ${header}: ${override} is an inspect (${shown(x)})`)
      t.ok(x.responses[0]?.headers['api-version'], 'answered by dockerd')
    }
  }
  await settle()
  t.ok(await containerExists(box), 'the container still exists: no override was honoured')

  const m = markerName('override')
  markers.push(m)
  const body = JSON.stringify({ Name: m })
  for (const header of ['X-HTTP-Method-Override: GET', 'X-Method-Override: GET', 'X-HTTP-Method: GET']) {
    const x = await exchange({ port: proxy.port }, `POST /volumes/create HTTP/1.1\r\n${H}${header}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    t.equal(x.responses[0]?.status, 403, `POST /volumes/create with ${header}: 403`)
    t.equal(fromDockerd(x).length, 0, 'dockerd saw nothing')
  }
  await settle()
  t.notOk(await volumeExists(m), 'no marker volume')
})

t.test('lowercase, mixed-case and unknown methods never reach dockerd', async (t) => {
  const m = markerName('method')
  markers.push(m)
  const body = JSON.stringify({ Name: m })
  const withBody = `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`
  const cases = [
    `post /volumes/create HTTP/1.1\r\n${H}${withBody}`,
    `Post /volumes/create HTTP/1.1\r\n${H}${withBody}`,
    `PUT /volumes/create HTTP/1.1\r\n${H}${withBody}`,
    `PATCH /volumes/create HTTP/1.1\r\n${H}${withBody}`,
    `FOO /volumes/create HTTP/1.1\r\n${H}${withBody}`,
    `PURGE /volumes/create HTTP/1.1\r\n${H}${withBody}`,
    `PROPFIND /containers/json HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `MKCOL /containers/${box} HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `delete /containers/${box}?force=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `Delete /containers/${box}?force=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `DELETE /containers/${box}?force=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `post /containers/${box}/start HTTP/1.1\r\n${H}Content-Length: 0\r\nConnection: close\r\n\r\n`,
    `get /volumes HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `GET\t/volumes HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `G\x00ET /volumes HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `TRACE /containers/json HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `TRACK /containers/json HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    `M-SEARCH * HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
  ]
  for (const request of cases) {
    const x = await exchange({ port: proxy.port }, request, { idleMs: 800 })
    const line = JSON.stringify(request.split('\r\n')[0])
    t.equal(fromDockerd(x).length, 0, `${line}: dockerd saw nothing (${shown(x)})`)
    t.ok(x.responses.length === 0 || (x.responses[0]!.status >= 400 && x.responses[0]!.status < 500), `${line}: refused`)
  }
  await settle()
  t.notOk(await volumeExists(m), 'no marker volume')
  t.ok(await containerExists(box), 'the container still exists')
  t.equal(await state(), 'created', 'and was never started')
  t.equal((await ping(proxy.port)).status, 200, 'the proxy still serves')
})

t.test('CONNECT is never tunnelled nor forwarded', async (t) => {
  const m = markerName('connect')
  markers.push(m)
  const hidden = `POST /volumes/create HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: ${JSON.stringify({ Name: m }).length}\r\n\r\n${JSON.stringify({ Name: m })}`
  for (const target of ['/volumes/create', '/debug/vars', '/containers/json', 'docker:2375', '127.0.0.1:2375', '/var/run/docker.sock']) {
    const x = await exchange({ port: proxy.port }, `CONNECT ${target} HTTP/1.1\r\n${H}\r\n${hidden}`, { idleMs: 800 })
    t.equal(fromDockerd(x).length, 0, `CONNECT ${target}: dockerd saw nothing (${shown(x)})`)
    t.notOk(x.responses.some((r) => r.status >= 200 && r.status < 300), `CONNECT ${target}: no 2xx`)
  }
  await settle()
  t.notOk(await volumeExists(m), 'no marker volume')
})

t.test('HEAD and OPTIONS on forbidden routes are refused', async (t) => {
  const cases: [string, string][] = [
    ['HEAD', '/volumes'], ['HEAD', '/info'], ['HEAD', '/images/json'], ['HEAD', `/containers/${box}/archive?path=/`],
    ['HEAD', '/debug/vars'], ['HEAD', '/_ping/../volumes'], ['OPTIONS', '/volumes/create'], ['OPTIONS', '/containers/json'],
    ['OPTIONS', '*'], ['OPTIONS', `/containers/${box}`], ['GET', '/debug/vars'], ['GET', '/debug/pprof/cmdline'],
    ['POST', '/debug/pprof/symbol'], ['PUT', '/debug/pprof/heap'], ['GET', `/containers/${box}/archive?path=/`],
    ['GET', `/containers/${box}/export`], ['GET', `/containers/${box}/logs?stdout=1`], ['GET', `/containers/${box}/top`],
    ['GET', `/containers/${box}/changes`],
  ]
  for (const [method, target] of cases) {
    const x = await exchange({ port: proxy.port }, `${method} ${target} HTTP/1.1\r\n${H}Content-Length: 0\r\nConnection: close\r\n\r\n`, { methods: [method], idleMs: 800 })
    t.ok([400, 403].includes(x.responses[0]?.status ?? 0), `${method} ${target}: refused by dockmoat (${shown(x)})`)
    t.equal(fromDockerd(x).length, 0, `${method} ${target}: dockerd saw nothing`)
  }
  // The control: an allowed read does reach dockerd through the same proxy.
  const ok = await exchange({ port: proxy.port }, `GET /containers/${box}/json HTTP/1.1\r\n${H}Connection: close\r\n\r\n`)
  t.ok(ok.responses[0]?.headers['api-version'], 'an allowed read is answered by dockerd (the check above can see dockerd)')
})
