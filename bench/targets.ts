// The things measured: dockerd itself (its unix socket), dockmoat (dist/dockmoat.js), and
// any other proxy given as a start command. Proxies are started by the bench, their logs
// go to a file (as a container runtime's log driver would take them), and their process
// is found for CPU and memory readings.
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectRaw, type Endpoint } from './client.ts'
import { commandLine, listeningPid } from './proc.ts'

export const REPO = fileURLToPath(new URL('..', import.meta.url))
export const BUNDLE = path.join(REPO, 'dist', 'dockmoat.js')
/** The node flags the image's ENTRYPOINT gives dockmoat: the bench runs it the same way. */
export const NODE_FLAGS = entrypointNodeFlags(fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8'))

export function entrypointNodeFlags(dockerfile: string): string[] {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)
  if (entrypoint === null) throw new Error('the Dockerfile has no exec-form ENTRYPOINT')
  const argv = JSON.parse(entrypoint[1]!) as string[]
  return argv.slice(1, -1)
}

/**
 * `--floor`: the byte relay (the extra hop alone) and node:http + undici with no policy
 * and no logs (dockmoat's stack alone, with dockmoat's node flags), as compared proxies.
 */
export function floorCompares(socketPath: string): { name: string; command: string }[] {
  const command = (file: string, flags: string[]) =>
    [process.execPath, ...flags, path.join(REPO, 'bench', file)].map((word) => JSON.stringify(word)).join(' ') + ` {port} ${JSON.stringify(socketPath)}`
  return [
    { name: 'node-tcp-relay', command: command('relay.mjs', []) },
    { name: 'node-http-undici', command: command('http-relay.mjs', NODE_FLAGS) },
    { name: 'node-parser-byte-relay', command: command('parser-byte-relay.ts', NODE_FLAGS) },
  ]
}

/**
 * `--haproxy`: Debian's HAProxy with bench/haproxy.cfg, Tecnativa's setup (HTTP mode,
 * `option http-server-close`, 2 threads, a path ACL per section), given the grants the
 * workloads need.
 */
export function haproxyCompare(socketPath: string): { name: string; command: string } {
  const binary = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((file) => fs.existsSync(file))
  if (binary === undefined) throw new Error('--haproxy needs HAProxy: apt-get install haproxy (Debian 12 has 2.6)')
  const env = Object.entries({ ...DOCKMOAT_GRANTS, DOCKER_SOCKET: socketPath }).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')
  return { name: 'haproxy', command: `BENCH_PORT={port} ${env} exec ${binary} -f ${JSON.stringify(path.join(REPO, 'bench', 'haproxy.cfg'))} -db` }
}

export interface Target {
  /** `direct`, `dockmoat`, or the label of a compared proxy. */
  name: string
  kind: 'direct' | 'dockmoat' | 'compare'
  endpoint: Endpoint
  /** The proxy's process (CPU, RSS); undefined for direct. */
  pid?: number
  /** How it was started. */
  command?: string
  /** The measured process's command line, read from /proc once it answered. */
  argv?: string[]
  /** Spawn to first answered `/_ping`, ms. */
  startupMs?: number
  logFile?: string
  stop(): Promise<void>
}

/**
 * The grants the workloads need; everything else stays at dockmoat's defaults. CONTAINERS
 * and POST also carry the create cycles (create, start, wait, remove); the body guard is
 * always on, and their body (a named volume, no host path, no privilege) needs no ALLOW_*.
 */
export const DOCKMOAT_GRANTS: Record<string, string> = {
  PING: '1', VERSION: '1', EVENTS: '1', CONTAINERS: '1', POST: '1', EXEC: '1', ALLOW_ARCHIVE: '1',
}

export function directTarget(socketPath: string): Target {
  return { name: 'direct', kind: 'direct', endpoint: { kind: 'unix', socketPath }, command: `unix://${socketPath}`, stop: async () => {} }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** One `GET /_ping` on a fresh connection: the status code, or 0 when nothing answers yet. */
export function rawPing(endpoint: Endpoint, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const socket = connectRaw(endpoint)
    let text = ''
    const finish = (status: number): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(status)
    }
    const timer = setTimeout(() => finish(0), timeoutMs)
    socket.on('connect', () => socket.write('GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n'))
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      if (match !== null && text.includes('\r\n\r\n')) finish(Number(match[1]))
    })
    socket.on('error', () => finish(0))
    socket.on('close', () => finish(0))
  })
}

/**
 * Every proxy starts with only PATH and HOME from the bench's environment (anything else
 * goes in its command), so that none measures differently for what the shell happened to
 * export: NODE_EXTRA_CA_CERTS alone makes a Node process load the CA bundle at startup,
 * +9 MiB resident.
 */
function baseEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' }
}

interface Started {
  child: ChildProcess
  group: boolean
  exited: Promise<void>
}

function launch(command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string, group: boolean): Started {
  const fd = fs.openSync(logFile, 'a')
  const child = spawn(command, args, { env, stdio: ['ignore', fd, fd], detached: group })
  fs.closeSync(fd)
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  })
  return { child, group, exited }
}

async function waitReady(endpoint: Endpoint, started: Started, spawnedAt: number, timeoutMs: number, logFile: string): Promise<number> {
  let gone = false
  void started.exited.then(() => { gone = true })
  for (;;) {
    const status = await rawPing(endpoint, 1000)
    if (status === 200) return performance.now() - spawnedAt
    if (gone) throw new Error(`the proxy exited before answering; its output (${logFile}):\n${tail(logFile)}`)
    if (performance.now() - spawnedAt > timeoutMs) throw new Error(`the proxy did not answer GET /_ping with 200 within ${timeoutMs} ms (last status ${status}); output:\n${tail(logFile)}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n')
  } catch {
    return '(no output)'
  }
}

async function stopStarted(started: Started): Promise<void> {
  const { child } = started
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (started.group) process.kill(-child.pid!, sig)
      else child.kill(sig)
    } catch {
      // already gone
    }
  }
  signal('SIGTERM')
  const killed = await Promise.race([started.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000))])
  if (!killed) {
    signal('SIGKILL')
    await started.exited
  }
}

export function logDirectory(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-bench-'))
}

export interface DockmoatOptions {
  socketPath: string
  logLevel: string
  logDir: string
  /** Label (default `dockmoat`). */
  name?: string
  /** Settings on top of LOG_LEVEL and the grants (OWNER for the owner workload). */
  env?: Record<string, string>
}

export async function startDockmoat(options: DockmoatOptions): Promise<Target> {
  if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`)
  const port = await freePort()
  const name = options.name ?? 'dockmoat'
  const logFile = path.join(options.logDir, `${name}-${port}.log`)
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    LISTEN_ADDRESS: '127.0.0.1',
    LISTEN_PORT: String(port),
    SOCKET_PATH: options.socketPath,
    LOG_LEVEL: options.logLevel,
    ...DOCKMOAT_GRANTS,
    ...options.env,
  }
  const endpoint: Endpoint = { kind: 'tcp', host: '127.0.0.1', port }
  const spawnedAt = performance.now()
  const started = launch(process.execPath, [...NODE_FLAGS, BUNDLE], env, logFile, false)
  let startupMs: number
  try {
    startupMs = await waitReady(endpoint, started, spawnedAt, 15_000, logFile)
  } catch (error) {
    await stopStarted(started)
    throw error
  }
  const grants = Object.entries({ ...DOCKMOAT_GRANTS, ...options.env }).map(([k, v]) => `${k}=${v}`).join(' ')
  return {
    name,
    kind: 'dockmoat',
    endpoint,
    pid: started.child.pid!,
    argv: commandLine(started.child.pid),
    command: `LOG_LEVEL=${options.logLevel} ${grants} LISTEN_ADDRESS=127.0.0.1 LISTEN_PORT=${port} node ${NODE_FLAGS.join(' ')} dist/dockmoat.js`,
    startupMs,
    logFile,
    stop: () => stopStarted(started),
  }
}

export interface CompareOptions {
  /** A shell command; `{port}` is replaced by the TCP port it must listen on (127.0.0.1). */
  command: string
  name: string
  logDir: string
}

export async function startCompare(options: CompareOptions): Promise<Target> {
  if (!options.command.includes('{port}')) throw new Error(`--compare command must contain {port}: ${options.command}`)
  const port = await freePort()
  const command = options.command.replaceAll('{port}', String(port))
  const logFile = path.join(options.logDir, `${options.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${port}.log`)
  const endpoint: Endpoint = { kind: 'tcp', host: '127.0.0.1', port }
  const spawnedAt = performance.now()
  // A process group of its own, so that stopping it ends the shell and all it started.
  const started = launch('sh', ['-c', command], baseEnv(), logFile, true)
  let startupMs: number
  try {
    startupMs = await waitReady(endpoint, started, spawnedAt, 30_000, logFile)
  } catch (error) {
    await stopStarted(started)
    throw error
  }
  // The process that owns the listening socket is the one measured (not the shell).
  const pid = listeningPid(port) ?? started.child.pid!
  return { name: options.name, kind: 'compare', endpoint, pid, argv: commandLine(pid), command, startupMs, logFile, stop: () => stopStarted(started) }
}
