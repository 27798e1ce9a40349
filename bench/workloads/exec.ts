// Workload 4: the real docker CLI through each target. `docker exec C true` round trips,
// a stdin pipe through `docker exec -i C wc -c`, and a raw client that sends exec start's
// JSON body in a later packet than its headers (a proxy that forwards only the bytes that
// came with the headers hangs there).
import { spawn } from 'node:child_process'
import { connectRaw, dockerHost, json, type Endpoint } from '../client.ts'
import type { Made } from '../fixtures.ts'
import { median, round } from '../stats.ts'
import type { Target } from '../targets.ts'
import { errorText, orderFor, pushDetail, sleep, type Ctx } from './common.ts'

const MiB = 1024 * 1024

interface CliRun {
  code: number
  ms: number
  stdout: string
  stderr: string
  hung: boolean
}

/** Runs the docker CLI against an endpoint; the clock runs from spawn to exit. */
export function dockerCli(endpoint: Endpoint, args: string[], input: Buffer | null, hangMs: number): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: dockerHost(endpoint), DOCKER_BUILDKIT: '0' }
  delete env.DOCKER_CONTEXT
  delete env.DOCKER_TLS_VERIFY
  delete env.DOCKER_CERT_PATH
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawn('docker', args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let hung = false
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.stdin.on('error', () => {})
    const timer = setTimeout(() => { hung = true; child.kill('SIGKILL') }, hangMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      resolve({ code: -1, ms: performance.now() - started, stdout: '', stderr: error.message, hung: false })
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, ms: performance.now() - started, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), hung })
    })
    if (input === null) child.stdin.end()
    else child.stdin.end(input)
  })
}

async function execTrue(ctx: Ctx, target: Target, work: Made, r: number): Promise<void> {
  const { trueRuns, hangMs } = ctx.config.exec
  const times: number[] = []
  let hung = 0
  let failed = 0
  let firstFailure: string | undefined
  for (let i = 0; i < trueRuns; i++) {
    const run = await dockerCli(target.endpoint, ['exec', work.name, 'true'], null, hangMs)
    if (run.hung) hung++
    else if (run.code !== 0) failed++
    else times.push(run.ms)
    if ((run.hung || run.code !== 0) && firstFailure === undefined) firstFailure = run.hung ? `hung (killed after ${hangMs} ms)` : `exit ${run.code}: ${run.stderr.trim().slice(0, 200)}`
  }
  ctx.recorder.expect('exec_true_ok', trueRuns)
  ctx.recorder.add('exec_true_ok', target.name, r, times.length)
  ctx.recorder.add('exec_true_ms', target.name, r, times.length > 0 ? median(times) : Number.NaN)
  if (hung > 0 || failed > 0) ctx.recorder.note('exec_true_ok', target.name, `round ${r + 1}: ${hung} hung, ${failed} failed (${firstFailure})`)
  pushDetail(ctx, 'execTrue', target.name, { round: r, runs: trueRuns, ok: times.length, hung, failed, firstFailure: firstFailure ?? null, medianMs: round(median(times), 1), minMs: round(Math.min(...times), 1), maxMs: round(Math.max(...times), 1) })
  ctx.log(`exec true round ${r + 1} ${target.name}: median ${round(median(times), 1)} ms, ${times.length}/${trueRuns} ok${hung ? `, ${hung} hung` : ''}`)
}

async function execStdin(ctx: Ctx, target: Target, work: Made, r: number, input: Buffer): Promise<void> {
  const { stdinRuns, hangMs } = ctx.config.exec
  const rates: number[] = []
  let exact = 0
  const runs: unknown[] = []
  for (let i = 0; i < stdinRuns; i++) {
    const run = await dockerCli(target.endpoint, ['exec', '-i', work.name, 'wc', '-c'], input, Math.max(hangMs, 120_000))
    const counted = Number(run.stdout.trim())
    const ok = !run.hung && run.code === 0 && counted === input.length
    if (ok) {
      exact++
      rates.push(input.length / MiB / (run.ms / 1000))
    }
    runs.push({ code: run.code, hung: run.hung, bytesCounted: Number.isFinite(counted) ? counted : null, bytesSent: input.length, ms: round(run.ms, 1), ...(ok ? {} : { stderr: run.stderr.trim().slice(0, 200) }) })
    if (!ok) ctx.recorder.note('exec_stdin_exact', target.name, run.hung ? `round ${r + 1}: hung` : `round ${r + 1}: exit ${run.code}, counted ${run.stdout.trim() || '(nothing)'} of ${input.length}`)
  }
  ctx.recorder.expect('exec_stdin_exact', stdinRuns)
  ctx.recorder.add('exec_stdin_exact', target.name, r, exact)
  ctx.recorder.add('exec_stdin_mibs', target.name, r, rates.length > 0 ? median(rates) : Number.NaN)
  pushDetail(ctx, 'execStdin', target.name, { round: r, runs })
  ctx.log(`exec stdin round ${r + 1} ${target.name}: ${round(median(rates), 1)} MiB/s, ${exact}/${stdinRuns} exact`)
}

export interface SplitResult {
  ok: boolean
  hung: boolean
  statusLine: string
  output: string
  /** From writing the body to seeing the command's output. */
  msAfterBody: number | null
  error?: string
}

/**
 * Exec start by hand: headers in one write, a pause, then the JSON body. Passes when the
 * answer is 101 and the command's output arrives.
 */
export async function splitBodyExec(endpoint: Endpoint, containerId: string, pauseMs: number, hangMs: number): Promise<SplitResult> {
  const created = await json<{ Id?: string; message?: string }>(endpoint, {
    method: 'POST',
    path: `/containers/${containerId}/exec`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ AttachStdout: true, AttachStderr: true, Cmd: ['echo', 'split-body-ok'] }),
  })
  if (created.status !== 201 || typeof created.value.Id !== 'string') {
    return { ok: false, hung: false, statusLine: `exec create: HTTP ${created.status}`, output: '', msAfterBody: null, error: JSON.stringify(created.value).slice(0, 200) }
  }
  const body = JSON.stringify({ Detach: false, Tty: false })
  const head = `POST /exec/${created.value.Id}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`
  return new Promise((resolve) => {
    const socket = connectRaw(endpoint)
    let received = Buffer.alloc(0)
    let bodySentAt = 0
    let settled = false
    const finish = (result: Omit<SplitResult, 'statusLine' | 'output'>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const text = received.toString('latin1')
      resolve({ ...result, statusLine: text.split('\r\n')[0] ?? '', output: text.slice(text.indexOf('\r\n\r\n') + 4).replace(/[^\x20-\x7e\n]/g, '') })
    }
    const timer = setTimeout(() => finish({ ok: false, hung: true, msAfterBody: null }), pauseMs + hangMs)
    socket.on('connect', () => {
      socket.write(head)
      setTimeout(() => {
        bodySentAt = performance.now()
        socket.write(body)
      }, pauseMs)
    })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      const text = received.toString('latin1')
      if (/^HTTP\/1\.1 101/.test(text) && text.includes('split-body-ok')) finish({ ok: true, hung: false, msAfterBody: bodySentAt > 0 ? performance.now() - bodySentAt : null })
    })
    socket.on('error', (error) => finish({ ok: false, hung: false, msAfterBody: null, error: error.message }))
    socket.on('close', () => finish({ ok: false, hung: false, msAfterBody: null, error: 'connection closed before the output' }))
  })
}

async function splitBody(ctx: Ctx, target: Target, work: Made, r: number): Promise<void> {
  const { splitPauseMs } = ctx.config.exec
  let result: SplitResult
  try {
    result = await splitBodyExec(target.endpoint, work.id, splitPauseMs, 5000)
  } catch (error) {
    result = { ok: false, hung: false, statusLine: '', output: '', msAfterBody: null, error: errorText(error) }
  }
  ctx.recorder.add('exec_split_body', target.name, r, result.ok ? 1 : 0)
  if (!result.ok) ctx.recorder.note('exec_split_body', target.name, result.hung ? `round ${r + 1}: hung (no output 5 s after the body)` : `round ${r + 1}: ${result.statusLine} ${result.error ?? ''}`.trim())
  pushDetail(ctx, 'execSplitBody', target.name, { round: r, pauseMs: splitPauseMs, ...result, msAfterBody: result.msAfterBody === null ? null : round(result.msAfterBody, 2) })
  ctx.log(`exec split body round ${r + 1} ${target.name}: ${result.ok ? `ok, output ${round(result.msAfterBody ?? 0, 1)} ms after the body` : result.hung ? 'HUNG' : `FAILED ${result.statusLine} ${result.error ?? ''}`}`)
}

export async function execWorkload(ctx: Ctx, work: Made): Promise<void> {
  const { rounds, stdinMiB } = ctx.config.exec
  const input = Buffer.alloc(stdinMiB * MiB, 'dockmoat-bench\n')
  for (let r = 0; r < rounds; r++) {
    for (const target of orderFor(r, ctx.targets)) await execTrue(ctx, target, work, r)
    for (const target of orderFor(r, ctx.targets)) await execStdin(ctx, target, work, r, input)
    for (const target of orderFor(r, ctx.targets)) await splitBody(ctx, target, work, r)
    await sleep(10)
  }
}
