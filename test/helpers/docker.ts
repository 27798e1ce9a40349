// Shared helpers for integration tests that talk to the REAL dockerd.
// Never mocks: every helper here runs the real docker CLI or speaks HTTP to the
// real daemon socket. When dockerd is missing, helpers throw (tests fail, never skip).

import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  accessSync, closeSync, constants as fsConstants, copyFileSync, mkdtempSync, openSync, readFileSync,
  readSync, realpathSync, rmSync, statSync, unlinkSync, writeFileSync,
} from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** Path of the real dockerd socket (env DOCKER_SOCKET, default /var/run/docker.sock). */
export const DOCKER_SOCKET: string = process.env.DOCKER_SOCKET || '/var/run/docker.sock'

/** DOCKER_HOST value that points straight at the real daemon (no proxy in between). */
export const DOCKER_DIRECT_HOST: string = `unix://${DOCKER_SOCKET}`

/** Name of the local test image built (without pulling) by testImage(). */
export const TEST_IMAGE = 'dockmoat-test-busybox:latest'

const START_HINT =
  'Start it with `sudo dockerd > /var/log/dockerd.log 2>&1 &` ' +
  '(Debian package `docker.io`), or run `.ci/run`, which installs and starts it.'

/**
 * Pings dockerd (`GET /_ping` over the unix socket). Throws a descriptive Error
 * when the daemon cannot be reached: tests that need Docker must fail, not skip.
 */
export async function requireDocker(socketPath: string = DOCKER_SOCKET): Promise<void> {
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 5000 }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { body += c })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error('timed out after 5000 ms')))
      req.on('error', reject)
      req.end()
    })
    if (status !== 200) throw new Error(`GET /_ping answered HTTP ${status}: ${body.slice(0, 200)}`)
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new Error(`dockerd is not reachable at ${socketPath}: ${reason}. ${START_HINT}`, { cause: err })
  }
}

export interface RunOptions {
  /** DOCKER_HOST for the client; defaults to the real daemon (unix://DOCKER_SOCKET). */
  host?: string
  /** Written to the child's stdin (stdin is then closed). */
  input?: string | Buffer
  /** Kill the child after this many ms (default 60 000). */
  timeoutMs?: number
  /** Extra environment variables (applied last). */
  env?: Record<string, string>
}

export interface RunResult {
  /** Exit code; 124 when killed by the timeout, 128+N when killed by signal N. */
  code: number
  stdout: string
  stderr: string
  /** True when the helper killed the process because timeoutMs elapsed. */
  timedOut?: boolean
}

function runCommand(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv
  if (!cmd) throw new Error('runCommand: empty argv')
  const timeoutMs = opts.timeoutMs ?? 60_000
  const env: Record<string, string | undefined> = {
    ...process.env,
    DOCKER_BUILDKIT: '0',
    DOCKER_HOST: opts.host ?? DOCKER_DIRECT_HOST,
    ...opts.env,
  }
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let timedOut = false
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.stdin.on('error', () => { /* child may exit before reading stdin (EPIPE) */ })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const hint = e.code === 'ENOENT'
        ? ` (\`${cmd}\` is not on PATH; .ci/run installs docker.io and docker-compose)`
        : ''
      reject(new Error(`cannot run ${argv.join(' ')}: ${e.message}${hint}`, { cause: e }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      let stderr = Buffer.concat(err).toString('utf8')
      let exit: number
      if (timedOut) {
        exit = 124
        stderr += `\n[test helper] killed \`${argv.join(' ')}\` after ${timeoutMs} ms timeout\n`
      } else if (code !== null) {
        exit = code
      } else {
        const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }
        exit = 128 + (signal ? (signals[signal] ?? 0) : 0)
      }
      const result: RunResult = { code: exit, stdout: Buffer.concat(out).toString('utf8'), stderr }
      if (timedOut) result.timedOut = true
      resolve(result)
    })
    if (opts.input !== undefined) child.stdin.end(opts.input)
    else child.stdin.end()
  })
}

/**
 * Runs the real docker CLI. Never throws on a non-zero exit (inspect `code`).
 * DOCKER_BUILDKIT=0 is always set; DOCKER_HOST is `host` when given, otherwise
 * the real daemon. Throws only if `docker` itself cannot be started.
 */
export async function docker(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand(['docker', ...args], opts)
}

/** Runs compose (see composeCommand()) with the same semantics as docker(). */
export async function compose(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand([...composeCommand(), ...args], opts)
}

// ---------------------------------------------------------------------------
// Test image

/** True if `path` is an ELF executable without a PT_INTERP program header (statically linked). */
function isStaticElf(path: string): boolean {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const hdr = Buffer.alloc(64)
    if (readSync(fd, hdr, 0, 64, 0) < 52) return false
    if (hdr.readUInt32BE(0) !== 0x7f454c46) return false // "\x7fELF"
    const is64 = hdr[4] === 2
    const le = hdr[5] === 1
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o))
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o))
    const phoff = is64 ? Number(le ? hdr.readBigUInt64LE(0x20) : hdr.readBigUInt64BE(0x20)) : u32(hdr, 0x1c)
    const phentsize = u16(hdr, is64 ? 0x36 : 0x2a)
    const phnum = u16(hdr, is64 ? 0x38 : 0x2c)
    if (phnum === 0 || phentsize < 4) return false
    const ph = Buffer.alloc(phentsize * phnum)
    if (readSync(fd, ph, 0, ph.length, phoff) !== ph.length) return false
    for (let i = 0; i < phnum; i++) {
      if (u32(ph, i * phentsize) === 3 /* PT_INTERP */) return false
    }
    return true
  } catch {
    return false
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

function findStaticBusybox(): string | undefined {
  for (const candidate of ['/bin/busybox', '/usr/bin/busybox', '/usr/local/bin/busybox', '/bin/busybox.static']) {
    let real: string
    try {
      real = realpathSync(candidate)
    } catch {
      continue
    }
    if (isStaticElf(real)) return real
  }
  return undefined
}

async function imageExists(ref: string): Promise<boolean> {
  const r = await docker(['image', 'inspect', '--format', '{{.Id}}', ref], { timeoutMs: 30_000 })
  return r.code === 0
}

let testImagePromise: Promise<string> | undefined

/**
 * Returns `dockmoat-test-busybox:latest`, a tiny local image with busybox applets
 * (sh, cat, sleep, echo, wc, true, ls, head, dd, nc, ...) and CMD ["sh"].
 * Built FROM scratch with the host's static busybox (Debian `busybox-static`), no pull.
 * Safe to call concurrently from several processes: builds are serialized by a lock
 * file in the temp dir, and each build goes to a unique temporary tag before tagging.
 */
export async function testImage(): Promise<string> {
  testImagePromise ??= ensureTestImage().catch((e: unknown) => {
    testImagePromise = undefined
    throw e
  })
  return testImagePromise
}

const LOCK_FILE = join(tmpdir(), 'dockmoat-test-busybox.lock')

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Cross-process lock (O_EXCL file holding the owner's pid); stale locks are broken. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 5 * 60_000
  for (;;) {
    try {
      writeFileSync(LOCK_FILE, String(process.pid), { flag: 'wx' })
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    try {
      const owner = Number(readFileSync(LOCK_FILE, 'utf8'))
      const age = Date.now() - statSync(LOCK_FILE).mtimeMs
      if ((owner > 0 && !pidAlive(owner)) || age > 10 * 60_000) unlinkSync(LOCK_FILE)
    } catch {
      // lock vanished or half-written: retry
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${LOCK_FILE} (remove it if stale)`)
    await sleep(200)
  }
  try {
    return await fn()
  } finally {
    try {
      if (readFileSync(LOCK_FILE, 'utf8') === String(process.pid)) unlinkSync(LOCK_FILE)
    } catch {
      // already gone
    }
  }
}

async function ensureTestImage(): Promise<string> {
  await requireDocker()
  if (await imageExists(TEST_IMAGE)) return TEST_IMAGE
  return withLock(async () => {
    // Another process may have built it while we waited for the lock.
    if (await imageExists(TEST_IMAGE)) return TEST_IMAGE
    return buildTestImage()
  })
}

async function buildTestImage(): Promise<string> {
  const busybox = findStaticBusybox()
  if (busybox) {
    const tmpTag = `dockmoat-test-busybox:build-${process.pid}-${randomBytes(4).toString('hex')}`
    const dir = mkdtempSync(join(tmpdir(), 'dockmoat-test-image-'))
    try {
      copyFileSync(busybox, join(dir, 'busybox'))
      writeFileSync(join(dir, 'Dockerfile'), [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && /bin/busybox mkdir -p /tmp /root && /bin/busybox chmod 1777 /tmp"]',
        'ENV PATH=/bin',
        'LABEL org.dockmoat.test=true',
        'CMD ["sh"]',
        '',
      ].join('\n'))
      const build = await docker(['build', '--network', 'none', '-t', tmpTag, dir], { timeoutMs: 180_000 })
      if (build.code !== 0) {
        throw new Error(`building ${TEST_IMAGE} from ${busybox} failed (exit ${build.code}):\n${build.stdout}\n${build.stderr}`)
      }
      const tag = await docker(['tag', tmpTag, TEST_IMAGE])
      if (tag.code !== 0 && !(await imageExists(TEST_IMAGE))) {
        throw new Error(`docker tag ${tmpTag} ${TEST_IMAGE} failed: ${tag.stderr}`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await docker(['image', 'rm', tmpTag], { timeoutMs: 30_000 }).catch(() => undefined)
    }
    return TEST_IMAGE
  }

  // No static busybox on this host: try a registry (will fail on CI machines, which have none).
  const pull = await docker(['pull', 'busybox:1.36'], { timeoutMs: 120_000 })
  if (pull.code === 0) {
    const tag = await docker(['tag', 'busybox:1.36', TEST_IMAGE])
    if (tag.code === 0 || (await imageExists(TEST_IMAGE))) return TEST_IMAGE
    throw new Error(`docker tag busybox:1.36 ${TEST_IMAGE} failed: ${tag.stderr}`)
  }
  throw new Error(
    `cannot provide test image ${TEST_IMAGE}: no static busybox found at /bin/busybox or /usr/bin/busybox ` +
    `and \`docker pull busybox:1.36\` failed (${pull.stderr.trim()}). ` +
    'Install Debian\'s `busybox-static` package (`apt-get install -y busybox-static`; .ci/run does this).',
  )
}

// ---------------------------------------------------------------------------
// Names and cleanup

let nameCounter = 0

/**
 * A unique, docker-name-safe name (`dockmoat-test-<prefix>-<pid>-<n>-<random>`),
 * lowercase [a-z0-9_-] only, so it is also a valid compose project name.
 */
export function uniqueName(prefix: string): string {
  let p = prefix.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[-_]+|[-_]+$/g, '')
  p = p.replace(/^dockmoat-test-?/, '').slice(0, 40).replace(/[-_]+$/, '')
  const suffix = `${process.pid.toString(36)}-${(nameCounter++).toString(36)}-${randomBytes(3).toString('hex')}`
  return p ? `dockmoat-test-${p}-${suffix}` : `dockmoat-test-${suffix}`
}

/**
 * Best-effort forced removal, directly against dockerd (never through a proxy).
 * Never throws; missing objects are ignored.
 */
export async function cleanup(kind: 'container' | 'volume' | 'network' | 'image', names: string[]): Promise<void> {
  const list = names.filter((n) => n.length > 0)
  if (list.length === 0) return
  const args: Record<typeof kind, string[]> = {
    container: ['rm', '--force', '--volumes'],
    volume: ['volume', 'rm', '--force'],
    network: ['network', 'rm'],
    image: ['image', 'rm', '--force'],
  }
  try {
    await docker([...args[kind], ...list], { host: DOCKER_DIRECT_HOST, timeoutMs: 60_000 })
  } catch {
    // best effort
  }
}

// ---------------------------------------------------------------------------
// Compose

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const full = join(dir, bin)
    try {
      accessSync(full, fsConstants.X_OK)
      return full
    } catch {
      // keep looking
    }
  }
  return undefined
}

let composeCache: string[] | undefined

/**
 * The compose command to use: ['docker-compose'] if installed (Debian's 1.29),
 * else ['docker', 'compose'] if the v2 plugin works, else throws.
 */
export function composeCommand(): string[] {
  if (composeCache) return [...composeCache]
  if (onPath('docker-compose')) {
    composeCache = ['docker-compose']
  } else {
    const r = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 30_000 })
    if (r.status === 0) composeCache = ['docker', 'compose']
  }
  if (!composeCache) {
    throw new Error(
      'no compose found: neither `docker-compose` is on PATH nor does `docker compose version` work. ' +
      'Install Debian\'s `docker-compose` package (`apt-get install -y docker-compose`; .ci/run does this).',
    )
  }
  return [...composeCache]
}

export interface ApiReply { status: number; text: string; json: unknown }

/**
 * One HTTP request to dockerd's socket, or to a proxy on 127.0.0.1 when `port` is given;
 * a string body is sent as it is, anything else as JSON. The answer is read whole.
 */
export function api(method: string, path: string, body?: unknown, port?: number, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<ApiReply> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  const where = port === undefined ? { socketPath: DOCKER_SOCKET } : { host: '127.0.0.1', port }
  return new Promise<ApiReply>((resolve, reject) => {
    const req = request({
      ...where, method, path, timeout: timeoutMs,
      headers: { ...headers, ...(payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }) },
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => {
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, text, json })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** `GET /containers/{ref}/json` on dockerd's socket (never through a proxy); undefined when there is no such container. */
export async function inspectContainer<T>(ref: string): Promise<T | undefined> {
  const r = await api('GET', `/containers/${encodeURIComponent(ref)}/json`)
  if (r.status === 404) return undefined
  if (r.status !== 200) throw new Error(`inspect ${ref}: HTTP ${r.status} ${r.text}`)
  return r.json as T
}
