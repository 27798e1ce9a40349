// The outputs: a markdown table (with pass/fail per target from issue 5), the JSON
// report, and a hand-written SVG chart of the ratios to direct dockerd.
import type { MetricResult } from './model.ts'
import type { Machine } from './proc.ts'
import type { Sharing } from './sharing.ts'
import type { CpuRecord } from './workloads/common.ts'
import type { PingMetricsSetup } from './workloads/requests.ts'

export interface Report {
  schema: 1
  meta: {
    date: string
    mode: string
    command: string
    durationSeconds: number
    machine: Machine & { loadAverageAtEnd: number[] }
    dockerd: { version: string; apiVersion: string; cli: string }
    dockmoat: { version: string; commit: string | null; logLevel: string }
    /** Containers running at the start that this run did not make: others share the machine. */
    otherContainersRunning: { atStart: number; atEnd: number }
    /** CPU used on the machine during the run, by owner. */
    sharing: Sharing
    shared: boolean
    targets: { name: string; kind: string; command: string | undefined; pid: number | null; argv: string[] | null }[]
    /** Label value (org.dockmoat.bench=<runId>) on every container the run made. */
    runId: string
    rounds: Record<string, number>
  }
  config: unknown
  metrics: MetricResult[]
  /** Target name: every judged metric passed (null: nothing judged). */
  verdict: Record<string, { passed: number; failed: number; notMeasured: number }>
  clientCpu: { maxPercentOfOneCore: number; byPhase: Record<string, number>; total: { cpuSeconds: number; wallSeconds: number } }
  cpu: CpuRecord[]
  details: Record<string, unknown>
}

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return value.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: digits })
}

/** False for a compared proxy on a metric measured for dockmoat only (the OWNER and METRICS_LISTEN rows). */
export function applies(metric: Pick<MetricResult, 'scope'>, kind: string | undefined): boolean {
  return metric.scope === undefined || kind === 'direct' || kind === 'dockmoat'
}

function cell(metric: MetricResult, name: string, kind?: string): string {
  const s = metric.values[name]
  if (s === null || s === undefined) return metric.rule.kind === 'info' || name === 'direct' || !applies(metric, kind) ? '—' : 'failed'
  if (metric.rule.kind === 'check') return s.rounds.every((v) => v === 1) ? `ok (${s.rounds.length}/${s.rounds.length})` : `failed (${s.rounds.filter((v) => v === 1).length}/${s.rounds.length})`
  const unit = metric.unit === 'ok' ? '' : ` ${metric.unit}`
  if (s.rounds.length === 1 || s.min === s.max) return `${formatNumber(s.median)}${unit}`
  return `${formatNumber(s.median)}${unit} (${formatNumber(s.min)}–${formatNumber(s.max)})`
}

function ratioCell(metric: MetricResult, name: string): string {
  const ratio = metric.ratio[name]
  if (ratio === null || ratio === undefined || metric.rule.kind !== 'ratio') return '—'
  const range = metric.ratioRange[name]
  return range && range.min !== range.max ? `${ratio.toFixed(2)}× (${range.min.toFixed(2)}–${range.max.toFixed(2)})` : `${ratio.toFixed(2)}×`
}

function passCell(value: boolean | null | undefined): string {
  return value === true ? '✅ pass' : value === false ? '❌ fail' : ''
}

export function renderMarkdown(report: Report): string {
  const proxies = report.meta.targets.filter((t) => t.kind !== 'direct').map((t) => t.name)
  const kinds = new Map(report.meta.targets.map((t) => [t.name, t.kind]))
  const head = ['workload', 'direct', ...proxies.flatMap((p) => [p, `${p}/direct`]), 'target', ...proxies.map((p) => (proxies.length > 1 ? `${p} pass` : 'pass'))]
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
  ]
  const footnotes: string[] = []
  for (const metric of report.metrics) {
    const row = [
      metric.label,
      cell(metric, 'direct'),
      ...proxies.flatMap((p) => [cell(metric, p, kinds.get(p)), ratioCell(metric, p)]),
      metric.targetText,
      ...proxies.map((p) => passCell(metric.pass[p])),
    ]
    lines.push(`| ${row.join(' | ')} |`)
    for (const [name, notes] of Object.entries(metric.notes)) {
      for (const note of notes) footnotes.push(`- ${metric.label.replace(/`/g, '')} — ${name}: ${note}`)
    }
  }
  const m = report.meta
  const out = [
    lines.join('\n'),
    '',
    `Median over rounds, (min–max) over rounds; ratios are ${proxies.join(' and ')} over direct dockerd, paired round by round for the range. ` +
      `Rounds: ${Object.entries(m.rounds).map(([k, v]) => `${k} ${v}`).join(', ')}; targets alternate order every round.`,
    '',
    `Load generator (in-process raw-socket HTTP/1.1 client; undici for uploads and the create cycles; the real docker CLI for exec): at most ${formatNumber(report.clientCpu.maxPercentOfOneCore)}% of one core in any measured phase ` +
      `(${Object.entries(report.clientCpu.byPhase).map(([phase, pct]) => `${phase} ${formatNumber(pct)}%`).join(', ')}).`,
    '',
    `Machine: ${m.machine.cpuModel}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, ${m.machine.os}, Linux ${m.machine.kernel}; ` +
      `Docker Engine ${m.dockerd.version} (API ${m.dockerd.apiVersion}), docker CLI ${m.dockerd.cli}; Node ${m.machine.node}; ` +
      `dockmoat ${m.dockmoat.version}${m.dockmoat.commit ? ` (${m.dockmoat.commit})` : ''} with LOG_LEVEL=${m.dockmoat.logLevel}. ` +
      `Run ${m.date}, ${m.mode} mode, ${formatNumber(m.durationSeconds)} s.` +
      (m.shared
        ? ` The machine was shared: other processes used ${formatNumber(m.sharing.otherPercent)}% of its CPU during the run ` +
          `(not counting dockerd, which served them too), and ${m.otherContainersRunning.atStart} containers of others were running at the start, ${m.otherContainersRunning.atEnd} at the end; numbers are noisier than on a quiet machine.`
        : ` Other processes used ${formatNumber(m.sharing.otherPercent)}% of the CPU during the run.`),
  ]
  const start = (report.details.eventsStartMs as { median: number; min: number; max: number } | undefined)
  const owner = report.details.ownerSetup as OwnerSetup | undefined
  if (owner !== undefined) {
    out.push('', `OWNER rows: dockmoat's column is a second dockmoat, the same bundle and grants started with ${owner.settings}, next to ${owner.total} containers of which ${owner.owned} were made through it (so they carry its label) and the others directly. ` +
      `The client sends the same request to both; direct is sent the list already filtered on the owner label (\`${owner.directListPath}\`), the answer the owner proxy gives, so the ratio is what the proxy adds, not the smaller answer. ` +
      `The inspect names an owned container by its full ID; the owner proxy answers it with its own ownership lookup, one request to dockerd. Any other per-object call is two: the lookup, then the call forwarded on the ID; the forwarded-call rows measure that path on the same inspect sent with \`?size=false\` (what dockerd does for it is the same as for the lookup). ` +
      `The targets are judged on throughput: on ${owner.connections} closed-loop connections the time per request is ${owner.connections} over it, while direct's p50 is bimodal (dockerd's own scheduling: its p99 is an order of magnitude above its p50) and swings round to round. Compared proxies get the same requests as direct, with no ownership at all: their columns are what the extra hop alone costs.` +
      (owner.plain === undefined ? '' : ` For scale, dockmoat without OWNER on the same requests (medians over rounds): list ${formatNumber(owner.plain.listP50ms)} ms, inspect ${formatNumber(owner.plain.inspectP50ms)} ms and forwarded call ${formatNumber(owner.plain.forwardedP50ms)} ms on ${owner.connections} connections, ${formatNumber(owner.plain.inspect1connP50ms)} ms and ${formatNumber(owner.plain.forwarded1connP50ms)} ms on 1.`))
  }
  const metered = report.details.pingMetrics as PingMetricsSetup | undefined
  if (metered !== undefined) out.push('', pingMetricsNote(report.metrics, metered))
  if (start !== undefined) {
    out.push('', `Event delivery from the start call is the run's median start duration (start call to dockerd's event timestamp: ${formatNumber(start.median)} ms, ranging ${formatNumber(start.min)}–${formatNumber(start.max)} ms over the starts, the same dockerd work whichever target watches) plus each target's measured lag behind that timestamp; taken raw, one start's own duration would drown the difference between targets.`)
  }
  if (footnotes.length > 0) out.push('', 'Notes:', ...footnotes)
  return out.join('\n') + '\n'
}

/** The METRICS_LISTEN rows next to dockmoat's own: metrics on over off, and the rounds' noise. */
function pingMetricsNote(metrics: readonly MetricResult[], setup: PingMetricsSetup): string {
  const dockmoat = (id: string) => metrics.find((m) => m.id === id)?.values.dockmoat ?? null
  const onOverOff = (label: string, id: string): string => {
    const off = dockmoat(`ping_${id}`)
    const on = dockmoat(`ping_metrics_${id}`)
    if (off === null || on === null) return `${label} —`
    const paired = on.rounds.map((value, i) => value / (off.rounds[i] ?? Number.NaN)).filter((ratio) => Number.isFinite(ratio))
    const range = paired.length > 1 ? ` (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)} round by round)` : ''
    return `${label} ${(on.median / off.median).toFixed(2)}×${range}`
  }
  const p50 = dockmoat('ping_p50')
  const noise = p50 === null || p50.rounds.length < 2 ? '' : `; for the noise, dockmoat's own p50 ranged ${(p50.min / p50.median).toFixed(2)}–${(p50.max / p50.median).toFixed(2)}× its median over the rounds`
  return `METRICS_LISTEN rows: dockmoat's column is a second dockmoat, the same bundle and grants started with METRICS_LISTEN set, measured right after dockmoat in every round; nothing scraped it during the rounds (a scrape is off the request path). ` +
    `Metrics on over off, medians: ${onOverOff('p50', 'p50')}, ${onOverOff('p99', 'p99')}, ${onOverOff('throughput', 'rps')}${noise}. ` +
    `After the rounds its /metrics counted ${setup.scrapedPings ?? '(no answer)'} \`GET /_ping\` exchanges (${setup.timedPings} timed, the rest warm-ups); RSS then ${formatNumber(setup.rssMiB.off)} MiB without metrics, ${formatNumber(setup.rssMiB.on)} MiB with.`
}

/** What the OWNER workload set up, for the note under the table (details.ownerSetup). */
export interface OwnerSetup {
  settings: string
  /** The owner proxy's start command and process. */
  command: string
  pid: number | null
  owned: number
  total: number
  connections: number
  directListPath: string
  /** dockmoat without OWNER on the same requests, medians over rounds. */
  plain?: { listP50ms: number; inspectP50ms: number; inspect1connP50ms: number; forwardedP50ms: number; forwarded1connP50ms: number }
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const COLORS = { pass: '#2e9d57', fail: '#d1453b', compare: ['#8a8f98', '#b08a3e', '#6b7fc4'], axis: '#444', grid: '#ddd', target: '#222' }

/** Horizontal bars of proxy/direct ratios on a log scale, a line at 1× and a tick at each target. */
export function renderSvg(report: Report): string {
  const proxies = report.meta.targets.filter((t) => t.kind !== 'direct').map((t) => t.name)
  const kinds = new Map(report.meta.targets.map((t) => [t.name, t.kind]))
  const rows = report.metrics.filter((m) => m.chart)
  let lo = 0.25
  let hi = 4
  for (const metric of rows) {
    for (const p of proxies) {
      const r = metric.ratio[p]
      if (r !== null && r !== undefined && r > 0) {
        lo = Math.min(lo, r / 1.2)
        hi = Math.max(hi, r * 1.2)
      }
    }
  }
  lo = 2 ** Math.floor(Math.log2(lo))
  hi = 2 ** Math.ceil(Math.log2(hi))
  const labelWidth = 330
  const plotWidth = 470
  const barHeight = 14
  const rowGap = 12
  const rowHeight = proxies.length * (barHeight + 3) + rowGap
  const top = 58
  const legendHeight = 26
  const height = top + rows.length * rowHeight + 30 + legendHeight
  const x = (ratio: number): number => labelWidth + ((Math.log2(ratio) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo))) * plotWidth
  // Wide enough for the value labels right of the bars (about 6.8 px per character at 12 px).
  let width = labelWidth + plotWidth + 40
  for (const metric of rows) {
    for (const p of proxies) {
      const ratio = metric.ratio[p]
      const text = !applies(metric, kinds.get(p)) ? `${p}: not measured here` : ratio === null || ratio === undefined ? `${p}: not measured (failed)` : `${ratio.toFixed(2)}×${proxies.length > 1 ? ` ${p}` : ''} ✓`
      const from = ratio === null || ratio === undefined || ratio <= 0 ? x(1) : Math.max(x(1), x(ratio))
      width = Math.max(width, Math.ceil(from + 5 + text.length * 6.8 + 12))
    }
  }
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`)
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`)
  parts.push(`<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(`${proxies.join(', ')} ÷ direct dockerd (median ratio, log scale)`)}</text>`)
  parts.push(`<text x="12" y="40" fill="#555">${escapeXml(`${report.meta.mode} run, ${report.meta.date.slice(0, 10)}; black tick = target from issue 5; label says whether lower or higher is better`)}</text>`)
  // Grid and axis labels at powers of two.
  const axisY = top + rows.length * rowHeight
  for (let v = lo; v <= hi + 1e-9; v *= 2) {
    const gx = x(v).toFixed(1)
    parts.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${axisY}" stroke="${v === 1 ? COLORS.axis : COLORS.grid}" stroke-width="${v === 1 ? 1.5 : 1}"/>`)
    parts.push(`<text x="${gx}" y="${axisY + 16}" text-anchor="middle" fill="#555">${v >= 1 ? v : `1/${1 / v}`}×</text>`)
  }
  rows.forEach((metric, i) => {
    const y0 = top + i * rowHeight
    const label = metric.label.replace(/`/g, '').replace(' (see note)', '')
    const direction = metric.better === 'lower' ? 'lower is better' : 'higher is better'
    parts.push(`<text x="12" y="${y0 + 11}">${escapeXml(label)}</text>`)
    parts.push(`<text x="12" y="${y0 + 24}" fill="#777" font-size="10.5">${escapeXml(`${direction}; target ${metric.targetText}`)}</text>`)
    proxies.forEach((p, j) => {
      const ratio = metric.ratio[p]
      const by = y0 + j * (barHeight + 3)
      if (!applies(metric, kinds.get(p))) {
        parts.push(`<text x="${(x(1) + 4).toFixed(1)}" y="${by + 11}" fill="#777">${escapeXml(`${p}: not measured here`)}</text>`)
        return
      }
      if (ratio === null || ratio === undefined || ratio <= 0) {
        parts.push(`<text x="${(x(1) + 4).toFixed(1)}" y="${by + 11}" fill="${COLORS.fail}">${escapeXml(`${p}: not measured (failed)`)}</text>`)
        return
      }
      const x1 = Math.min(x(1), x(ratio))
      const w = Math.max(1.5, Math.abs(x(ratio) - x(1)))
      const pass = metric.pass[p]
      const fill = j === 0 ? (pass === false ? COLORS.fail : COLORS.pass) : COLORS.compare[(j - 1) % COLORS.compare.length]!
      parts.push(`<rect x="${x1.toFixed(1)}" y="${by}" width="${w.toFixed(1)}" height="${barHeight}" fill="${fill}" rx="2"><title>${escapeXml(`${p}: ${ratio.toFixed(2)}× direct (${pass === true ? 'meets' : pass === false ? 'misses' : 'no'} target ${metric.targetText})`)}</title></rect>`)
      const textX = Math.max(x(1), x(ratio)) + 5
      parts.push(`<text x="${textX.toFixed(1)}" y="${by + 11}" fill="#222">${escapeXml(`${ratio.toFixed(2)}×${proxies.length > 1 ? ` ${p}` : ''}${pass === false ? ' ✗' : pass === true ? ' ✓' : ''}`)}</text>`)
    })
    if (metric.rule.kind === 'ratio') {
      const tx = x(metric.rule.bound).toFixed(1)
      parts.push(`<line x1="${tx}" y1="${y0 - 3}" x2="${tx}" y2="${y0 + proxies.length * (barHeight + 3)}" stroke="${COLORS.target}" stroke-width="2.5"/>`)
    }
  })
  // Legend.
  const ly = height - 14
  let lx = 12
  const legend: [string, string][] = [[COLORS.pass, `${proxies[0] ?? 'proxy'} meets target`], [COLORS.fail, `${proxies[0] ?? 'proxy'} misses target`], ...proxies.slice(1).map((p, k): [string, string] => [COLORS.compare[k % COLORS.compare.length]!, p])]
  for (const [color, text] of legend) {
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}" rx="2"/>`)
    parts.push(`<text x="${lx + 17}" y="${ly}">${escapeXml(text)}</text>`)
    lx += 24 + text.length * 6.6
  }
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
