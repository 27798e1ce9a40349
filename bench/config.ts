// Run sizes. `full` is the run the README quotes; `quick` is the smoke check (< 3 min);
// tests pass their own smaller config.

/** The workloads, in the order a run takes them (bench.ts says why events come first). */
export const WORKLOADS = ['events', 'exec', 'create', 'ping', 'list', 'owner', 'archive'] as const
export type Workload = (typeof WORKLOADS)[number]

export interface BenchConfig {
  mode: string
  socketPath: string
  /** dockmoat's LOG_LEVEL during the run (default `info`: one log line per request, as users run it). */
  logLevel: string
  compare: { name: string; command: string }[]
  /** `--only`: run just these workloads (stage names, bench.ts), in their usual order; all when undefined. */
  only?: Workload[]
  ping: { rounds: number; warmupMs: number; durationMs: number; connections: number }
  list: { rounds: number; containers: number; connections: number; warmupMs: number; durationMs: number }
  archive: { rounds: number; downloadMiB: number; uploadMiB: number }
  exec: { rounds: number; trueRuns: number; stdinMiB: number; stdinRuns: number; splitPauseMs: number; hangMs: number }
  events: { rounds: number; watchers: number; holdMs: number; flushEvents: number; flushGapMs: number }
  /**
   * Create + start + wait + remove: `cycles` timed per round and target, shared by `loops`
   * concurrent client loops (each first runs one cycle untimed); `hangMs` bounds each request.
   */
  create: { rounds: number; cycles: number; loops: number; hangMs: number }
  /**
   * OWNER: `owned` running containers made through a dockmoat started with OWNER, next to
   * the list workload's `list.containers` (and the work and flush containers) that are not
   * its owner's; the list and an owned container's inspect in a closed loop on
   * `connections` (the inspect also on one), as the list workload measures.
   */
  owner: { rounds: number; owned: number; connections: number; warmupMs: number; durationMs: number }
  startup: { runs: number }
  /** Quiet time before the idle and after-the-run RSS readings. */
  settleMs: number
  /**
   * How long the proxies then stay idle before the last RSS reading. V8 hands back the heap
   * pages it pooled under load only in a memory-reducing collection, which an idle process
   * gets from its memory reducer's watchdog ~100 s after the last collection.
   */
  idleAfterRunMs: number
}

const base = {
  socketPath: process.env.DOCKER_SOCKET || '/var/run/docker.sock',
  logLevel: 'info',
  compare: [],
}

export const FULL: BenchConfig = {
  ...base,
  mode: 'full',
  ping: { rounds: 5, warmupMs: 500, durationMs: 3000, connections: 32 },
  list: { rounds: 5, containers: 20, connections: 8, warmupMs: 500, durationMs: 3000 },
  archive: { rounds: 5, downloadMiB: 512, uploadMiB: 256 },
  exec: { rounds: 3, trueRuns: 20, stdinMiB: 64, stdinRuns: 5, splitPauseMs: 300, hangMs: 20_000 },
  events: { rounds: 3, watchers: 1000, holdMs: 20_000, flushEvents: 10, flushGapMs: 150 },
  create: { rounds: 3, cycles: 30, loops: 2, hangMs: 30_000 },
  owner: { rounds: 5, owned: 10, connections: 8, warmupMs: 500, durationMs: 3000 },
  startup: { runs: 5 },
  settleMs: 5000,
  idleAfterRunMs: 120_000,
}

export const QUICK: BenchConfig = {
  ...base,
  mode: 'quick',
  ping: { rounds: 3, warmupMs: 300, durationMs: 1000, connections: 32 },
  list: { rounds: 3, containers: 20, connections: 8, warmupMs: 300, durationMs: 1000 },
  archive: { rounds: 2, downloadMiB: 128, uploadMiB: 64 },
  exec: { rounds: 2, trueRuns: 5, stdinMiB: 64, stdinRuns: 1, splitPauseMs: 300, hangMs: 15_000 },
  events: { rounds: 2, watchers: 200, holdMs: 3000, flushEvents: 6, flushGapMs: 120 },
  create: { rounds: 2, cycles: 6, loops: 2, hangMs: 30_000 },
  owner: { rounds: 2, owned: 10, connections: 8, warmupMs: 300, durationMs: 1000 },
  startup: { runs: 3 },
  settleMs: 2000,
  idleAfterRunMs: 5000,
}
