// The whole run as a function: set up containers, measure every workload against direct
// dockerd, dockmoat and any compared proxy, clean up, and return (and write) the report.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { requireDocker } from '../test/helpers/docker.ts'
import { json } from './client.ts'
import type { BenchConfig, Workload } from './config.ts'
import { Fixtures, RUN_LABEL } from './fixtures.ts'
import { evaluate, Recorder } from './model.ts'
import { dockerdPid, machine } from './proc.ts'
import { applies, renderMarkdown, renderSvg, type OwnerSetup, type Report } from './report.ts'
import { SharingSampler } from './sharing.ts'
import { durationText, round } from './stats.ts'
import { directTarget, logDirectory, REPO, startCompare, startDockmoat, type Target } from './targets.ts'
import { archiveWorkload, prepareArchive } from './workloads/archive.ts'
import { errorText, type Ctx } from './workloads/common.ts'
import { createBody, createWorkload } from './workloads/create.ts'
import { eventsWorkload } from './workloads/events.ts'
import { execWorkload } from './workloads/exec.ts'
import { afterRunMemory, idleMemory, startupWorkload, type ProxyStarter } from './workloads/lifecycle.ts'
import { ownerWorkload } from './workloads/owner.ts'
import { listWorkload, pingWorkload } from './workloads/requests.ts'

export interface RunOptions {
  /** Where latest.json, latest.md and ratios.svg go; nothing is written when undefined. */
  outDir?: string
  /** Progress lines (default: stderr). */
  log?: (message: string) => void
  /** The command line, for the report. */
  command?: string
}

/** Cleanups of runs in progress, for a SIGINT handler. */
export const pendingCleanups = new Set<() => Promise<void>>()

function gitCommit(): string | null {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return commit + (dirty ? '+dirty' : '')
  } catch {
    return null
  }
}

function dockerCliVersion(): string {
  try {
    return execFileSync('docker', ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent' }, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch (error) {
    // `docker version` exits 1 when the (bogus) server is unreachable but prints the client part.
    const out = (error as { stdout?: string }).stdout
    return typeof out === 'string' && out.trim() !== '' ? out.trim().split('\n')[0]! : 'unknown'
  }
}

async function runningOthers(socketPath: string, runId: string): Promise<number> {
  const { value } = await json<{ Labels?: Record<string, string> }[]>({ kind: 'unix', socketPath }, { path: '/containers/json' })
  return Array.isArray(value) ? value.filter((c) => c.Labels?.[RUN_LABEL] !== runId).length : 0
}

export async function runBench(config: BenchConfig, options: RunOptions = {}): Promise<Report> {
  const log = options.log ?? ((message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`))
  const began = performance.now()
  const cpuAtBegin = process.cpuUsage()
  await requireDocker(config.socketPath)
  const socket = { kind: 'unix' as const, socketPath: config.socketPath }
  const version = (await json<{ Version: string; ApiVersion: string }>(socket, { path: '/version' })).value
  const runId = `${process.pid}-${randomBytes(3).toString('hex')}`
  // The commit measured is the one built at the start: read later, a commit made during a
  // 25-minute run was recorded instead.
  const commit = gitCommit()
  const fixtures = new Fixtures(runId)
  const logDir = logDirectory()
  const proxies: Target[] = []
  /** Proxies a workload starts for itself (with OWNER, with METRICS_LISTEN): stopped by the workload, and here if it is interrupted. */
  const sidecars: Target[] = []
  const machineInfo = machine()
  const othersAtStart = await runningOthers(config.socketPath, runId)
  const sharing = new SharingSampler()
  sharing.start()

  const cleanupAll = async (): Promise<void> => {
    for (const proxy of [...proxies.splice(0), ...sidecars.splice(0)]) await proxy.stop().catch(() => undefined)
    await fixtures.removeAll().catch(() => undefined)
    fs.rmSync(logDir, { recursive: true, force: true })
  }
  pendingCleanups.add(cleanupAll)

  const recorder = new Recorder()
  const direct = directTarget(config.socketPath)
  const ctx: Ctx = { config, targets: [direct], fixtures, recorder, details: {}, cpu: [], dockerdPid: dockerdPid(), log }
  const logSizes: Record<string, { bytes: number; lines: number }> = {}
  try {
    log(`setup: ${config.list.containers} containers to list, a work container, a flush container and a volume for the create cycles (run ${runId}); the OWNER workload makes ${config.owner.owned} more through its proxy`)
    await fixtures.prepare()
    const [work, flush, cycleVolume] = await Promise.all([fixtures.running('work'), fixtures.running('flush'), fixtures.volume('cycle')])
    const [listed] = await Promise.all([fixtures.manyRunning('list', config.list.containers), prepareArchive(ctx, work)])

    const starters: ProxyStarter[] = [
      { name: 'dockmoat', start: () => startDockmoat({ socketPath: config.socketPath, logLevel: config.logLevel, logDir }) },
      ...config.compare.map((c): ProxyStarter => ({ name: c.name, start: () => startCompare({ command: c.command, name: c.name, logDir }) })),
    ]
    log('startup: time from spawn to the first answered /_ping')
    await startupWorkload(ctx, starters)

    for (const starter of starters) {
      const target = await starter.start()
      proxies.push(target)
      ctx.targets.push(target)
      log(`${target.name}: pid ${target.pid}, ${target.command}`)
    }
    await idleMemory(ctx, proxies)

    /** A dockmoat a workload starts for itself, with `env` on top of the usual settings; stopped by the workload, or here if interrupted. */
    const startSidecar = async (name: string, env: Record<string, string>): Promise<Target> => {
      const target = await startDockmoat({ socketPath: config.socketPath, logLevel: config.logLevel, logDir, name, env })
      sidecars.push(target)
      return target
    }
    const stages: [Workload, () => Promise<void>][] = [
      // Events first: the watchers' memory is then measured from the idle proxy, not on
      // top of whatever heap the throughput workloads left behind.
      ['events', () => eventsWorkload(ctx, flush)],
      ['exec', () => execWorkload(ctx, work)],
      ['create', () => createWorkload(ctx, cycleVolume)],
      ['ping', () => pingWorkload(ctx, (env) => startSidecar('dockmoat+metrics', env))],
      ['list', () => listWorkload(ctx)],
      ['owner', () => ownerWorkload(ctx, (env) => startSidecar('dockmoat-owner', env), listed[0] ?? work)],
      ['archive', () => archiveWorkload(ctx, work)],
    ]
    for (const [name, stage] of stages) {
      if (config.only !== undefined && !config.only.includes(name)) continue
      const stageBegan = performance.now()
      log(`${name}: start`)
      try {
        await stage()
      } catch (error) {
        // One broken workload must not lose the others' numbers; the report shows it failed.
        log(`${name}: ABORTED ${errorText(error)}`)
        ctx.details[`${name}Error`] = errorText(error)
      }
      log(`${name}: ${round((performance.now() - stageBegan) / 1000, 1)} s`)
    }
    await afterRunMemory(ctx, proxies)
    for (const proxy of proxies) {
      if (proxy.logFile === undefined) continue
      try {
        const text = fs.readFileSync(proxy.logFile)
        logSizes[proxy.name] = { bytes: text.length, lines: text.toString('latin1').split('\n').length - 1 }
      } catch {
        // no log
      }
    }
  } finally {
    await cleanupAll()
    pendingCleanups.delete(cleanupAll)
  }
  const othersAtEnd = await runningOthers(config.socketPath, runId).catch(() => -1)
  const shared = sharing.stop()

  const targetNames = ctx.targets.map((t) => t.name)
  const metrics = evaluate(recorder, targetNames, {
    download: String(config.archive.downloadMiB),
    upload: String(config.archive.uploadMiB),
    stdin: String(config.exec.stdinMiB),
    watchers: String(config.events.watchers),
    execRuns: `${config.exec.trueRuns} per round`,
    idleAfterRun: durationText(config.idleAfterRunMs),
    createLoops: String(config.create.loops),
    createCycles: String(config.create.cycles),
    createBodyBytes: String(Buffer.byteLength(createBody(fixtures.image, fixtures.volumes[0] ?? '', runId))),
    ownerOwned: String((ctx.details.ownerSetup as OwnerSetup | undefined)?.owned ?? config.owner.owned),
    ownerTotal: String((ctx.details.ownerSetup as OwnerSetup | undefined)?.total ?? '?'),
    ownerConnections: String(config.owner.connections),
  })
  const verdict: Report['verdict'] = {}
  for (const name of targetNames.filter((n) => n !== 'direct')) {
    const kind = ctx.targets.find((t) => t.name === name)?.kind
    const judged = metrics.filter((m) => m.rule.kind !== 'info' && applies(m, kind))
    verdict[name] = {
      passed: judged.filter((m) => m.pass[name] === true).length,
      failed: judged.filter((m) => m.pass[name] === false).length,
      notMeasured: judged.filter((m) => m.pass[name] === null || m.pass[name] === undefined).length,
    }
  }
  const byPhase: Record<string, number> = {}
  for (const record of ctx.cpu) {
    if (record.wallSeconds < 0.2) continue
    const pct = (record.clientSeconds / record.wallSeconds) * 100
    byPhase[record.phase] = round(Math.max(byPhase[record.phase] ?? 0, pct), 1)
  }
  const cpuTotal = process.cpuUsage(cpuAtBegin)
  const durationSeconds = round((performance.now() - began) / 1000, 1)
  const dockmoatPackage = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }
  const report: Report = {
    schema: 1,
    meta: {
      date: new Date().toISOString(),
      mode: config.mode,
      command: options.command ?? 'node bench/run.ts',
      durationSeconds,
      machine: { ...machineInfo, loadAverageAtEnd: os.loadavg().map((v) => round(v, 2)) },
      dockerd: { version: version.Version, apiVersion: version.ApiVersion, cli: dockerCliVersion() },
      dockmoat: { version: dockmoatPackage.version, commit, logLevel: config.logLevel },
      otherContainersRunning: { atStart: othersAtStart, atEnd: othersAtEnd },
      sharing: shared,
      shared: othersAtStart > 0 || othersAtEnd > 0 || shared.otherPercent >= 3,
      targets: ctx.targets.map((t) => ({ name: t.name, kind: t.kind, command: t.command, pid: t.pid ?? null, argv: t.argv ?? null })),
      runId,
      rounds: { ping: config.ping.rounds, list: config.list.rounds, archive: config.archive.rounds, exec: config.exec.rounds, events: config.events.rounds, create: config.create.rounds, owner: config.owner.rounds, startup: config.startup.runs },
    },
    config,
    metrics,
    verdict,
    clientCpu: {
      maxPercentOfOneCore: Math.max(0, ...Object.values(byPhase)),
      byPhase,
      total: { cpuSeconds: round((cpuTotal.user + cpuTotal.system) / 1e6, 2), wallSeconds: durationSeconds },
    },
    cpu: ctx.cpu.map((c) => ({ ...c, wallSeconds: round(c.wallSeconds), clientSeconds: round(c.clientSeconds), proxySeconds: c.proxySeconds === null ? null : round(c.proxySeconds, 2), dockerdSeconds: c.dockerdSeconds === null ? null : round(c.dockerdSeconds, 2) })),
    details: { ...ctx.details, proxyLogs: logSizes },
  }
  if (options.outDir !== undefined) writeReport(report, options.outDir)
  return report
}

export function writeReport(report: Report, outDir: string): { json: string; markdown: string; svg: string } {
  fs.mkdirSync(outDir, { recursive: true })
  const files = { json: path.join(outDir, 'latest.json'), markdown: path.join(outDir, 'latest.md'), svg: path.join(outDir, 'ratios.svg') }
  fs.writeFileSync(files.json, JSON.stringify(report, null, 2) + '\n')
  fs.writeFileSync(files.markdown, renderMarkdown(report))
  fs.writeFileSync(files.svg, renderSvg(report))
  return files
}
