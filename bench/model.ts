// What the bench reports: metrics (one number per target per round), the targets from
// issue 5 they are judged against, and the evaluation of those targets.
import { spread, round, type Spread } from './stats.ts'

export type Better = 'lower' | 'higher' | 'none'

/**
 * How a metric is judged. `ratio`: the target's median over direct's median, against a
 * bound. `absolute`: the target's own value against a bound (RSS, startup). `allOf`:
 * every round must reach `expect` (e.g. all watchers). `check`: 1 = passed, 0 = failed,
 * in every round. `info`: reported, not judged.
 */
export type Rule =
  | { kind: 'ratio'; op: '<=' | '>='; bound: number }
  | { kind: 'absolute'; op: '<=' | '>='; bound: number }
  | { kind: 'relativeToIdle'; factor: number }
  | { kind: 'allOf' }
  | { kind: 'check' }
  | { kind: 'info' }

export interface MetricSpec {
  id: string
  workload: string
  label: string
  unit: string
  better: Better
  rule: Rule
  /** The target as the issue words it. */
  targetText: string
  /** Shown in the ratio chart. */
  chart?: boolean
  /**
   * `dockmoat`: measured for dockmoat only (the OWNER workload and the METRICS_LISTEN rows
   * start a dockmoat of their own, with OWNER or METRICS_LISTEN set, and record it in
   * dockmoat's column); compared proxies show —.
   */
  scope?: 'dockmoat'
}

export const METRICS: readonly MetricSpec[] = [
  { id: 'ping_p50', workload: 'ping', label: '`/_ping` latency, 1 connection, p50', unit: 'µs', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 2.5 }, targetText: '≤ 2.5× direct', chart: true },
  { id: 'ping_p99', workload: 'ping', label: '`/_ping` latency, 1 connection, p99', unit: 'µs', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 2.0 }, targetText: '≤ 2.0× direct', chart: true },
  { id: 'ping_rps', workload: 'ping', label: '`/_ping` throughput, 32 connections', unit: 'req/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 0.5 }, targetText: '≥ 0.5× direct', chart: true },
  { id: 'ping_metrics_p50', workload: 'ping', label: '`/_ping` latency, 1 connection, p50, with METRICS_LISTEN (see note)', unit: 'µs', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 2.5 }, targetText: '≤ 2.5× direct', scope: 'dockmoat' },
  { id: 'ping_metrics_p99', workload: 'ping', label: '`/_ping` latency, 1 connection, p99, with METRICS_LISTEN', unit: 'µs', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 2.0 }, targetText: '≤ 2.0× direct', scope: 'dockmoat' },
  { id: 'ping_metrics_rps', workload: 'ping', label: '`/_ping` throughput, 32 connections, with METRICS_LISTEN', unit: 'req/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 0.5 }, targetText: '≥ 0.5× direct', scope: 'dockmoat' },
  { id: 'list_rps', workload: 'list', label: 'container list throughput, 8 connections', unit: 'req/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 0.9 }, targetText: '≥ 0.9× direct', chart: true },
  { id: 'download_mibs', workload: 'archive', label: 'archive download {download} MiB', unit: 'MiB/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 0.95 }, targetText: '≥ 0.95× direct', chart: true },
  { id: 'download_cpu', workload: 'archive', label: 'proxy CPU per download', unit: 'CPU s', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'upload_mibs', workload: 'archive', label: 'archive upload {upload} MiB', unit: 'MiB/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 0.9 }, targetText: '≥ 0.9× direct', chart: true },
  { id: 'upload_cpu', workload: 'archive', label: 'proxy CPU per upload', unit: 'CPU s', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'exec_true_ms', workload: 'exec', label: '`docker exec C true` round trip (median of {execRuns})', unit: 'ms', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 1.05 }, targetText: '≤ 1.05× direct', chart: true },
  { id: 'exec_true_ok', workload: 'exec', label: '`docker exec C true`: runs that finished (no hang, exit 0)', unit: 'runs', better: 'higher', rule: { kind: 'allOf' }, targetText: 'no hang' },
  { id: 'exec_stdin_mibs', workload: 'exec', label: '{stdin} MiB stdin through `docker exec -i C wc -c`', unit: 'MiB/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 0.9 }, targetText: '≥ 0.9× direct', chart: true },
  { id: 'exec_stdin_exact', workload: 'exec', label: 'stdin pipe: runs with the exact byte count', unit: 'runs', better: 'higher', rule: { kind: 'allOf' }, targetText: 'byte count exact' },
  { id: 'exec_split_body', workload: 'exec', label: 'exec start, JSON body in a later packet', unit: 'ok', better: 'higher', rule: { kind: 'check' }, targetText: 'no hang' },
  { id: 'create_cycle_p50', workload: 'create', label: 'container create + start + wait + remove cycle, {createLoops} client loops, p50', unit: 'ms', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 1.1 }, targetText: '≤ 1.1× direct', chart: true },
  { id: 'create_cycle_p99', workload: 'create', label: 'container create + start + wait + remove cycle, p99', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'create_cycle_ok', workload: 'create', label: 'create cycles that completed ({createCycles} per round: 201, 204, exit 0, 204)', unit: 'cycles', better: 'higher', rule: { kind: 'allOf' }, targetText: 'all complete' },
  { id: 'create_request_p50', workload: 'create', label: '`POST /containers/create` alone ({createBodyBytes}-byte docker CLI body, judged by the guard), p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'create_cpu', workload: 'create', label: 'proxy CPU per create cycle', unit: 'CPU ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  // Time per request on N closed-loop connections is N over the throughput, so "≤ 1.2×
  // direct" in time is ≥ 1/1.2 in req/s. Compared proxies are measured on the same
  // requests without any ownership: what the hop alone costs (see note).
  { id: 'owner_list_rps', workload: 'owner', label: 'OWNER: `GET /containers/json?all=1`, {ownerOwned} of {ownerTotal} containers owned, {ownerConnections} connections, throughput (see note)', unit: 'req/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 1 / 1.2 }, targetText: '≤ 1.2× direct time per request (≥ 0.83× req/s)', chart: true },
  { id: 'owner_inspect_rps', workload: 'owner', label: 'OWNER: `GET /containers/{id}/json` of an owned container, {ownerConnections} connections, throughput', unit: 'req/s', better: 'higher', rule: { kind: 'ratio', op: '>=', bound: 1 / 1.2 }, targetText: '≤ 1.2× direct time per request (≥ 0.83× req/s)', chart: true },
  { id: 'owner_list_p50', workload: 'owner', label: 'OWNER: the list, {ownerConnections} connections, p50 (direct\'s is bimodal: see note)', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—', scope: 'dockmoat' },
  { id: 'owner_inspect_p50', workload: 'owner', label: 'OWNER: the inspect, {ownerConnections} connections, p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—', scope: 'dockmoat' },
  { id: 'owner_inspect_1conn_p50', workload: 'owner', label: 'OWNER: `GET /containers/{id}/json` of an owned container, 1 connection, p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—', scope: 'dockmoat' },
  { id: 'owner_forwarded_p50', workload: 'owner', label: 'OWNER: a per-object call forwarded after the ownership lookup (the same inspect as `?size=false`), {ownerConnections} connections, p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—', scope: 'dockmoat' },
  { id: 'owner_forwarded_1conn_p50', workload: 'owner', label: 'OWNER: a per-object call forwarded after the ownership lookup, 1 connection, p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—', scope: 'dockmoat' },
  { id: 'owner_scope_ok', workload: 'owner', label: 'OWNER: the list holds exactly the owned containers; an owned one inspects, a foreign one is 404', unit: 'ok', better: 'higher', rule: { kind: 'check' }, targetText: 'only its own', scope: 'dockmoat' },
  { id: 'events_received', workload: 'events', label: '{watchers} `/events` watchers: got the event within 2 s of dockerd emitting it', unit: 'watchers', better: 'higher', rule: { kind: 'allOf' }, targetText: 'all {watchers}' },
  { id: 'events_p50', workload: 'events', label: '{watchers} watchers: event delivery p50, from the start call (see note)', unit: 'ms', better: 'lower', rule: { kind: 'ratio', op: '<=', bound: 1.1 }, targetText: '≤ 1.1× direct', chart: true },
  { id: 'events_max', workload: 'events', label: '{watchers} watchers: event delivery max, from the start call', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'events_lag_p50', workload: 'events', label: '{watchers} watchers: lag behind dockerd\'s event time, p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'events_lag_max', workload: 'events', label: '{watchers} watchers: lag behind dockerd\'s event time, max', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'flush_p50', workload: 'events', label: 'stream flush: event delay, 1 watcher, p50', unit: 'ms', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'flush_ok', workload: 'events', label: 'stream chunks flushed at once (p90 delay ≤ direct + 50 ms)', unit: 'ok', better: 'higher', rule: { kind: 'check' }, targetText: 'no ~200 ms holding' },
  { id: 'rss_events_before', workload: 'events', label: 'proxy RSS before the watchers', unit: 'MiB', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'rss_events_holding', workload: 'events', label: 'proxy RSS holding {watchers} watchers', unit: 'MiB', better: 'lower', rule: { kind: 'absolute', op: '<=', bound: 100 }, targetText: '≤ 100 MiB' },
  { id: 'rss_events_after', workload: 'events', label: 'proxy RSS after the watchers closed', unit: 'MiB', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'rss_idle', workload: 'memory', label: 'proxy RSS idle after start', unit: 'MiB', better: 'lower', rule: { kind: 'absolute', op: '<=', bound: 50 }, targetText: '≤ 50 MiB' },
  { id: 'rss_after_run', workload: 'memory', label: 'proxy RSS after the whole run', unit: 'MiB', better: 'lower', rule: { kind: 'info' }, targetText: '—' },
  { id: 'rss_after_idle', workload: 'memory', label: 'proxy RSS after the whole run and {idleAfterRun} idle', unit: 'MiB', better: 'lower', rule: { kind: 'relativeToIdle', factor: 1.1 }, targetText: 'within 10% of idle' },
  { id: 'startup_ms', workload: 'startup', label: 'startup to first answer', unit: 'ms', better: 'lower', rule: { kind: 'absolute', op: '<=', bound: 300 }, targetText: '≤ 300 ms' },
]

/** Collects one value per (metric, target, round); `expect` holds the full count for allOf. */
export class Recorder {
  readonly values = new Map<string, Map<string, number[]>>()
  readonly expected = new Map<string, number>()
  readonly notes = new Map<string, Map<string, string[]>>()

  add(metric: string, target: string, roundIndex: number, value: number): void {
    if (!METRICS.some((m) => m.id === metric)) throw new Error(`unknown metric ${metric}`)
    let byTarget = this.values.get(metric)
    if (byTarget === undefined) this.values.set(metric, (byTarget = new Map()))
    let rounds = byTarget.get(target)
    if (rounds === undefined) byTarget.set(target, (rounds = []))
    while (rounds.length < roundIndex) rounds.push(Number.NaN)
    rounds[roundIndex] = value
  }

  expect(metric: string, count: number): void {
    this.expected.set(metric, count)
  }

  note(metric: string, target: string, text: string): void {
    let byTarget = this.notes.get(metric)
    if (byTarget === undefined) this.notes.set(metric, (byTarget = new Map()))
    const list = byTarget.get(target) ?? []
    if (!list.includes(text)) list.push(text)
    byTarget.set(target, list)
  }
}

export interface MetricResult {
  id: string
  workload: string
  label: string
  unit: string
  better: Better
  targetText: string
  rule: Rule
  chart: boolean
  scope?: 'dockmoat'
  expected?: number
  /** Per target name: median and min–max over rounds. */
  values: Record<string, Spread | null>
  /** Per proxy: its median over direct's median. */
  ratio: Record<string, number | null>
  /** Per proxy: min–max of the per-round ratios (rounds paired in time). */
  ratioRange: Record<string, { min: number; max: number } | null>
  /** Per proxy: true/false, or null when not judged or not measurable. */
  pass: Record<string, boolean | null>
  notes: Record<string, string[]>
}

function compare(op: '<=' | '>=', value: number, bound: number): boolean {
  return op === '<=' ? value <= bound : value >= bound
}

export function evaluate(recorder: Recorder, targetNames: string[], substitutions: Record<string, string>): MetricResult[] {
  const fill = (text: string): string => text.replace(/\{(\w+)\}/g, (all, key: string) => substitutions[key] ?? all)
  const results: MetricResult[] = []
  const idle: Record<string, number | undefined> = {}
  for (const spec of METRICS) {
    const byTarget = recorder.values.get(spec.id) ?? new Map<string, number[]>()
    const values: Record<string, Spread | null> = {}
    for (const name of targetNames) {
      const s = spread(byTarget.get(name) ?? [])
      values[name] = s === null ? null : { ...s, median: round(s.median, 4), min: round(s.min, 4), max: round(s.max, 4), rounds: s.rounds.map((v) => round(v, 4)) }
    }
    const direct = values.direct
    const ratio: Record<string, number | null> = {}
    const ratioRange: Record<string, { min: number; max: number } | null> = {}
    const pass: Record<string, boolean | null> = {}
    const expected = recorder.expected.get(spec.id)
    for (const name of targetNames) {
      if (name === 'direct') continue
      const mine = values[name]
      ratio[name] = mine && direct && direct.median > 0 ? round(mine.median / direct.median, 3) : null
      const paired = (byTarget.get(name) ?? []).map((v, i) => v / (byTarget.get('direct')?.[i] ?? Number.NaN)).filter((v) => Number.isFinite(v))
      ratioRange[name] = paired.length > 0 ? { min: round(Math.min(...paired), 3), max: round(Math.max(...paired), 3) } : null
      const rule = spec.rule
      let verdict: boolean | null = null
      if (rule.kind === 'ratio') verdict = ratio[name] === null ? null : compare(rule.op, ratio[name]!, rule.bound)
      else if (rule.kind === 'absolute') verdict = mine ? compare(rule.op, mine.median, rule.bound) : null
      else if (rule.kind === 'relativeToIdle') verdict = mine && idle[name] !== undefined ? mine.median <= idle[name]! * rule.factor : null
      else if (rule.kind === 'allOf') verdict = mine && expected !== undefined ? mine.rounds.every((v) => v >= expected) : mine ? false : null
      else if (rule.kind === 'check') verdict = mine ? mine.rounds.every((v) => v === 1) : null
      // A workload that failed outright for a proxy (no value at all) fails its target.
      if (verdict === null && rule.kind !== 'info' && mine === null && byTarget.has(name)) verdict = false
      pass[name] = verdict
      if (spec.id === 'rss_idle' && mine) idle[name] = mine.median
    }
    const notes: Record<string, string[]> = {}
    for (const [name, list] of recorder.notes.get(spec.id) ?? []) notes[name] = list
    results.push({
      id: spec.id, workload: spec.workload, label: fill(spec.label), unit: spec.unit, better: spec.better,
      targetText: fill(spec.targetText), rule: spec.rule, chart: spec.chart ?? false,
      ...(spec.scope === undefined ? {} : { scope: spec.scope }),
      ...(expected === undefined ? {} : { expected }),
      values, ratio, ratioRange, pass, notes,
    })
  }
  return results
}
