// Workload 6: startup time to the first answered request, and resident memory idle after
// start and after the whole run.
import { rssMiB } from '../proc.ts'
import { durationText, round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { errorText, orderFor, pushDetail, sleep, type Ctx } from './common.ts'

export interface ProxyStarter {
  name: string
  start(): Promise<Target>
}

/** Starts and stops each proxy `runs` times; startup is spawn to the first 200 on `/_ping`. */
export async function startupWorkload(ctx: Ctx, starters: ProxyStarter[]): Promise<void> {
  for (let r = 0; r < ctx.config.startup.runs; r++) {
    for (const starter of orderFor(r, starters)) {
      try {
        const target = await starter.start()
        ctx.recorder.add('startup_ms', starter.name, r, target.startupMs!)
        pushDetail(ctx, 'startup', starter.name, { run: r, ms: round(target.startupMs!, 1), rssAtFirstAnswerMiB: round(rssMiB(target.pid) ?? Number.NaN, 1) })
        ctx.log(`startup run ${r + 1} ${starter.name}: ${round(target.startupMs!, 1)} ms`)
        await target.stop()
      } catch (error) {
        ctx.recorder.add('startup_ms', starter.name, r, Number.NaN)
        ctx.recorder.note('startup_ms', starter.name, errorText(error).split('\n')[0]!)
        pushDetail(ctx, 'startup', starter.name, { run: r, error: errorText(error) })
      }
    }
  }
}

/** One RSS reading of each proxy, recorded as `metric` (NaN, with a note, if it is gone). */
function recordRss(ctx: Ctx, proxies: Target[], metric: string, when: string): void {
  for (const target of proxies) {
    const rss = rssMiB(target.pid)
    ctx.recorder.add(metric, target.name, 0, rss ?? Number.NaN)
    if (rss === undefined) ctx.recorder.note(metric, target.name, `the process was gone ${when}`)
    pushDetail(ctx, 'memory', target.name, { when, rssMiB: round(rss ?? Number.NaN, 1) })
    ctx.log(`memory ${target.name}: ${round(rss ?? Number.NaN, 1)} MiB ${when}`)
  }
}

export async function idleMemory(ctx: Ctx, proxies: Target[]): Promise<void> {
  await sleep(ctx.config.settleMs)
  recordRss(ctx, proxies, 'rss_idle', 'idle after start')
}

/** RSS once the run is over, then again after the proxies have idled `idleAfterRunMs`. */
export async function afterRunMemory(ctx: Ctx, proxies: Target[]): Promise<void> {
  await sleep(ctx.config.settleMs)
  recordRss(ctx, proxies, 'rss_after_run', 'after the run')
  const idle = durationText(ctx.config.idleAfterRunMs)
  ctx.log(`memory: ${idle} idle before the last reading`)
  await sleep(ctx.config.idleAfterRunMs)
  recordRss(ctx, proxies, 'rss_after_idle', `after the run and ${idle} idle`)
}
