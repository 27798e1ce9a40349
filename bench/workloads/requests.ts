// Workloads 1 and 2: small requests in a closed loop. `/_ping` on one keep-alive
// connection (latency) and on 32 (throughput); the container list on 8. `/_ping` is also
// measured through a second dockmoat with METRICS_LISTEN set, right after dockmoat in
// every round, for what counting every exchange costs the hot path.
import { closedLoop, json, once } from '../client.ts'
import { rssMiB } from '../proc.ts'
import { maxOf, quantile, round } from '../stats.ts'
import { freePort, type Target } from '../targets.ts'
import { errorText, markCpu, orderFor, pushDetail, recordCpu, type CpuMark, type Ctx } from './common.ts'

export async function measured(ctx: Ctx, target: Target, phase: string, roundIndex: number, connections: number, path: string, warmupMs: number, durationMs: number) {
  let start: CpuMark | undefined
  let end: CpuMark | undefined
  const result = await closedLoop(target.endpoint, {
    connections, path, warmupMs, durationMs,
    onWindow: (edge) => {
      if (edge === 'start') start = markCpu(ctx, target)
      else end = markCpu(ctx, target)
    },
  })
  const cpu = start && end ? recordCpu(ctx, phase, target, roundIndex, start, end) : undefined
  return { result, cpu }
}

export function cpuShare(seconds: number | null | undefined, wall: number | undefined): number | null {
  return seconds === null || seconds === undefined || !wall ? null : round((seconds / wall) * 100, 1)
}

/** What the METRICS_LISTEN rows measured, for the note under the table (details.pingMetrics). */
export interface PingMetricsSetup {
  settings: string
  command: string
  pid: number | null
  /** `GET /_ping` exchanges its /metrics counted after the rounds, and the requests the rounds timed (warm-ups not included). */
  scrapedPings: number | null
  timedPings: number
  /** RSS after the rounds, metrics off and on. */
  rssMiB: { off: number | null; on: number | null }
}

/**
 * `startMetered`: starts dockmoat with `env` (METRICS_LISTEN) on top of its usual settings,
 * measured in every round right after dockmoat, in dockmoat's column of the ping_metrics rows.
 */
export async function pingWorkload(ctx: Ctx, startMetered?: (env: Record<string, string>) => Promise<Target>): Promise<void> {
  if (startMetered === undefined) {
    await pingRounds(ctx)
    return
  }
  const settings = { METRICS_LISTEN: `127.0.0.1:${await freePort()}` }
  let metered: Target
  try {
    metered = await startMetered(settings)
  } catch (error) {
    // The other targets are still measured; the METRICS_LISTEN rows show as failed.
    for (const metric of ['ping_metrics_p50', 'ping_metrics_p99', 'ping_metrics_rps']) {
      ctx.recorder.add(metric, 'dockmoat', 0, Number.NaN)
      ctx.recorder.note(metric, 'dockmoat', `dockmoat with METRICS_LISTEN did not start: ${errorText(error).split('\n')[0]}`)
    }
    await pingRounds(ctx)
    return
  }
  try {
    const timedPings = await pingRounds(ctx, metered)
    const plain = ctx.targets.find((t) => t.kind === 'dockmoat')
    const setup: PingMetricsSetup = {
      settings: Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' '),
      command: metered.command ?? '', pid: metered.pid ?? null,
      scrapedPings: await scrapedPings(settings.METRICS_LISTEN), timedPings,
      rssMiB: { off: rssNow(plain), on: rssNow(metered) },
    }
    ctx.details.pingMetrics = setup
    ctx.log(`ping: ${metered.name} counted ${setup.scrapedPings} GET /_ping exchanges (${timedPings} timed); RSS ${setup.rssMiB.off} MiB without metrics, ${setup.rssMiB.on} MiB with`)
  } finally {
    await metered.stop()
  }
}

function rssNow(target: Target | undefined): number | null {
  const rss = rssMiB(target?.pid)
  return rss === undefined ? null : round(rss, 1)
}

/** dockmoat_requests_total for the allowed `GET /_ping`s, read from the metrics listener. */
async function scrapedPings(address: string): Promise<number | null> {
  const [host, port] = address.split(':')
  try {
    const { text } = await once({ kind: 'tcp', host: host!, port: Number(port) }, { path: '/metrics', keep: true })
    const line = /^dockmoat_requests_total\{route="GET \/_ping",decision="allow",status="200"\} (\d+)$/m.exec(text ?? '')
    return line === null ? null : Number(line[1])
  } catch {
    return null
  }
}

/** Every target, and `metered` right after dockmoat; returns the requests timed through `metered`. */
async function pingRounds(ctx: Ctx, metered?: Target): Promise<number> {
  const { rounds, warmupMs, durationMs, connections } = ctx.config.ping
  const targets = metered === undefined ? ctx.targets : ctx.targets.flatMap((t) => (t.kind === 'dockmoat' ? [t, metered] : [t]))
  let timedPings = 0
  for (let r = 0; r < rounds; r++) {
    for (const target of orderFor(r, targets)) {
      // Direct is the baseline of both sets of rows.
      const rows: [prefix: string, column: string][] = target === metered ? [['ping_metrics', 'dockmoat']] : [['ping', target.name]]
      if (target.kind === 'direct' && metered !== undefined) rows.push(['ping_metrics', 'direct'])
      const latency = await measured(ctx, target, 'ping-1conn', r, 1, '/_ping', warmupMs, durationMs)
      const lat = latency.result
      const load = await measured(ctx, target, `ping-${connections}conn`, r, connections, '/_ping', warmupMs, durationMs)
      for (const [prefix, column] of rows) {
        ctx.recorder.add(`${prefix}_p50`, column, r, lat.latencies.length > 0 ? quantile(lat.latencies, 0.5) * 1000 : Number.NaN)
        ctx.recorder.add(`${prefix}_p99`, column, r, lat.latencies.length > 0 ? quantile(lat.latencies, 0.99) * 1000 : Number.NaN)
        ctx.recorder.add(`${prefix}_rps`, column, r, load.result.count > 0 ? load.result.count / (durationMs / 1000) : Number.NaN)
        for (const [metric, res] of [[`${prefix}_p50`, lat], [`${prefix}_rps`, load.result]] as const) {
          if (res.errors > 0) ctx.recorder.note(metric, column, `${res.errors} errors (${res.firstError})`)
        }
      }
      pushDetail(ctx, 'ping', target.name, {
        round: r,
        oneConnection: { samples: lat.latencies.length, errors: lat.errors, p50us: round(quantile(lat.latencies, 0.5) * 1000, 1), p90us: round(quantile(lat.latencies, 0.9) * 1000, 1), p99us: round(quantile(lat.latencies, 0.99) * 1000, 1), maxUs: round(maxOf(lat.latencies) * 1000, 1), clientCpuPct: cpuShare(latency.cpu?.clientSeconds, latency.cpu?.wallSeconds), proxyCpuPct: cpuShare(latency.cpu?.proxySeconds, latency.cpu?.wallSeconds), dockerdCpuPct: cpuShare(latency.cpu?.dockerdSeconds, latency.cpu?.wallSeconds) },
        manyConnections: { connections, requests: load.result.count, errors: load.result.errors, rps: round(load.result.count / (durationMs / 1000), 0), p50us: round(quantile(load.result.latencies, 0.5) * 1000, 1), p99us: round(quantile(load.result.latencies, 0.99) * 1000, 1), clientCpuPct: cpuShare(load.cpu?.clientSeconds, load.cpu?.wallSeconds), proxyCpuPct: cpuShare(load.cpu?.proxySeconds, load.cpu?.wallSeconds), dockerdCpuPct: cpuShare(load.cpu?.dockerdSeconds, load.cpu?.wallSeconds) },
      })
      ctx.log(`ping round ${r + 1}/${rounds} ${target.name}: p50 ${round(quantile(lat.latencies, 0.5) * 1000, 0)} µs, p99 ${round(quantile(lat.latencies, 0.99) * 1000, 0)} µs, ${round(load.result.count / (durationMs / 1000), 0)} req/s`)
      if (target === metered) timedPings += lat.latencies.length + load.result.count
    }
  }
  return timedPings
}

export async function listWorkload(ctx: Ctx): Promise<void> {
  const { rounds, warmupMs, durationMs, connections } = ctx.config.list
  const path = '/containers/json?all=1'
  for (let r = 0; r < rounds; r++) {
    for (const target of orderFor(r, ctx.targets)) {
      let listed: number | null = null
      let responseBytes: number | null = null
      try {
        const sample = await json<unknown[]>(target.endpoint, { path })
        if (Array.isArray(sample.value)) {
          listed = sample.value.length
          responseBytes = Buffer.byteLength(JSON.stringify(sample.value))
        }
      } catch {
        // counted as errors by the loop below
      }
      const load = await measured(ctx, target, `list-${connections}conn`, r, connections, path, warmupMs, durationMs)
      const rps = load.result.count / (durationMs / 1000)
      ctx.recorder.add('list_rps', target.name, r, load.result.count > 0 ? rps : Number.NaN)
      if (load.result.errors > 0) ctx.recorder.note('list_rps', target.name, `${load.result.errors} errors (${load.result.firstError})`)
      pushDetail(ctx, 'list', target.name, {
        round: r, containersListed: listed, responseBytes, requests: load.result.count, errors: load.result.errors, rps: round(rps, 0),
        p50ms: round(quantile(load.result.latencies, 0.5), 3), p99ms: round(quantile(load.result.latencies, 0.99), 3),
        clientCpuPct: cpuShare(load.cpu?.clientSeconds, load.cpu?.wallSeconds), proxyCpuPct: cpuShare(load.cpu?.proxySeconds, load.cpu?.wallSeconds), dockerdCpuPct: cpuShare(load.cpu?.dockerdSeconds, load.cpu?.wallSeconds),
      })
      ctx.log(`list round ${r + 1}/${rounds} ${target.name}: ${round(rps, 0)} req/s (${listed} containers listed)`)
    }
  }
}
