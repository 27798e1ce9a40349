// Prometheus metrics, when METRICS_LISTEN is set: counted from every finished exchange
// (logExchange tells the Observer), served as text at GET /metrics on a listener of their
// own. Every label stays bounded: routes are dockerd's route templates (never a path or
// an ID), decisions and directions are fixed words, statuses are HTTP codes and the
// refusal variables are dockmoat's own variable names.
import type { AddressInfo } from 'node:net'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import http from './node-http.ts'
import type { askDockerd, Context, Observer, Outcome } from './exchange.ts'
import type { Decision } from './policy.ts'

/** Seconds: from sub-millisecond answers to streams (events, logs -f, attach) held for an hour. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]

/** How long a scrape waits for dockerd's `/_ping` before reporting it unreachable. */
const PING_TIMEOUT_MS = 2000

export interface Metrics extends Observer {
  readonly registry: Registry
  /** Binds the metrics listener; rejects with a message naming METRICS_LISTEN when it cannot. */
  listen(where: { host: string; port: number }): Promise<AddressInfo>
  close(): void
}

type Verdict = 'allow' | 'deny' | 'audit'

function verdictOf(decision: Decision): Verdict {
  if (!decision.allow) return 'deny'
  return decision.wouldRefuse === undefined ? 'allow' : 'audit'
}

/** `CONTAINERS+POST`: sorted, so one set of variables is one series whatever the order found. */
function variablesLabel(variables: readonly string[] | undefined): string {
  return variables === undefined || variables.length === 0 ? 'none' : [...variables].sort().join('+')
}

/**
 * `ask` is exchange.ts's askDockerd, handed in rather than imported: this module is built as
 * a file of its own, loaded when METRICS_LISTEN is set, that holds no copy of the forward path
 * (scripts/build.ts).
 */
export function createMetrics(ctx: Context, ask: typeof askDockerd): Metrics {
  const registry = new Registry()
  const registers = [registry]
  // Node's process metrics under their usual names (process_*, nodejs_*), as dashboards expect them.
  collectDefaultMetrics({ register: registry })

  const requests = new Counter({
    name: 'dockmoat_requests_total',
    help: 'Finished exchanges by route template (unknown: no dockerd route), decision (allow, deny, or audit: forwarded under MODE=audit although the configuration would refuse it) and HTTP status (0: none was sent).',
    labelNames: ['route', 'decision', 'status'] as const,
    registers,
  })
  const refusals = new Counter({
    name: 'dockmoat_refusals_total',
    help: 'Refused exchanges (decision deny) and, under MODE=audit, the ones that would have been (decision audit), by the variables that would allow them, joined with + (none: no variable allows it).',
    labelNames: ['variable', 'decision'] as const,
    registers,
  })
  const duration = new Histogram({
    name: 'dockmoat_request_duration_seconds',
    help: 'Time from forwarding a call to the end of its answer (for streams, until they close), by route template; refusals are not timed.',
    labelNames: ['route'] as const,
    buckets: DURATION_BUCKETS,
    registers,
  })
  const bytes = new Counter({
    name: 'dockmoat_bytes_total',
    help: 'Bytes relayed, by route template: to_client is dockerd\'s answers (bodies, streams, tunnels), to_dockerd what clients sent through hijacked tunnels (attach, exec); request bodies of other calls are not counted.',
    labelNames: ['route', 'direction'] as const,
    registers,
  })
  const upstreamErrors = new Counter({
    name: 'dockmoat_upstream_errors_total',
    help: 'Failures to reach dockerd or to read its answer, dockmoat\'s own requests (health, ownership lookups, dockmoat_dockerd_up) included.',
    registers,
  })
  new Gauge({
    name: 'dockmoat_open_streams',
    help: 'Streams open now (events, logs -f, stats, wait, attach, exec), which shutdown ends at once.',
    registers,
    collect() { this.set(ctx.streams.size) },
  })
  new Gauge({
    name: 'dockmoat_open_exchanges',
    help: 'Exchanges being answered now, streams included.',
    registers,
    collect() { this.set(ctx.open) },
  })
  new Gauge({
    name: 'dockmoat_dockerd_up',
    help: `1 when dockerd answered GET /_ping with 200 within ${PING_TIMEOUT_MS / 1000} s at this scrape, else 0.`,
    registers,
    async collect() {
      const answer = await ask(ctx, '/_ping', 'GET', undefined, PING_TIMEOUT_MS)
      this.set(answer.status === 200 ? 1 : 0)
    },
  })

  const server = http.createServer((req, res) => {
    if (req.url?.split('?', 1)[0] !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('dockmoat serves only GET /metrics here\n')
      return
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) }).end(text)
    }, (error: unknown) => {
      ctx.log.error({ err: error }, 'collecting the metrics failed')
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`dockmoat could not collect the metrics: ${(error as Error).message}\n`)
    })
  })

  return {
    registry,

    exchange(decision: Decision, outcome: Outcome): void {
      const route = decision.route?.display ?? 'unknown'
      const verdict = verdictOf(decision)
      requests.inc({ route, decision: verdict, status: outcome.status })
      const refusal = decision.allow ? decision.wouldRefuse : decision
      if (refusal !== undefined) refusals.inc({ variable: variablesLabel(refusal.variables), decision: verdict })
      if (decision.allow) duration.observe({ route }, outcome.ms / 1000)
      const toClient = (outcome.bytes ?? 0) + (outcome.bytesDown ?? 0)
      if (toClient > 0) bytes.inc({ route, direction: 'to_client' }, toClient)
      if (outcome.bytesUp !== undefined && outcome.bytesUp > 0) bytes.inc({ route, direction: 'to_dockerd' }, outcome.bytesUp)
    },

    upstreamError(): void {
      upstreamErrors.inc()
    },

    listen(where) {
      return new Promise((resolve, reject) => {
        const failed = (error: Error): void => {
          const shown = where.host.includes(':') ? `[${where.host}]:${where.port}` : `${where.host}:${where.port}`
          reject(new Error(`cannot serve metrics at METRICS_LISTEN=${shown}: ${error.message}`, { cause: error }))
        }
        server.once('error', failed)
        server.listen(where.port, where.host, () => {
          server.off('error', failed)
          resolve(server.address() as AddressInfo)
        })
      })
    },

    close(): void {
      server.close()
      server.closeAllConnections()
    },
  }
}
