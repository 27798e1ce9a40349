// Workload 5: many `/events` watchers held open, then one container start. Counts who got
// the event within 2 s and how late (arrival time minus dockerd's event timeNano), and
// reads the proxy's RSS before, while holding and after. Also the flush check: a single
// watcher and events spaced apart; a proxy that holds chunks shows ~200 ms on each.
import type net from 'node:net'
import { connectRaw, once, type Endpoint } from '../client.ts'
import type { Made } from '../fixtures.ts'
import { rssMiB } from '../proc.ts'
import { maxOf, median, quantile, round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { errorText, markCpu, orderFor, pushDetail, recordCpu, sleep, type Ctx } from './common.ts'

const EVENTS_PATH = `/events?filters=${encodeURIComponent(JSON.stringify({ type: ['container'] }))}`

/** Wall-clock milliseconds with sub-millisecond precision (comparable to timeNano). */
function wallMs(): number {
  return performance.timeOrigin + performance.now()
}

export interface Seen {
  action: string
  /** dockerd's timestamp of the event, ms since the epoch. */
  eventMs: number
  /** When the line reached this client, ms since the epoch. */
  arrivedMs: number
}

/**
 * One `/events` stream on a raw socket: a minimal HTTP/1.1 response parser with a
 * chunked decoder. Lines that mention `watchId` are parsed; all others are skipped.
 */
export class Watcher {
  readonly socket: net.Socket
  status = 0
  headersDone = false
  closed = false
  error: string | undefined
  readonly seen: Seen[] = []
  watchId = ''
  onSeen: ((seen: Seen) => void) | undefined
  private raw = ''
  private chunked = false
  private remaining = 0
  private stage: 'size' | 'data' | 'crlf' = 'size'
  private line = ''
  private readonly ready: Promise<void>

  constructor(endpoint: Endpoint, path: string) {
    this.socket = connectRaw(endpoint)
    this.socket.setEncoding('latin1')
    this.ready = new Promise((resolve, reject) => {
      this.socket.on('connect', () => this.socket.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\n\r\n`))
      this.socket.on('data', (text: string) => {
        const arrived = wallMs()
        if (!this.headersDone) {
          this.raw += text
          const end = this.raw.indexOf('\r\n\r\n')
          if (end === -1) return
          const head = this.raw.slice(0, end)
          this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
          this.chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head)
          this.headersDone = true
          const rest = this.raw.slice(end + 4)
          this.raw = ''
          if (this.status === 200) resolve()
          else reject(new Error(`HTTP ${this.status}: ${head.split('\r\n')[0]}`))
          if (rest.length > 0) this.body(rest, arrived)
          return
        }
        this.body(text, arrived)
      })
      this.socket.on('error', (error) => { this.error = error.message; reject(error) })
      this.socket.on('close', () => { this.closed = true; reject(new Error('closed before the response headers')) })
    })
    this.ready.catch(() => {})
  }

  opened(timeoutMs: number): Promise<void> {
    return Promise.race([this.ready, sleep(timeoutMs).then(() => { throw new Error(`no response headers within ${timeoutMs} ms`) })])
  }

  private body(text: string, arrived: number): void {
    if (!this.chunked) {
      this.lines(text, arrived)
      return
    }
    let at = 0
    while (at < text.length) {
      if (this.stage === 'size') {
        const end = text.indexOf('\r\n', at)
        if (end === -1) {
          this.raw += text.slice(at)
          return
        }
        const sizeLine = this.raw + text.slice(at, end)
        this.raw = ''
        this.remaining = Number.parseInt(sizeLine, 16)
        at = end + 2
        this.stage = this.remaining === 0 ? 'crlf' : 'data'
      } else if (this.stage === 'data') {
        const take = Math.min(this.remaining, text.length - at)
        this.lines(text.slice(at, at + take), arrived)
        this.remaining -= take
        at += take
        if (this.remaining === 0) this.stage = 'crlf'
      } else {
        // The CRLF after a chunk's data (it may itself be split across packets).
        const need = 2 - this.raw.length
        const piece = text.slice(at, at + need)
        this.raw += piece
        at += piece.length
        if (this.raw.length === 2) {
          this.raw = ''
          this.stage = 'size'
        }
      }
    }
  }

  private lines(text: string, arrived: number): void {
    let start = 0
    for (;;) {
      const newline = text.indexOf('\n', start)
      if (newline === -1) {
        this.line += text.slice(start)
        return
      }
      const line = this.line + text.slice(start, newline)
      this.line = ''
      start = newline + 1
      if (this.watchId !== '' && line.includes(this.watchId)) {
        try {
          const event = JSON.parse(line) as { Action?: string; status?: string; id?: string; timeNano?: number }
          if (event.id === this.watchId || line.includes(`"id":"${this.watchId}"`)) {
            const seen = { action: event.Action ?? event.status ?? '', eventMs: (event.timeNano ?? 0) / 1e6, arrivedMs: arrived }
            this.seen.push(seen)
            this.onSeen?.(seen)
          }
        } catch {
          // not a whole JSON line; ignore
        }
      }
    }
  }

  close(): void {
    this.socket.destroy()
  }
}

async function startContainer(ctx: Ctx, id: string): Promise<number> {
  const answer = await once({ kind: 'unix', socketPath: ctx.config.socketPath }, { method: 'POST', path: `/containers/${id}/start`, keep: true })
  if (answer.status !== 204) throw new Error(`starting ${id}: HTTP ${answer.status} ${answer.text}`)
  return answer.status
}

async function openWatchers(endpoint: Endpoint, count: number, watchId: string): Promise<{ watchers: Watcher[]; failed: number; firstError?: string; openMs: number }> {
  const started = performance.now()
  const watchers: Watcher[] = []
  let failed = 0
  let firstError: string | undefined
  const batch = 50
  for (let i = 0; i < count; i += batch) {
    const group = Array.from({ length: Math.min(batch, count - i) }, () => {
      const watcher = new Watcher(endpoint, EVENTS_PATH)
      watcher.watchId = watchId
      return watcher
    })
    watchers.push(...group)
    const results = await Promise.allSettled(group.map((w) => w.opened(15_000)))
    for (const result of results) {
      if (result.status === 'rejected') {
        failed++
        firstError ??= errorText(result.reason)
      }
    }
  }
  return { watchers, failed, ...(firstError === undefined ? {} : { firstError }), openMs: performance.now() - started }
}

interface Delivery {
  target: string
  round: number
  /** Start call to dockerd's event timestamp: dockerd's own work, the same for every target. */
  startMs: number
  lagP50: number
  lagMax: number
}

/**
 * One target's watchers in one round: open them all, hold them, start a container
 * (a fresh one, straight on dockerd), and time each watcher's copy of the start event.
 * Only this target's watchers exist meanwhile, so dockerd fans out to them alone.
 */
async function watchers(ctx: Ctx, target: Target, r: number): Promise<Delivery | null> {
  const { watchers: count, holdMs } = ctx.config.events
  ctx.recorder.expect('events_received', count)
  const container = await ctx.fixtures.created('events')
  const rssBefore = rssMiB(target.pid)
  let open: Watcher[] = []
  try {
    const opened = await openWatchers(target.endpoint, count, container.id)
    open = opened.watchers
    // Hold: the streams stay open and idle (besides other containers' events on a shared machine).
    let rssPeak = rssMiB(target.pid)
    const holdEnd = performance.now() + holdMs
    while (performance.now() < holdEnd) {
      await sleep(Math.min(1000, holdEnd - performance.now()))
      const now = rssMiB(target.pid)
      if (now !== undefined && (rssPeak === undefined || now > rssPeak)) rssPeak = now
    }
    const rssHolding = rssMiB(target.pid)
    const live = open.filter((w) => w.status === 200 && !w.closed)

    let waiting = live.length
    let allIn: () => void = () => {}
    const everyone = new Promise<void>((resolve) => { allIn = resolve })
    for (const w of live) {
      w.onSeen = (seen) => {
        if (seen.action !== 'start') return
        w.onSeen = undefined
        if (--waiting === 0) allIn()
      }
    }
    if (waiting === 0) allIn()
    const cpuBefore = markCpu(ctx, target)
    const startCalled = wallMs()
    await startContainer(ctx, container.id)
    await Promise.race([everyone, sleep(5000)])
    const cpu = recordCpu(ctx, 'events-delivery', target, r, cpuBefore)

    const lags: number[] = []
    const sinceCall: number[] = []
    let eventMs = Number.NaN
    let within2s = 0
    for (const w of open) {
      const seen = w.seen.find((x) => x.action === 'start')
      if (seen === undefined) continue
      eventMs = seen.eventMs
      lags.push(seen.arrivedMs - seen.eventMs)
      sinceCall.push(seen.arrivedMs - startCalled)
      // Within 2 s of dockerd emitting it: a slow container start must not count against delivery.
      if (seen.arrivedMs - seen.eventMs <= 2000) within2s++
    }
    for (const w of open) w.close()
    open = []
    await sleep(ctx.config.settleMs)
    const rssAfter = rssMiB(target.pid)

    ctx.recorder.add('events_received', target.name, r, within2s)
    ctx.recorder.add('events_lag_p50', target.name, r, lags.length > 0 ? median(lags) : Number.NaN)
    ctx.recorder.add('events_lag_max', target.name, r, lags.length > 0 ? maxOf(lags) : Number.NaN)
    if (rssBefore !== undefined) ctx.recorder.add('rss_events_before', target.name, r, rssBefore)
    if (rssHolding !== undefined) ctx.recorder.add('rss_events_holding', target.name, r, Math.max(rssHolding, rssPeak ?? 0))
    if (rssAfter !== undefined) ctx.recorder.add('rss_events_after', target.name, r, rssAfter)
    if (opened.failed > 0) ctx.recorder.note('events_received', target.name, `round ${r + 1}: ${opened.failed} watchers could not connect (${opened.firstError})`)
    if (live.length < count - opened.failed) ctx.recorder.note('events_received', target.name, `round ${r + 1}: ${count - opened.failed - live.length} watchers were cut during the hold`)
    const startMs = eventMs - startCalled
    pushDetail(ctx, 'events', target.name, {
      round: r, watchers: count, connectFailures: opened.failed, firstError: opened.firstError ?? null, openSeconds: round(opened.openMs / 1000, 2),
      holdSeconds: holdMs / 1000, openAfterHold: live.length, gotEvent: lags.length, within2s,
      startCallToEventMs: round(startMs, 2),
      sinceStartCallMs: { p50: round(median(sinceCall), 2), p90: round(quantile(sinceCall, 0.9), 2), max: round(maxOf(sinceCall), 2) },
      lagBehindEventMs: { p50: round(median(lags), 2), p90: round(quantile(lags, 0.9), 2), max: round(maxOf(lags), 2) },
      rssMiB: { before: round(rssBefore ?? Number.NaN, 1), holding: round(rssHolding ?? Number.NaN, 1), peak: round(rssPeak ?? Number.NaN, 1), after: round(rssAfter ?? Number.NaN, 1) },
      deliveryCpu: { proxySeconds: cpu.proxySeconds, dockerdSeconds: cpu.dockerdSeconds, clientSeconds: round(cpu.clientSeconds, 3) },
    })
    const rssText = target.pid === undefined ? '' : `, RSS before/holding/after ${round(rssBefore ?? Number.NaN, 1)}/${round(Math.max(rssHolding ?? 0, rssPeak ?? 0), 1)}/${round(rssAfter ?? Number.NaN, 1)} MiB`
    ctx.log(`events round ${r + 1} ${target.name}: ${within2s}/${count} within 2 s; start took ${round(startMs, 0)} ms; lag behind the event p50 ${round(median(lags), 1)} ms, max ${round(maxOf(lags), 1)} ms${rssText}`)
    return lags.length > 0 && Number.isFinite(startMs) ? { target: target.name, round: r, startMs, lagP50: median(lags), lagMax: maxOf(lags) } : null
  } catch (error) {
    ctx.recorder.add('events_received', target.name, r, 0)
    ctx.recorder.add('events_lag_p50', target.name, r, Number.NaN)
    ctx.recorder.note('events_received', target.name, `round ${r + 1}: ${errorText(error)}`)
    pushDetail(ctx, 'events', target.name, { round: r, error: errorText(error) })
    ctx.log(`events round ${r + 1} ${target.name}: FAILED ${errorText(error)}`)
    return null
  } finally {
    for (const w of open) w.close()
    await ctx.fixtures.remove([container.name])
  }
}

/**
 * Delivery from the start call, as a user of the proxy sees it, is the start's own
 * duration (dockerd's work: hundreds of ms, varying by ±100 ms from one start to the
 * next, identical whichever target watches) plus the lag behind dockerd's event. Each
 * target's delivery is taken as the run's median start duration plus its own lag, so the
 * comparison is not drowned by how long each separate start happened to take.
 */
function recordDelivery(ctx: Ctx, deliveries: Delivery[]): void {
  if (deliveries.length === 0) return
  const startMs = median(deliveries.map((d) => d.startMs))
  ctx.details.eventsStartMs = { median: round(startMs, 1), min: round(Math.min(...deliveries.map((d) => d.startMs)), 1), max: round(maxOf(deliveries.map((d) => d.startMs)), 1) }
  for (const d of deliveries) {
    ctx.recorder.add('events_p50', d.target, d.round, startMs + d.lagP50)
    ctx.recorder.add('events_max', d.target, d.round, startMs + d.lagMax)
  }
}

/** One watcher; the flush container is paused and unpaused with gaps; returns each event's delay. */
async function flushProbe(ctx: Ctx, target: Target, flush: Made): Promise<number[]> {
  const { flushEvents, flushGapMs } = ctx.config.events
  const watcher = new Watcher(target.endpoint, EVENTS_PATH)
  watcher.watchId = flush.id
  try {
    await watcher.opened(10_000)
    await sleep(100)
    const direct: Endpoint = { kind: 'unix', socketPath: ctx.config.socketPath }
    for (let i = 0; i < flushEvents; i++) {
      const action = i % 2 === 0 ? 'pause' : 'unpause'
      const answer = await once(direct, { method: 'POST', path: `/containers/${flush.id}/${action}` })
      if (answer.status !== 204) throw new Error(`${action}: HTTP ${answer.status}`)
      await sleep(flushGapMs)
    }
    await sleep(500)
    return watcher.seen.filter((s) => s.action === 'pause' || s.action === 'unpause').map((s) => s.arrivedMs - s.eventMs)
  } finally {
    watcher.close()
    // Leave it running whatever happened.
    await once({ kind: 'unix', socketPath: ctx.config.socketPath }, { method: 'POST', path: `/containers/${flush.id}/unpause` }).catch(() => undefined)
  }
}

async function flushCheck(ctx: Ctx, r: number, flush: Made): Promise<void> {
  const { flushEvents } = ctx.config.events
  const p90: Record<string, number> = {}
  const order = orderFor(r, ctx.targets)
  const results: { target: Target; delays: number[]; error?: string }[] = []
  for (const target of order) {
    try {
      const delays = await flushProbe(ctx, target, flush)
      results.push({ target, delays })
      p90[target.name] = delays.length > 0 ? quantile(delays, 0.9) : Number.NaN
    } catch (error) {
      results.push({ target, delays: [], error: errorText(error) })
    }
  }
  for (const { target, delays, error } of results) {
    const complete = delays.length === flushEvents
    const directP90 = p90.direct ?? 0
    const ok = complete && p90[target.name]! <= (Number.isFinite(directP90) ? directP90 : 0) + 50
    ctx.recorder.add('flush_p50', target.name, r, delays.length > 0 ? median(delays) : Number.NaN)
    ctx.recorder.add('flush_ok', target.name, r, ok ? 1 : 0)
    if (!ok) ctx.recorder.note('flush_ok', target.name, `round ${r + 1}: ${error ?? `${delays.length}/${flushEvents} events, p90 ${round(p90[target.name] ?? Number.NaN, 1)} ms vs direct ${round(directP90, 1)} ms`}`)
    pushDetail(ctx, 'flush', target.name, { round: r, events: flushEvents, received: delays.length, delaysMs: delays.map((d) => round(d, 2)), ok, error: error ?? null })
    ctx.log(`flush round ${r + 1} ${target.name}: ${delays.length}/${flushEvents} events, p50 ${round(median(delays), 1)} ms, max ${round(maxOf(delays), 1)} ms${ok ? '' : ' (HELD OR MISSING)'}`)
  }
}

export async function eventsWorkload(ctx: Ctx, flush: Made): Promise<void> {
  const deliveries: Delivery[] = []
  try {
    for (let r = 0; r < ctx.config.events.rounds; r++) {
      await flushCheck(ctx, r, flush)
      for (const target of orderFor(r, ctx.targets)) {
        const delivery = await watchers(ctx, target, r)
        if (delivery !== null) deliveries.push(delivery)
        else ctx.recorder.add('events_p50', target.name, r, Number.NaN)
      }
    }
  } finally {
    recordDelivery(ctx, deliveries)
  }
}
