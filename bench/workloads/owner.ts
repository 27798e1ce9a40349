// Workload 8: OWNER, one socket per CI job. A second dockmoat, the same bundle and grants
// started with OWNER, ANDs the owner's label into every list's filters and, before any
// per-object call, asks dockerd (an inspect) whether the object is the owner's, then
// forwards the call on the full ID. Measured as the list workload measures: a closed loop
// on `connections` keep-alive connections (and the inspect also on one, where the extra
// round trip to dockerd shows undiluted).
//
// The containers: `owned` running ones made with the docker CLI through the owner proxy
// (so they carry its label, stamped by dockmoat), next to the list workload's and the
// work and flush containers, made directly and owned by nobody.
//
// What direct is sent: the same inspect; for the list, the query the owner proxy
// forwards (the owner's label in `filters`, in dockerd's map form), so that both answer
// the same containers and the ratio is what the proxy adds. Sent unfiltered, direct would
// serialise every container on the host and look slower than the proxy for it.
//
// The owner's id is unique per run (bench-owner-<run>): a second bench on the machine
// (the bench test, say) with its own owned containers would otherwise show in this one's
// list. Every owned container is also labelled with the run and removed at the end of the
// workload (and by the run's final sweep if this one is interrupted).
import { dockerHost, json } from '../client.ts'
import { RUN_LABEL, type Made } from '../fixtures.ts'
import type { OwnerSetup } from '../report.ts'
import { median, quantile, round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { errorText, orderFor, pushDetail, type Ctx } from './common.ts'
import { cpuShare, measured } from './requests.ts'

/** dockmoat's default OWNER_LABEL: the bench leaves it at the default. */
export const OWNER_LABEL = 'dockmoat.owner'

export function ownerId(runId: string): string {
  return `bench-owner-${runId}`
}

/** The list the owner proxy forwards for `GET /containers/json?all=1`, sent to direct. */
export function ownerListPath(owner: string): string {
  return `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: { [`${OWNER_LABEL}=${owner}`]: true } }))}`
}

interface Listed { Id: string; Names?: string[]; Labels?: Record<string, string> }

interface Scope {
  ok: boolean
  problems: string[]
  /** What was seen, for the details (and the bench test). */
  owned: number
  listedByProxy: number | null
  listedDirectFiltered: number | null
  /** HTTP status of the owned container's inspect through the owner proxy, by ID and by name. */
  ownedInspect: number[]
  /** The same for a foreign container (404 expected). */
  foreignInspect: number[]
}

/**
 * The correctness check, every round: the owner proxy lists exactly the owned containers
 * (and direct's filtered list the same ones), an owned one inspects by ID and by name, a
 * foreign one is 404 by ID and by name.
 */
async function checkScope(proxy: Target, direct: Target, owned: Made[], foreign: Made, directListPath: string): Promise<Scope> {
  const problems: string[] = []
  const want = owned.map((c) => c.id).sort()
  const seen: Omit<Scope, 'ok' | 'problems'> = { owned: want.length, listedByProxy: null, listedDirectFiltered: null, ownedInspect: [], foreignInspect: [] }
  try {
    const mine = await json<Listed[]>(proxy.endpoint, { path: '/containers/json?all=1' })
    const ids = Array.isArray(mine.value) ? mine.value.map((c) => c.Id).sort() : []
    seen.listedByProxy = Array.isArray(mine.value) ? ids.length : null
    if (mine.status !== 200 || ids.join() !== want.join()) problems.push(`the owner proxy listed ${ids.length} containers (HTTP ${mine.status}), not exactly the ${want.length} owned`)
    const filtered = await json<Listed[]>(direct.endpoint, { path: directListPath })
    const directIds = Array.isArray(filtered.value) ? filtered.value.map((c) => c.Id).sort() : []
    seen.listedDirectFiltered = Array.isArray(filtered.value) ? directIds.length : null
    if (directIds.join() !== want.join()) problems.push(`direct's filtered list held ${directIds.length} containers, not exactly the ${want.length} owned`)
    const first = owned[0]!
    for (const ref of [first.id, first.name]) {
      const answer = await json<{ Id?: string }>(proxy.endpoint, { path: `/containers/${ref}/json` })
      seen.ownedInspect.push(answer.status)
      if (answer.status !== 200 || answer.value.Id !== first.id) problems.push(`inspect of the owned container by ${ref === first.id ? 'ID' : 'name'} answered HTTP ${answer.status}`)
    }
    for (const ref of [foreign.id, foreign.name]) {
      const answer = await json<{ message?: string }>(proxy.endpoint, { path: `/containers/${ref}/json` })
      seen.foreignInspect.push(answer.status)
      if (answer.status !== 404) problems.push(`inspect of a foreign container by ${ref === foreign.id ? 'ID' : 'name'} answered HTTP ${answer.status}, not 404`)
    }
  } catch (error) {
    problems.push(errorText(error))
  }
  return { ok: problems.length === 0, problems, ...seen }
}

interface Phase {
  metric: string | undefined
  /** The throughput metric of the phase, also measured on compared proxies (the hop alone). */
  rpsMetric?: string
  phase: string
  path: (target: Target) => string
  connections: number
}

/**
 * `startOwner`: starts the owner proxy (dockmoat with `env` on top of its usual settings)
 * and has the run stop it too if the run is interrupted. `foreign`: a container owned by
 * nobody (one of the list workload's).
 */
export async function ownerWorkload(ctx: Ctx, startOwner: (env: Record<string, string>) => Promise<Target>, foreign: Made): Promise<void> {
  const { rounds, owned: count, connections, warmupMs, durationMs } = ctx.config.owner
  const direct = ctx.targets.find((t) => t.kind === 'direct')!
  const plain = ctx.targets.find((t) => t.kind === 'dockmoat')
  const owner = ownerId(ctx.fixtures.runId)
  const settings = { OWNER: owner }
  if (count < 1) throw new Error('config.owner.owned must be at least 1')
  const proxy = await startOwner(settings)
  const owned: Made[] = []
  const namesBefore = ctx.fixtures.names.length
  try {
    ctx.log(`owner: ${proxy.name} pid ${proxy.pid} (OWNER=${owner}); making ${count} containers through it with the docker CLI`)
    owned.push(...await ctx.fixtures.manyRunning('owned', count, 4, dockerHost(proxy.endpoint)))
    if (owned.length < count) throw new Error(`only ${owned.length} of ${count} owned containers were made (interrupted)`)
    // dockmoat stamped the label, not the client: check it on what dockerd holds.
    for (const made of owned) {
      const { value } = await json<{ Config?: { Labels?: Record<string, string> } }>(direct.endpoint, { path: `/containers/${made.id}/json` })
      if (value.Config?.Labels?.[OWNER_LABEL] !== owner) throw new Error(`${made.name}, made through the owner proxy, has no ${OWNER_LABEL}=${owner} label`)
      if (value.Config?.Labels?.[RUN_LABEL] !== ctx.fixtures.runId) throw new Error(`${made.name} lost the run label`)
    }
    const all = await json<Listed[]>(direct.endpoint, { path: '/containers/json?all=1' })
    const total = Array.isArray(all.value) ? all.value.length : 0
    const directListPath = ownerListPath(owner)
    const inspected = owned[0]!
    const setup: OwnerSetup = {
      settings: Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' '),
      command: proxy.command ?? '', pid: proxy.pid ?? null,
      owned: owned.length, total, connections, directListPath,
    }
    ctx.details.ownerSetup = setup
    ctx.log(`owner: ${owned.length} owned of ${total} containers; inspecting ${inspected.name}`)

    const phases: Phase[] = [
      { metric: 'owner_list_p50', rpsMetric: 'owner_list_rps', phase: `owner-list-${connections}conn`, path: (t) => (t === proxy ? '/containers/json?all=1' : directListPath), connections },
      { metric: 'owner_inspect_p50', rpsMetric: 'owner_inspect_rps', phase: `owner-inspect-${connections}conn`, path: () => `/containers/${inspected.id}/json`, connections },
      { metric: 'owner_inspect_1conn_p50', phase: 'owner-inspect-1conn', path: () => `/containers/${inspected.id}/json`, connections: 1 },
      // The same inspect with a query: the owner proxy answers a bare inspect from its own
      // lookup (one dockerd request), but forwards any other per-object call after it (two),
      // and this is the one whose forwarded call costs dockerd exactly what the lookup does.
      { metric: 'owner_forwarded_p50', phase: `owner-forwarded-${connections}conn`, path: () => `/containers/${inspected.id}/json?size=false`, connections },
      { metric: 'owner_forwarded_1conn_p50', phase: 'owner-forwarded-1conn', path: () => `/containers/${inspected.id}/json?size=false`, connections: 1 },
    ]
    // dockmoat without OWNER is measured on the same requests (direct's), for the note only:
    // what OWNER adds on top of the proxy.
    const plainP50: Record<string, number[]> = {}
    const compared = ctx.targets.filter((t) => t.kind === 'compare')
    const measuredTargets = [direct, ...(plain === undefined ? [] : [plain]), proxy, ...compared]
    for (let r = 0; r < rounds; r++) {
      if (!ctx.fixtures.open) return
      const scope = await checkScope(proxy, direct, owned, foreign, directListPath)
      ctx.recorder.add('owner_scope_ok', 'dockmoat', r, scope.ok ? 1 : 0)
      for (const problem of scope.problems) ctx.recorder.note('owner_scope_ok', 'dockmoat', `round ${r + 1}: ${problem}`)
      pushDetail(ctx, 'ownerScope', 'dockmoat', { round: r, ...scope })
      for (const target of orderFor(r, measuredTargets)) {
        // The owner proxy's numbers go in dockmoat's column; plain dockmoat's in the note.
        const column = target === proxy ? 'dockmoat' : target === direct ? 'direct' : undefined
        const isCompared = compared.includes(target)
        const detailName = target === proxy ? 'dockmoat' : target === direct ? 'direct' : isCompared ? target.name : 'dockmoat without OWNER'
        const detail: Record<string, unknown> = { round: r }
        for (const phase of phases) {
          if (isCompared && phase.rpsMetric === undefined) continue
          const path = phase.path(target)
          const load = await measured(ctx, target, phase.phase, r, phase.connections, path, warmupMs, durationMs)
          const res = load.result
          const p50 = res.latencies.length > 0 ? quantile(res.latencies, 0.5) : Number.NaN
          if (phase.rpsMetric !== undefined && (column !== undefined || isCompared)) {
            ctx.recorder.add(phase.rpsMetric, column ?? target.name, r, res.count > 0 ? res.count / (durationMs / 1000) : Number.NaN)
          }
          if (isCompared) {
            if (res.errors > 0) ctx.recorder.note(phase.rpsMetric!, target.name, `${res.errors} errors (${res.firstError})`)
          } else if (column !== undefined && phase.metric !== undefined) {
            ctx.recorder.add(phase.metric, column, r, p50)
            if (res.errors > 0) ctx.recorder.note(phase.metric, column, `${res.errors} errors (${res.firstError})`)
          } else if (phase.metric !== undefined) {
            ;(plainP50[phase.metric] ??= []).push(p50)
          }
          detail[phase.phase] = {
            path, connections: phase.connections, requests: res.count, errors: res.errors, rps: round(res.count / (durationMs / 1000), 0),
            p50ms: round(p50, 3), p99ms: round(quantile(res.latencies, 0.99), 3),
            clientCpuPct: cpuShare(load.cpu?.clientSeconds, load.cpu?.wallSeconds), proxyCpuPct: cpuShare(load.cpu?.proxySeconds, load.cpu?.wallSeconds), dockerdCpuPct: cpuShare(load.cpu?.dockerdSeconds, load.cpu?.wallSeconds),
          }
        }
        pushDetail(ctx, 'owner', detailName, detail)
        if (isCompared) continue
        const p = (phase: string): string => String((detail[phase] as { p50ms: number }).p50ms)
        ctx.log(`owner round ${r + 1}/${rounds} ${detailName}: p50 list ${p(phases[0]!.phase)} ms; inspect ${p(phases[1]!.phase)} ms (${connections} conns), ${p(phases[2]!.phase)} ms (1 conn); forwarded call ${p(phases[3]!.phase)} ms (${connections} conns), ${p(phases[4]!.phase)} ms (1 conn)`)
      }
    }
    if (plain !== undefined) {
      const mid = (metric: string): number => round(median(plainP50[metric] ?? []), 3)
      setup.plain = {
        listP50ms: mid('owner_list_p50'), inspectP50ms: mid('owner_inspect_p50'), inspect1connP50ms: mid('owner_inspect_1conn_p50'),
        forwardedP50ms: mid('owner_forwarded_p50'), forwarded1connP50ms: mid('owner_forwarded_1conn_p50'),
      }
    }
  } finally {
    await proxy.stop().catch(() => undefined)
    // Directly, by name: also what a failed docker run may have left.
    const names = ctx.fixtures.names.slice(namesBefore)
    if (names.length > 0) await ctx.fixtures.remove(names)
  }
}
