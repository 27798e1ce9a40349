// What every workload gets: the targets, the fixtures, the recorder, and CPU bookkeeping.
import type { BenchConfig } from '../config.ts'
import type { Fixtures } from '../fixtures.ts'
import type { Recorder } from '../model.ts'
import { cpuSeconds } from '../proc.ts'
import type { Target } from '../targets.ts'

export interface CpuRecord {
  phase: string
  target: string
  round: number
  wallSeconds: number
  /** CPU seconds of the load generator (this process). */
  clientSeconds: number
  proxySeconds: number | null
  dockerdSeconds: number | null
}

export interface Ctx {
  config: BenchConfig
  /** direct first, then dockmoat, then compared proxies. */
  targets: Target[]
  fixtures: Fixtures
  recorder: Recorder
  details: Record<string, unknown>
  cpu: CpuRecord[]
  dockerdPid: number | undefined
  log(message: string): void
}

/** Round 0 runs targets in order, round 1 in reverse, and so on. */
export function orderFor<T>(roundIndex: number, targets: readonly T[]): T[] {
  return roundIndex % 2 === 0 ? [...targets] : [...targets].reverse()
}

export interface CpuMark {
  at: number
  client: number
  proxy: number | undefined
  dockerd: number | undefined
}

export function markCpu(ctx: Ctx, target: Target): CpuMark {
  const usage = process.cpuUsage()
  return { at: performance.now(), client: (usage.user + usage.system) / 1e6, proxy: cpuSeconds(target.pid), dockerd: cpuSeconds(ctx.dockerdPid) }
}

export function recordCpu(ctx: Ctx, phase: string, target: Target, roundIndex: number, from: CpuMark, to: CpuMark = markCpu(ctx, target)): CpuRecord {
  const record: CpuRecord = {
    phase,
    target: target.name,
    round: roundIndex,
    wallSeconds: (to.at - from.at) / 1000,
    clientSeconds: to.client - from.client,
    proxySeconds: from.proxy !== undefined && to.proxy !== undefined ? to.proxy - from.proxy : null,
    dockerdSeconds: from.dockerd !== undefined && to.dockerd !== undefined ? to.dockerd - from.dockerd : null,
  }
  ctx.cpu.push(record)
  return record
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Per target name, a list of per-round detail objects. */
export function detailsFor(ctx: Ctx, workload: string): Record<string, unknown[]> {
  const existing = ctx.details[workload] as Record<string, unknown[]> | undefined
  if (existing !== undefined) return existing
  const fresh: Record<string, unknown[]> = {}
  ctx.details[workload] = fresh
  return fresh
}

export function pushDetail(ctx: Ctx, workload: string, target: string, detail: unknown): void {
  const byTarget = detailsFor(ctx, workload)
  ;(byTarget[target] ??= []).push(detail)
}
