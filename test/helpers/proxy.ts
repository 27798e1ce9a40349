// Starts the built proxy (dist/dockmoat.js, what the image ships) as its own process.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

export const BUNDLE = fileURLToPath(new URL('../../dist/dockmoat.js', import.meta.url))

export interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

export interface RunningProxy {
  port: number
  /** For the docker CLI: DOCKER_HOST=tcp://127.0.0.1:PORT */
  dockerHost: string
  /** For HTTP clients: http://127.0.0.1:PORT */
  url: string
  child: ChildProcess
  /** Every JSON log line so far. */
  logs(): LogLine[]
  stderr(): string
  /** Sends the signal (SIGTERM by default) and resolves when the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>
}

function requireBundle(): void {
  if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first (\`npm test\` does it)`)
}

/**
 * The child gets only the variables given here (plus PATH and HOME), so toggles in the
 * developer's own environment never leak into a test. It listens on 127.0.0.1 on a free port.
 */
/** A dockmoat child's JSON log lines as they come (kept in `lines`, each passed to the `onLine` callbacks) and its stderr. */
export interface FollowedLog {
  lines: LogLine[]
  stderr(): string
  onLine(callback: (line: LogLine) => void): void
}

export function followLog(child: ChildProcess): FollowedLog {
  const lines: LogLine[] = []
  const callbacks: ((line: LogLine) => void)[] = []
  let stderr = ''
  let partial = ''
  child.stdout!.setEncoding('utf8')
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => { stderr += chunk })
  child.stdout!.on('data', (chunk: string) => {
    partial += chunk
    const complete = partial.split('\n')
    partial = complete.pop()!
    for (const text of complete) {
      if (text.trim() === '') continue
      const line = JSON.parse(text) as LogLine
      lines.push(line)
      for (const callback of callbacks) callback(line)
    }
  })
  return { lines, stderr: () => stderr, onLine: (callback) => { callbacks.push(callback) } }
}

export async function startProxy(env: Record<string, string> = {}): Promise<RunningProxy> {
  requireBundle()
  const child = spawn(process.execPath, [BUNDLE], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', LISTEN_ADDRESS: '127.0.0.1', LISTEN_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const log = followLog(child)
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start within 10 s; stderr: ${log.stderr()}`)), 10_000)
    log.onLine((line) => {
      if (line.msg === 'dockmoat listening') {
        clearTimeout(timer)
        resolve(line.port as number)
      }
    })
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`the proxy exited with ${code} before listening; stderr: ${log.stderr()}`))
    })
  })
  return {
    port,
    dockerHost: `tcp://127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    child,
    logs: () => log.lines,
    stderr: log.stderr,
    async stop(signal = 'SIGTERM') {
      const started = Date.now()
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const result = await exited
      return { ...result, ms: Date.now() - started }
    },
  }
}

/** A free TCP port on 127.0.0.1 (nothing listens on it once this resolves). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Runs the bundle with arguments (check, healthcheck, a bad configuration) to its exit. */
export async function runBundle(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireBundle()
  const child = spawn(process.execPath, [BUNDLE, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}
