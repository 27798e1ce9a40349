// Shared by the image tests: the dockmoat image itself, and containers of it against the
// real dockerd. Everything here talks to the real daemon; nothing is mocked.
import fs from 'node:fs'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { buildImage, IMAGE, RUNTIME_BASE } from '../../scripts/image.ts'
import { DOCKER_SOCKET, cleanup, docker, requireDocker, uniqueName, type RunResult } from '../helpers/docker.ts'

export { IMAGE, RUNTIME_BASE }
export const REPO = fileURLToPath(new URL('../../', import.meta.url))

let ready: Promise<string> | undefined

/**
 * `dockmoat:local`, built or brought up to date from the repository's Dockerfile by
 * scripts/image.ts, as `npm run image` does: the tests always run the current sources,
 * and an unchanged image costs a few seconds (the stand-in bases and the layer cache are
 * reused; concurrent test files wait on the script's lock).
 */
export function dockmoatImage(): Promise<string> {
  ready ??= (async () => {
    await requireDocker()
    try {
      return (await buildImage()).image
    } catch (error) {
      throw new Error(`cannot build ${IMAGE} with scripts/image.ts (\`npm run image\` shows the whole output): ` +
        (error instanceof Error ? error.message : String(error)), { cause: error })
    }
  })()
  ready.catch(() => { ready = undefined })
  return ready
}

/** The group that owns the Docker socket on this host: what `--group-add` must name. */
export function socketGid(): number {
  return fs.statSync(DOCKER_SOCKET).gid
}

export interface Sidecar {
  name: string
  /** DOCKER_HOST for the docker CLI: tcp://127.0.0.1:PORT */
  host: string
  /** http://127.0.0.1:PORT */
  url: string
  port: number
  logs(): Promise<string>
}

export interface SidecarOptions {
  env?: Record<string, string>
  /** Mount the Docker socket (read-only, as the README says). Default true. */
  socket?: boolean
  /** Add the socket's group. Default true. */
  groupAdd?: boolean
  /** Extra `docker run` arguments (before the image). */
  args?: string[]
  /** Wait until the proxy answers HTTP. Default true. */
  wait?: boolean
}

interface Teardown { teardown(fn: () => unknown): void }

/**
 * `docker run -d` of the image the way the README's quick start does it, with the port
 * published on 127.0.0.1 only; removed when the test ends.
 */
export async function startSidecar(t: Teardown, options: SidecarOptions = {}): Promise<Sidecar> {
  const image = await dockmoatImage()
  const name = uniqueName('sidecar')
  t.teardown(() => cleanup('container', [name]))
  const args = ['run', '-d', '--name', name, '-p', '127.0.0.1::2375']
  if (options.groupAdd ?? true) args.push('--group-add', String(socketGid()))
  if (options.socket ?? true) args.push('-v', `${DOCKER_SOCKET}:/var/run/docker.sock:ro`)
  for (const [key, value] of Object.entries(options.env ?? {})) args.push('-e', `${key}=${value}`)
  args.push(...(options.args ?? []), image)
  const started = await docker(args)
  if (started.code !== 0) throw new Error(`docker run of ${image} failed: ${started.stderr}`)
  const logs = async (): Promise<string> => {
    const r = await docker(['logs', name])
    return r.stdout + r.stderr
  }
  const mapped = await docker(['port', name, '2375/tcp'])
  const port = Number(/:(\d+)\s*$/m.exec(mapped.stdout)?.[1])
  if (mapped.code !== 0 || !port) throw new Error(`no published port for ${name}: ${mapped.stdout}${mapped.stderr}\n${await logs()}`)
  const sidecar = { name, port, host: `tcp://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, logs }
  if (options.wait ?? true) {
    const deadline = Date.now() + 20_000
    for (;;) {
      const answer = await httpGet(`${sidecar.url}/_dockmoat/health`, 2000).catch(() => undefined)
      if (answer !== undefined) break
      const state = await docker(['inspect', '--format', '{{.State.Status}} {{.State.ExitCode}}', name])
      if (!state.stdout.startsWith('running') || Date.now() > deadline) {
        throw new Error(`${name} does not answer on ${sidecar.url} (${state.stdout.trim()}); its logs:\n${await logs()}`)
      }
      await sleep(150)
    }
  }
  return sidecar
}

export interface Answer { status: number; body: string; headers: http.IncomingHttpHeaders }

export function httpGet(url: string, timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: timeoutMs }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)))
    request.on('error', reject)
  })
}

/** Polls `docker inspect` until the health status is `want`; returns the last inspect state. */
export async function waitForHealth(name: string, want: 'healthy' | 'unhealthy', timeoutMs = 40_000): Promise<{ status: string; log: string }> {
  const deadline = Date.now() + timeoutMs
  let last = { status: '', log: '' }
  while (Date.now() < deadline) {
    const r = await docker(['inspect', '--format', '{{json .State.Health}}', name])
    if (r.code === 0 && r.stdout.trim() !== 'null') {
      const health = JSON.parse(r.stdout) as { Status: string; Log: { ExitCode: number; Output: string }[] }
      last = { status: health.Status, log: health.Log.map((l) => `[${l.ExitCode}] ${l.Output}`).join('\n') }
      if (health.Status === want) return last
    }
    await sleep(250)
  }
  return last
}

/** Polls `what` until it returns a truthy value or the time is up (then returns the last value). */
export async function eventually<T>(what: () => Promise<T>, timeoutMs: number, stepMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await what()
    if (value || Date.now() > deadline) return value
    await sleep(stepMs)
  }
}

/** One line for assertion messages. */
export function show(r: RunResult): string {
  return `exit ${r.code}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`
}
