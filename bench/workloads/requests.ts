// Workloads 1 and 2: small requests in a closed loop. `/_ping` on one keep-alive
// connection (latency) and on 32 (throughput); the container list on 8.
import { closedLoop, json } from '../client.ts'
import { maxOf, quantile, round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { markCpu, orderFor, pushDetail, recordCpu, type CpuMark, type Ctx } from './common.ts'

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

export async function pingWorkload(ctx: Ctx): Promise<void> {
  const { rounds, warmupMs, durationMs, connections } = ctx.config.ping
  for (let r = 0; r < rounds; r++) {
    for (const target of orderFor(r, ctx.targets)) {
      const latency = await measured(ctx, target, 'ping-1conn', r, 1, '/_ping', warmupMs, durationMs)
      const lat = latency.result
      if (lat.latencies.length > 0) {
        ctx.recorder.add('ping_p50', target.name, r, quantile(lat.latencies, 0.5) * 1000)
        ctx.recorder.add('ping_p99', target.name, r, quantile(lat.latencies, 0.99) * 1000)
      } else {
        ctx.recorder.add('ping_p50', target.name, r, Number.NaN)
        ctx.recorder.add('ping_p99', target.name, r, Number.NaN)
      }
      const load = await measured(ctx, target, `ping-${connections}conn`, r, connections, '/_ping', warmupMs, durationMs)
      ctx.recorder.add('ping_rps', target.name, r, load.result.count > 0 ? load.result.count / (durationMs / 1000) : Number.NaN)
      for (const [metric, res] of [['ping_p50', lat], ['ping_rps', load.result]] as const) {
        if (res.errors > 0) ctx.recorder.note(metric, target.name, `${res.errors} errors (${res.firstError})`)
      }
      pushDetail(ctx, 'ping', target.name, {
        round: r,
        oneConnection: { samples: lat.latencies.length, errors: lat.errors, p50us: round(quantile(lat.latencies, 0.5) * 1000, 1), p90us: round(quantile(lat.latencies, 0.9) * 1000, 1), p99us: round(quantile(lat.latencies, 0.99) * 1000, 1), maxUs: round(maxOf(lat.latencies) * 1000, 1), clientCpuPct: cpuShare(latency.cpu?.clientSeconds, latency.cpu?.wallSeconds), proxyCpuPct: cpuShare(latency.cpu?.proxySeconds, latency.cpu?.wallSeconds), dockerdCpuPct: cpuShare(latency.cpu?.dockerdSeconds, latency.cpu?.wallSeconds) },
        manyConnections: { connections, requests: load.result.count, errors: load.result.errors, rps: round(load.result.count / (durationMs / 1000), 0), p50us: round(quantile(load.result.latencies, 0.5) * 1000, 1), p99us: round(quantile(load.result.latencies, 0.99) * 1000, 1), clientCpuPct: cpuShare(load.cpu?.clientSeconds, load.cpu?.wallSeconds), proxyCpuPct: cpuShare(load.cpu?.proxySeconds, load.cpu?.wallSeconds), dockerdCpuPct: cpuShare(load.cpu?.dockerdSeconds, load.cpu?.wallSeconds) },
      })
      ctx.log(`ping round ${r + 1}/${rounds} ${target.name}: p50 ${round(quantile(lat.latencies, 0.5) * 1000, 0)} µs, p99 ${round(quantile(lat.latencies, 0.99) * 1000, 0)} µs, ${round(load.result.count / (durationMs / 1000), 0)} req/s`)
    }
  }
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
