// Who else used the machine during the run. Every second the CPU time of every process
// is read from /proc and attributed: this run (the bench and everything it started),
// Docker (dockerd, containerd, shims, runc and the containers under them), the kernel's
// own threads, or other (someone else's work on a shared machine).
import fs from 'node:fs'
import os from 'node:os'

const DOCKER_COMMS = new Set(['dockerd', 'containerd', 'containerd-shim', 'containerd-shim-runc-v2', 'runc', 'docker-proxy', 'docker-init'])

interface Proc {
  ppid: number
  comm: string
  cpu: number
  /** Start time (clock ticks after boot): tells a reused pid from the process seen before. */
  started: number
}

function readAll(ticks: number): Map<number, Proc> {
  const procs = new Map<number, Proc>()
  for (const entry of fs.readdirSync('/proc')) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1')
      const close = stat.lastIndexOf(')')
      const comm = stat.slice(stat.indexOf('(') + 1, close)
      const fields = stat.slice(close + 2).split(' ')
      procs.set(Number(entry), { ppid: Number(fields[1]), comm, cpu: (Number(fields[11]) + Number(fields[12])) / ticks, started: Number(fields[19]) })
    } catch {
      // gone
    }
  }
  return procs
}

export interface Sharing {
  wallSeconds: number
  /** CPU seconds by owner; `capacity` is cores × wall. */
  cpuSeconds: { run: number; docker: number; kernel: number; other: number; capacity: number }
  /** Other processes' CPU as a share of the machine, in %. */
  otherPercent: number
  /** The busiest other processes (by command name). */
  topOther: { comm: string; cpuSeconds: number }[]
}

export class SharingSampler {
  private readonly last = new Map<number, { cpu: number; owner: string; started: number }>()
  private readonly totals = { run: 0, docker: 0, kernel: 0, other: 0 }
  private readonly byComm = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private began = 0
  private readonly ticks: number

  constructor(ticksPerSecond = 100) {
    this.ticks = ticksPerSecond
  }

  start(): void {
    this.began = performance.now()
    this.sample(true)
    this.timer = setInterval(() => this.sample(false), 1000)
    this.timer.unref()
  }

  private owner(pid: number, procs: Map<number, Proc>): string {
    let at = pid
    for (let depth = 0; depth < 64 && at > 1; depth++) {
      if (at === process.pid) return 'run'
      const proc = procs.get(at)
      if (proc === undefined) break
      if (DOCKER_COMMS.has(proc.comm)) return 'docker'
      if (at === 2 || proc.ppid === 2) return 'kernel'
      at = proc.ppid
    }
    return 'other'
  }

  private sample(first: boolean): void {
    const procs = readAll(this.ticks)
    for (const [pid, proc] of procs) {
      const before = this.last.get(pid)
      // A process first seen now is counted from its start (its whole CPU time), except at the first sample.
      const delta = before === undefined || before.started !== proc.started ? (first ? 0 : proc.cpu) : proc.cpu - before.cpu
      const owner = before !== undefined && before.started === proc.started ? before.owner : this.owner(pid, procs)
      if (delta > 0) {
        this.totals[owner as keyof typeof this.totals] += delta
        if (owner === 'other') this.byComm.set(proc.comm, (this.byComm.get(proc.comm) ?? 0) + delta)
      }
      this.last.set(pid, { cpu: proc.cpu, owner, started: proc.started })
    }
    for (const pid of [...this.last.keys()]) if (!procs.has(pid)) this.last.delete(pid)
  }

  stop(): Sharing {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.sample(false)
    const wallSeconds = (performance.now() - this.began) / 1000
    const capacity = os.availableParallelism() * wallSeconds
    const r = (v: number): number => Math.round(v * 10) / 10
    return {
      wallSeconds: r(wallSeconds),
      cpuSeconds: { run: r(this.totals.run), docker: r(this.totals.docker), kernel: r(this.totals.kernel), other: r(this.totals.other), capacity: r(capacity) },
      otherPercent: capacity > 0 ? r((this.totals.other / capacity) * 100) : 0,
      topOther: [...this.byComm].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([comm, cpuSeconds]) => ({ comm, cpuSeconds: r(cpuSeconds) })),
    }
  }
}
