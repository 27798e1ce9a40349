// METRICS_LISTEN with Debian's real Prometheus: the built proxy serves /metrics on a
// listener of its own, a Prometheus started here scrapes it every second, and what the
// calls made here must have counted is read back through Prometheus's query API, to the
// exact number. Then the startup errors: a METRICS_LISTEN that is not an address, and one
// whose port is taken.
import t from 'tap'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { api, requireDocker } from '../helpers/docker.ts'
import { freePort, runBundle, startProxy } from '../helpers/proxy.ts'

const PROMETHEUS = '/usr/bin/prometheus'

await requireDocker()
if (!fs.existsSync(PROMETHEUS)) {
  throw new Error(`${PROMETHEUS} is missing: install Debian's prometheus package (apt-get install -y --no-install-recommends prometheus; .ci/run does this)`)
}


async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(100)
  }
}

interface Prometheus {
  /** One instant query: each series' labels and value. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]>
  stop(): Promise<void>
}

/** Prometheus scraping `target` every second, with its own config and storage in a temp dir, on a free port. */
async function startPrometheus(target: string): Promise<Prometheus> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-prometheus-'))
  const config = path.join(dir, 'prometheus.yml')
  fs.writeFileSync(config, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: dockmoat',
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n'))
  const port = await freePort()
  const child = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const base = `http://127.0.0.1:${port}`
  try {
    await until('prometheus to answer /-/ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`)
      const ready = await fetch(`${base}/-/ready`).catch(() => undefined)
      return ready?.status === 200 ? true : undefined
    })
  } catch (error) {
    await stop()
    throw error
  }
  return {
    async query(promql) {
      const answer = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`)
      const body = await answer.json() as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } }
      if (body.status !== 'success' || body.data === undefined) throw new Error(`prometheus could not answer ${promql}: ${body.error}`)
      return body.data.result.map(({ metric, value }) => ({ metric, value: Number(value[1]) }))
    },
    stop,
  }
}

t.test('prometheus scrapes METRICS_LISTEN and counts exactly the calls made', { timeout: 120_000 }, async (t) => {
  const metricsPort = await freePort()
  const proxy = await startProxy({ CONTAINERS: '1', METRICS_LISTEN: `127.0.0.1:${metricsPort}` })
  t.teardown(() => proxy.stop('SIGKILL'))
  t.ok(proxy.logs().some((line) => line.msg === `Prometheus metrics at http://127.0.0.1:${metricsPort}/metrics` && line.port === metricsPort), 'the metrics address is logged')
  const prometheus = await startPrometheus(`127.0.0.1:${metricsPort}`)
  t.teardown(() => prometheus.stop())

  const LISTS = 7
  const CREATES = 3
  const INSPECTS = 2
  let listBytes = 0
  for (let i = 0; i < LISTS; i++) {
    const list = await api('GET', '/containers/json', undefined, proxy.port)
    t.equal(list.status, 200)
    listBytes += Buffer.byteLength(list.text)
  }
  for (let i = 0; i < CREATES; i++) {
    const create = await api('POST', '/v1.41/containers/create', { Image: 'dockmoat-test-busybox:latest' }, proxy.port)
    t.equal(create.status, 403, 'create is refused: POST=1 is not set')
  }
  // An ID that no container has: dockerd answers 404, and the ID must not reach a label.
  const id = '0123456789abcdef0123'
  for (let i = 0; i < INSPECTS; i++) t.equal((await api('GET', `/containers/${id}/json`, undefined, proxy.port)).status, 404)
  const onProxyPort = await api('GET', '/metrics', undefined, proxy.port)
  t.equal(onProxyPort.status, 403, 'the proxy port does not serve /metrics: it is refused like any path no dockerd route has')
  t.match(onProxyPort.text, /no Docker Engine API route has this path/)
  const calls = LISTS + CREATES + INSPECTS + 1

  // A stream held open across the scrape.
  const events = await new Promise<http.ClientRequest>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: proxy.port, path: '/events', agent: false }, (res) => {
      t.equal(res.statusCode, 200, 'the events stream is open')
      resolve(req)
    })
    req.on('error', reject)
  })
  t.teardown(() => events.destroy())

  // Each exchange is counted just before its log line is written: once every line is
  // out, a scrape that starts later sees them all.
  await until('a log line for every call', async () => proxy.logs().filter((line) => line.msg === 'request' || line.msg === 'refused').length >= calls ? true : undefined)
  const counted = Date.now() / 1000
  await until('a scrape after the calls', async () => ((await prometheus.query('timestamp(dockmoat_dockerd_up)'))[0]?.value ?? 0) > counted ? true : undefined)

  const one = async (promql: string): Promise<number | undefined> => {
    const result = await prometheus.query(promql)
    if (result.length > 1) throw new Error(`${promql} has ${result.length} series`)
    return result[0]?.value
  }
  t.equal(await one('up{job="dockmoat"}'), 1, 'prometheus scrapes the metrics listener')
  t.equal(await one('dockmoat_requests_total{route="GET /containers/json",decision="allow",status="200"}'), LISTS)
  t.equal(await one('dockmoat_requests_total{route="POST /containers/create",decision="deny",status="403"}'), CREATES)
  t.equal(await one('dockmoat_requests_total{route="GET /containers/{name}/json",decision="allow",status="404"}'), INSPECTS)
  t.equal(await one('dockmoat_requests_total{route="unknown",decision="deny",status="403"}'), 1, 'the /metrics asked on the proxy port')
  t.equal(await one('sum(dockmoat_requests_total)'), calls, 'nothing else was counted (the open stream is counted when it ends)')
  t.equal(await one('dockmoat_refusals_total{variable="POST",decision="deny"}'), CREATES, 'the refused creates carry the variable that would allow them')
  t.equal(await one('dockmoat_refusals_total{variable="none",decision="deny"}'), 1, 'no variable allows an unknown path')
  t.equal(await one('sum(dockmoat_refusals_total)'), CREATES + 1)
  t.equal(await one('dockmoat_request_duration_seconds_count{route="GET /containers/json"}'), LISTS)
  t.equal(await one('sum(dockmoat_request_duration_seconds_count)'), LISTS + INSPECTS, 'refusals are not timed')
  const listMs = proxy.logs().filter((line) => line.msg === 'request' && line.route === 'GET /containers/json').map((line) => Number(line.ms))
  t.ok(listMs.some((ms) => !Number.isInteger(ms)), `durations are timed to the microsecond, not in whole milliseconds (${listMs.slice(0, 5).join(', ')} ms)`)
  const summed = listMs.reduce((a, b) => a + b, 0) / 1000
  t.ok(Math.abs((await one('dockmoat_request_duration_seconds_sum{route="GET /containers/json"}') ?? -1) - summed) < 1e-6, `the histogram adds up the durations of the log lines (${summed} s)`)
  t.equal(await one('dockmoat_bytes_total{route="GET /containers/json",direction="to_client"}'), listBytes, 'the list bytes the client received')
  t.equal(await one('dockmoat_open_streams'), 1)
  t.equal(await one('dockmoat_open_exchanges'), 1)
  t.equal(await one('dockmoat_dockerd_up'), 1, 'dockerd answers /_ping')
  t.equal(await one('dockmoat_upstream_errors_total'), 0)
  t.ok((await one('process_resident_memory_bytes{job="dockmoat"}') ?? 0) > 0, "Node's process metrics are scraped too")
  const routes = (await prometheus.query('group by (route) ({__name__=~"dockmoat_.+", route!=""})')).map((series) => series.metric.route).sort()
  t.same(routes, ['GET /containers/json', 'GET /containers/{name}/json', 'POST /containers/create', 'unknown'], 'route labels are route templates only')
  t.same(await prometheus.query(`{__name__=~"dockmoat_.+", route=~".*${id}.*"}`), [], 'no label holds the ID')

  const elsewhere = await fetch(`http://127.0.0.1:${metricsPort}/`)
  t.equal(elsewhere.status, 404, 'the metrics listener serves nothing but /metrics')

  events.destroy()
  const stopped = await proxy.stop('SIGTERM')
  t.equal(stopped.code, 0, 'SIGTERM stops the proxy and its metrics listener')
  const refused = await new Promise<string>((resolve) => {
    net.connect(metricsPort, '127.0.0.1').on('connect', () => resolve('connected')).on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
  })
  t.equal(refused, 'ECONNREFUSED', 'the metrics port is closed')
})

t.test('METRICS_LISTEN that is not an address and port stops startup with code 2', async (t) => {
  const run = await runBundle([], { METRICS_LISTEN: 'nonsense' })
  t.equal(run.code, 2)
  t.match(run.stderr, 'METRICS_LISTEN="nonsense" is not an address and port; use one such as 127.0.0.1:9375 or [::]:9375')
})

t.test('METRICS_LISTEN on a port in use stops startup before the proxy listens, naming the variable', async (t) => {
  const busy = net.createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())
  const { port } = busy.address() as net.AddressInfo
  const run = await runBundle([], { LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: '0', METRICS_LISTEN: `127.0.0.1:${port}` })
  t.equal(run.code, 1)
  t.match(run.stderr, `dockmoat: cannot serve metrics at METRICS_LISTEN=127.0.0.1:${port}: listen EADDRINUSE`)
  t.notMatch(run.stdout, /dockmoat listening/, 'the proxy never listened')
})
