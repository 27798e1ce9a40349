// Workload 7: the container lifecycle a CI runner or an orchestrator drives, where the
// body guard works: POST /containers/create with the body the docker CLI sends, start,
// wait for the exit, and DELETE ?force=1, in `loops` concurrent client loops, each on
// its own keep-alive connection. One cycle is timed from sending the create to the end
// of the DELETE's answer.
//
// The body (bench/create-body.json) is what docker CLI 28.2.2 sent, captured through a
// logging relay, for
//   docker run --name NAME --network none --label org.dockmoat.bench=RUN \
//     -v VOLUME:/data -e A=B IMAGE true
// (~1.6 KB: Env, Cmd, Labels, HostConfig with the named volume in Binds, NetworkingConfig),
// with IMAGE, RUN and VOLUME filled in per run and Cmd made
//   sh -c '[ "$A" = B ] && grep -q " /data " /proc/mounts'
// which exits 0 only when the container got the environment and the named volume the
// body asked for: every timed cycle also checks that the body arrived whole.
//
// Choices that keep the number about the proxy: no AutoRemove (dockerd's own removal
// after the exit would be timed, and raced by the DELETE; the DELETE is one more request
// through the proxy instead); `--network none` like every container of the bench (a
// bridge endpoint adds ~70 ms of veth and iptables work in dockerd to each cycle, the
// same for every target, which only dilutes the ratio); the volume exists before the
// first cycle (dockerd makes a missing one at the first create, which would be timed).
import fs from 'node:fs'
import { json, newClient, send, type Answer } from '../client.ts'
import type { Client } from 'undici'
import { uniqueName } from '../../test/helpers/docker.ts'
import { RUN_LABEL } from '../fixtures.ts'
import { maxOf, median, quantile, round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { errorText, markCpu, orderFor, pushDetail, recordCpu, type Ctx } from './common.ts'

const BODY_TEMPLATE = JSON.parse(fs.readFileSync(new URL('../create-body.json', import.meta.url), 'utf8')) as {
  Image: string
  Labels: Record<string, string>
  HostConfig: { Binds: string[] }
}

/** The docker CLI's create body, compact as the CLI sends it, for this run's image, label and volume. */
export function createBody(image: string, volume: string, runId: string): string {
  const body = structuredClone(BODY_TEMPLATE)
  body.Image = image
  body.Labels = { [RUN_LABEL]: runId }
  body.HostConfig.Binds = [`${volume}:/data`]
  return JSON.stringify(body)
}

interface Cycle {
  ok: boolean
  /** Create sent to the DELETE's answer ended, ms. */
  ms: number
  createMs: number
  /** What went wrong, for the notes. */
  failure?: string
}

/** Names sent in a create that no DELETE (through the target or directly) has removed yet. */
type Live = Set<string>

async function call(client: Client, method: 'POST' | 'DELETE', path: string, body?: string): Promise<Answer> {
  return send(client, { method, path, keep: true, ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) })
}

function short(answer: Answer): string {
  return `HTTP ${answer.status} ${(answer.text ?? '').trim().slice(0, 160)}`
}

async function cycle(client: Client, api: string, body: string, name: string, live: Live): Promise<Cycle> {
  const began = performance.now()
  let createMs = Number.NaN
  live.add(name)
  try {
    const created = await call(client, 'POST', `${api}/containers/create?name=${name}`, body)
    createMs = performance.now() - began
    if (created.status !== 201) {
      // A 4xx (a refusal, a bad body) made nothing; a 5xx or a lost answer may have.
      if (created.status >= 400 && created.status < 500) live.delete(name)
      return { ok: false, ms: Number.NaN, createMs, failure: `create: ${short(created)}` }
    }
    const id = (JSON.parse(created.text ?? '{}') as { Id?: string }).Id
    if (typeof id !== 'string') return { ok: false, ms: Number.NaN, createMs, failure: `create answered no Id: ${short(created)}` }
    const started = await call(client, 'POST', `${api}/containers/${id}/start`)
    let failure = started.status === 204 ? undefined : `start: ${short(started)}`
    if (failure === undefined) {
      const waited = await call(client, 'POST', `${api}/containers/${id}/wait?condition=not-running`)
      const code = waited.status === 200 ? (JSON.parse(waited.text ?? '{}') as { StatusCode?: number }).StatusCode : undefined
      if (code !== 0) failure = waited.status === 200 ? `the container exited ${code} (its Env or its volume did not arrive)` : `wait: ${short(waited)}`
    }
    // Removed even after a failure, through the target; what it refuses is removed directly at the end.
    const removed = await call(client, 'DELETE', `${api}/containers/${id}?force=1`)
    if (removed.status === 204 || removed.status === 404) live.delete(name)
    else failure ??= `remove: ${short(removed)}`
    const ms = performance.now() - began
    return failure === undefined ? { ok: true, ms, createMs } : { ok: false, ms: Number.NaN, createMs, failure }
  } catch (error) {
    return { ok: false, ms: Number.NaN, createMs, failure: errorText(error) }
  }
}

async function oneRound(ctx: Ctx, target: Target, r: number, api: string, body: string, live: Live): Promise<void> {
  const { cycles, loops, hangMs } = ctx.config.create
  const clients = Array.from({ length: loops }, () => newClient(target.endpoint, { headersTimeout: hangMs, bodyTimeout: hangMs }))
  const name = (): string => uniqueName('bench-cycle')
  const results: Cycle[] = []
  let firstFailure: string | undefined
  try {
    // One cycle per loop first, not timed: the connections, the JIT, dockerd's caches.
    const warm = await Promise.all(clients.map((client) => ctx.fixtures.track(cycle(client, api, body, name(), live))))
    const warmFailure = warm.find((c) => !c.ok)?.failure
    let next = 0
    const from = markCpu(ctx, target)
    await Promise.all(clients.map(async (client) => {
      // An interrupted run (SIGINT) starts no more cycles; removeAll waits for those under way.
      while (next < cycles && ctx.fixtures.open) {
        next++
        const result = await ctx.fixtures.track(cycle(client, api, body, name(), live))
        results.push(result)
        if (!result.ok) {
          firstFailure ??= result.failure
          // A target that fails a cycle fails the next ones too (a refusal, a hang): stop this loop.
          break
        }
      }
    }))
    const cpu = recordCpu(ctx, 'create-cycle', target, r, from)
    const times = results.filter((c) => c.ok).map((c) => c.ms)
    const createTimes = results.map((c) => c.createMs).filter((ms) => Number.isFinite(ms))
    ctx.recorder.expect('create_cycle_ok', cycles)
    ctx.recorder.add('create_cycle_ok', target.name, r, times.length)
    ctx.recorder.add('create_cycle_p50', target.name, r, times.length > 0 ? median(times) : Number.NaN)
    ctx.recorder.add('create_cycle_p99', target.name, r, times.length > 0 ? quantile(times, 0.99) : Number.NaN)
    ctx.recorder.add('create_request_p50', target.name, r, times.length > 0 ? median(results.filter((c) => c.ok).map((c) => c.createMs)) : Number.NaN)
    const proxyMsPerCycle = cpu.proxySeconds !== null && times.length > 0 ? (cpu.proxySeconds * 1000) / times.length : Number.NaN
    if (target.pid !== undefined) ctx.recorder.add('create_cpu', target.name, r, proxyMsPerCycle)
    if (times.length < cycles) ctx.recorder.note('create_cycle_ok', target.name, `round ${r + 1}: ${times.length}/${cycles} cycles completed (${firstFailure ?? warmFailure ?? 'not run'})`)
    pushDetail(ctx, 'createCycle', target.name, {
      round: r, loops, cycles, ok: times.length, bodyBytes: Buffer.byteLength(body),
      warmupFailure: warmFailure ?? null, firstFailure: firstFailure ?? null,
      p50ms: round(median(times), 2), p99ms: round(quantile(times, 0.99), 2), minMs: round(Math.min(...times), 2), maxMs: round(maxOf(times), 2),
      createP50ms: round(median(createTimes), 3), createMaxMs: round(maxOf(createTimes), 3),
      wallSeconds: round(cpu.wallSeconds, 2), proxyCpuMsPerCycle: round(proxyMsPerCycle, 3),
      dockerdCpuMsPerCycle: cpu.dockerdSeconds !== null && times.length > 0 ? round((cpu.dockerdSeconds * 1000) / times.length, 1) : null,
    })
    ctx.log(`create cycle round ${r + 1} ${target.name}: p50 ${round(median(times), 1)} ms, p99 ${round(quantile(times, 0.99), 1)} ms, create alone p50 ${round(median(createTimes), 2)} ms, ${times.length}/${cycles} ok${firstFailure ? ` (${firstFailure})` : ''}`)
  } finally {
    await Promise.all(clients.map((client) => client.destroy().catch(() => undefined)))
  }
}

/**
 * `volume`: a named volume that exists. Every container a cycle may have made is gone when
 * this returns (removed through the target, or directly at the end of each round).
 */
export async function createWorkload(ctx: Ctx, volume: string): Promise<void> {
  const direct = ctx.targets.find((t) => t.kind === 'direct')!
  const { value: version } = await json<{ ApiVersion?: string }>(direct.endpoint, { path: '/version' })
  // The versioned path, as the docker CLI sends it.
  const api = typeof version.ApiVersion === 'string' ? `/v${version.ApiVersion}` : ''
  const body = createBody(ctx.fixtures.image, volume, ctx.fixtures.runId)
  const live: Live = new Set()
  try {
    for (let r = 0; r < ctx.config.create.rounds; r++) {
      for (const target of orderFor(r, ctx.targets)) {
        if (!ctx.fixtures.open) return
        try {
          await oneRound(ctx, target, r, api, body, live)
        } finally {
          if (live.size > 0) {
            ctx.log(`create cycle round ${r + 1} ${target.name}: removing ${live.size} container(s) the target left, directly`)
            await ctx.fixtures.remove([...live])
            live.clear()
          }
        }
      }
    }
  } finally {
    if (live.size > 0) await ctx.fixtures.remove([...live])
  }
}
