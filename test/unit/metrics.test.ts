// What src/metrics.ts counts from the decisions the policy really makes, and what its
// listener serves. The context is the proxy's own, with its upstream Pool to the real
// dockerd (or to a socket that does not exist, for the unreachable case).
import t from 'tap'
import net from 'node:net'
import { pino } from 'pino'
import { createMetrics, type Metrics } from '../../src/metrics.ts'
import { createProxy } from '../../src/proxy.ts'
import { decideRequest, type Decision } from '../../src/policy.ts'
import { parseConfig } from '../../src/settings.ts'
import { askDockerd, type Outcome } from '../../src/exchange.ts'
import { DOCKER_SOCKET, requireDocker } from '../helpers/docker.ts'

await requireDocker()

const silent = pino({ level: 'silent' })

function metered(env: Record<string, string> = {}) {
  const config = parseConfig({ SOCKET_PATH: DOCKER_SOCKET, ...env })
  const { ctx } = createProxy(config, silent)
  const metrics = createMetrics(ctx, askDockerd)
  t.teardown(async () => {
    metrics.close()
    ctx.relayPool.destroy()
  })
  const decide = (method: string, path: string): Decision => decideRequest(method, path, 'application/json', config)
  return { ctx, metrics, decide }
}

const outcome = (status: number, more: Partial<Outcome> = {}): Outcome => ({ status, ms: 0, client: '127.0.0.1', ...more })

type Labels = Record<string, string | number>

/** The value of one series (`_count`, `_sum`, `_bucket` of a histogram by those names); undefined when absent. Collects only its metric. */
async function series(metrics: Metrics, name: string, labels: Labels): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name) ?? metrics.registry.getSingleMetric(name.replace(/_(count|sum|bucket)$/, ''))
  if (metric === undefined) throw new Error(`no metric ${name}`)
  const { name: base, values } = await metric.get()
  for (const value of values) {
    const exposed = (value as { metricName?: string }).metricName ?? base
    const own = value.labels as Labels
    if (exposed === name && Object.keys(own).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => String(own[k]) === String(v))) return value.value
  }
  return undefined
}

t.test('requests by route template, decision and status; refusals by the variables that would allow them', async (t) => {
  const { metrics, decide } = metered({ CONTAINERS: '1' })
  for (let i = 0; i < 3; i++) metrics.exchange(decide('GET', '/v1.41/containers/0123456789ab/json'), outcome(200, { bytes: 10 }))
  metrics.exchange(decide('GET', '/containers/web/json'), outcome(404, { bytes: 5 }))
  metrics.exchange(decide('POST', '/containers/create'), outcome(403))
  metrics.exchange(decide('POST', '/v1.41/containers/web/stop'), outcome(403))
  metrics.exchange(decide('GET', '/nope/0123456789ab'), outcome(403))
  metrics.exchange(decide('GET', '/debug/pprof/'), outcome(403))

  t.equal(await series(metrics, 'dockmoat_requests_total', { route: 'GET /containers/{name}/json', decision: 'allow', status: 200 }), 3)
  t.equal(await series(metrics, 'dockmoat_requests_total', { route: 'GET /containers/{name}/json', decision: 'allow', status: 404 }), 1)
  t.equal(await series(metrics, 'dockmoat_requests_total', { route: 'POST /containers/create', decision: 'deny', status: 403 }), 1)
  t.equal(await series(metrics, 'dockmoat_requests_total', { route: 'unknown', decision: 'deny', status: 403 }), 1, 'a path no route has is counted as unknown')
  t.equal(await series(metrics, 'dockmoat_refusals_total', { variable: 'POST', decision: 'deny' }), 2, 'create and stop both need POST=1')
  t.equal(await series(metrics, 'dockmoat_refusals_total', { variable: 'none', decision: 'deny' }), 2, 'no variable allows an unknown route or /debug')
  const text = await metrics.registry.metrics()
  t.notMatch(text, /0123456789ab|\/web\b|v1\.41/, 'no path, ID, name or API version reaches a label')
})

t.test('MODE=audit: a call forwarded although the configuration would refuse it is counted as audit', async (t) => {
  const { metrics, decide } = metered({ MODE: 'audit' })
  metrics.exchange(decide('POST', '/containers/web/stop'), outcome(204))
  metrics.exchange(decide('GET', '/_ping'), outcome(200, { bytes: 2 }))
  t.equal(await series(metrics, 'dockmoat_requests_total', { route: 'POST /containers/{name}/stop', decision: 'audit', status: 204 }), 1)
  t.equal(await series(metrics, 'dockmoat_requests_total', { route: 'GET /_ping', decision: 'allow', status: 200 }), 1, 'what the configuration allows stays allow')
  t.equal(await series(metrics, 'dockmoat_refusals_total', { variable: 'CONTAINERS+POST', decision: 'audit' }), 1, 'several variables are joined with +')
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_count', { route: 'POST /containers/{name}/stop' }), 1, 'it was forwarded, so it is timed')
})

t.test('duration: forwarded exchanges only, in seconds, sub-millisecond to an hour', async (t) => {
  const { metrics, decide } = metered({ CONTAINERS: '1' })
  metrics.exchange(decide('GET', '/containers/json'), outcome(200, { ms: 0 }))
  metrics.exchange(decide('GET', '/containers/json'), outcome(200, { ms: 1500 }))
  metrics.exchange(decide('GET', '/events'), outcome(200, { ms: 45 * 60_000 }))
  metrics.exchange(decide('POST', '/containers/create'), outcome(403))
  const route = 'GET /containers/json'
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_count', { route }), 2)
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_sum', { route }), 1.5)
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_bucket', { route, le: 0.0005 }), 1, 'a 0 ms answer is in the sub-millisecond bucket')
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_bucket', { route, le: 1 }), 1)
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_bucket', { route, le: 2.5 }), 2)
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_bucket', { route: 'GET /events', le: 3600 }), 1, 'a 45-minute stream is below the last bucket')
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_bucket', { route: 'GET /events', le: 900 }), 0)
  t.equal(await series(metrics, 'dockmoat_request_duration_seconds_count', { route: 'POST /containers/create' }), undefined, 'a refusal is not timed')
})

t.test('bytes: answers to the client, and both directions of a hijacked exchange', async (t) => {
  const { metrics, decide } = metered({ CONTAINERS: '1', EXEC: '1', POST: '1' })
  metrics.exchange(decide('GET', '/containers/json'), outcome(200, { bytes: 1000 }))
  metrics.exchange(decide('GET', '/containers/json'), outcome(200, { bytes: 24 }))
  metrics.exchange(decide('POST', '/exec/abc/start'), outcome(101, { bytesUp: 300, bytesDown: 7000 }))
  metrics.exchange(decide('POST', '/containers/create'), outcome(403, { bytes: 0 }))
  t.equal(await series(metrics, 'dockmoat_bytes_total', { route: 'GET /containers/json', direction: 'to_client' }), 1024)
  t.equal(await series(metrics, 'dockmoat_bytes_total', { route: 'POST /exec/{name}/start', direction: 'to_client' }), 7000)
  t.equal(await series(metrics, 'dockmoat_bytes_total', { route: 'POST /exec/{name}/start', direction: 'to_dockerd' }), 300)
  t.equal(await series(metrics, 'dockmoat_bytes_total', { route: 'GET /containers/json', direction: 'to_dockerd' }), undefined)
})

t.test('gauges are read at scrape time: streams, open exchanges, and dockerd answering /_ping', async (t) => {
  const { ctx, metrics } = metered()
  t.equal(await series(metrics, 'dockmoat_open_streams', {}), 0)
  ctx.streams.add({ destroy() {} })
  ctx.streams.add({ destroy() {} })
  ctx.open = 3
  t.equal(await series(metrics, 'dockmoat_open_streams', {}), 2)
  t.equal(await series(metrics, 'dockmoat_open_exchanges', {}), 3)
  t.equal(await series(metrics, 'dockmoat_dockerd_up', {}), 1, 'the real dockerd answers')
  t.equal(await series(metrics, 'dockmoat_upstream_errors_total', {}), 0)

  const away = metered({ SOCKET_PATH: '/nonexistent/docker.sock' })
  away.ctx.metrics = away.metrics
  t.equal(await series(away.metrics, 'dockmoat_dockerd_up', {}), 0, 'no dockerd at the socket')
  t.equal(await series(away.metrics, 'dockmoat_upstream_errors_total', {}), 1, 'the failed probe is an upstream error')
})

t.test('the listener serves GET /metrics only, in the Prometheus text format', async (t) => {
  const { metrics } = metered()
  const bound = await metrics.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${bound.port}`
  const scrape = await fetch(`${base}/metrics`)
  t.equal(scrape.status, 200)
  t.equal(scrape.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  const text = await scrape.text()
  t.match(text, /^# HELP dockmoat_requests_total /m)
  t.match(text, /^dockmoat_dockerd_up 1$/m)
  t.match(text, /^process_cpu_seconds_total /m, "Node's process metrics, under their usual names")
  t.equal((await fetch(`${base}/metrics?x=1`)).status, 200, 'a query string is ignored')
  t.equal((await fetch(`${base}/`)).status, 404)
  t.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404)
})

t.test('a metrics address that cannot be bound is refused with a message naming METRICS_LISTEN', async (t) => {
  const busy = net.createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())
  const port = (busy.address() as net.AddressInfo).port
  const { metrics } = metered()
  await t.rejects(metrics.listen({ host: '127.0.0.1', port }), { message: new RegExp(`^cannot serve metrics at METRICS_LISTEN=127\\.0\\.0\\.1:${port}: listen EADDRINUSE`) })
  await t.rejects(metrics.listen({ host: '2001:db8::1', port: 9375 }), { message: /^cannot serve metrics at METRICS_LISTEN=\[2001:db8::1\]:9375: / }, 'an address this host does not have; IPv6 is shown in brackets')
})
