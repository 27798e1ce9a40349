// Workload 6: startup time to the first answered request, and resident memory idle after
// start and after the whole run.
import { rssMiB } from '../proc.ts'
import { round } from '../stats.ts'
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

export async function idleMemory(ctx: Ctx, proxies: Target[]): Promise<void> {
  await sleep(ctx.config.settleMs)
  for (const target of proxies) {
    const rss = rssMiB(target.pid)
    if (rss !== undefined) ctx.recorder.add('rss_idle', target.name, 0, rss)
    pushDetail(ctx, 'memory', target.name, { when: 'idle after start', rssMiB: round(rss ?? Number.NaN, 1) })
    ctx.log(`memory ${target.name}: ${round(rss ?? Number.NaN, 1)} MiB idle after start`)
  }
}

export async function afterRunMemory(ctx: Ctx, proxies: Target[]): Promise<void> {
  await sleep(ctx.config.settleMs)
  for (const target of proxies) {
    const rss = rssMiB(target.pid)
    if (rss !== undefined) ctx.recorder.add('rss_after_run', target.name, 0, rss)
    else {
      ctx.recorder.add('rss_after_run', target.name, 0, Number.NaN)
      ctx.recorder.note('rss_after_run', target.name, 'the process was gone at the end of the run')
    }
    pushDetail(ctx, 'memory', target.name, { when: 'after the run', rssMiB: round(rss ?? Number.NaN, 1) })
    ctx.log(`memory ${target.name}: ${round(rss ?? Number.NaN, 1)} MiB after the run`)
  }
}
