// Builds `dockmoat:local` from the real Dockerfile on a machine without registry access
// (`npm run image`).
//
// The Dockerfile's two base images cannot be pulled here, so this script first makes
// local stand-ins from files on this host and passes them as build arguments:
//
//   dockmoat-build-base:local    FROM scratch: this Node 24 and npm, busybox as /bin/sh,
//                                the host's glibc, and an npm cache under /root/.npm filled
//                                by `npm ci` on the host with the same Node and npm, so that
//                                `npm ci --prefer-offline` works inside `docker build --network none`.
//   dockmoat-runtime-base:local  FROM scratch with the layout of gcr.io/distroless/nodejs24-debian12:nonroot:
//                                node at /nodejs/bin/node, its libraries, user nonroot (65532),
//                                ENTRYPOINT ["/nodejs/bin/node"], no shell.
//
// Each base carries a fingerprint label of what went into it and is rebuilt only when that
// changes; the final build reuses the builder's layer cache. Concurrent runs are serialized
// by a lock file. On a machine with registry access, a plain `docker build .` uses the real bases.

import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export const IMAGE = 'dockmoat:local'
export const BUILD_BASE = 'dockmoat-build-base:local'
export const RUNTIME_BASE = 'dockmoat-runtime-base:local'

/** Bump when the layout of the stand-ins changes, so existing ones are rebuilt. */
const LAYOUT_VERSION = '1'
const FINGERPRINT_LABEL = 'org.dockmoat.stand-in.fingerprint'
const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface BuildOptions {
  /** Tag of the final image (default dockmoat:local). */
  tag?: string
  /** Rebuild both stand-in bases even when their fingerprints match. */
  rebuildBases?: boolean
  /** Progress lines and the docker output; default: none (captured, shown only on failure). */
  log?: (line: string) => void
}

export interface BuildResult {
  image: string
  id: string
  /** Bytes, as `docker image inspect` reports them. */
  size: number
  buildBase: string
  runtimeBase: string
  /** Which bases were (re)built in this run. */
  rebuilt: string[]
  seconds: number
}

// ---------------------------------------------------------------------------------------
// Running commands

interface Ran { code: number; output: string }

function run(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; log?: (line: string) => void; input?: string } = {}): Promise<Ran> {
  const [command, ...args] = argv
  return new Promise((resolve, reject) => {
    const child = spawn(command!, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...(options.env ?? process.env), DOCKER_BUILDKIT: '0' },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let output = ''
    let partial = ''
    const take = (chunk: Buffer): void => {
      const text = chunk.toString('utf8')
      output += text
      if (options.log) {
        partial += text
        const lines = partial.split('\n')
        partial = lines.pop()!
        for (const line of lines) options.log(line)
      }
    }
    child.stdout!.on('data', take)
    child.stderr!.on('data', take)
    if (options.input !== undefined) child.stdin!.end(options.input)
    child.on('error', (error) => reject(new Error(`cannot run ${argv.join(' ')}: ${error.message}`, { cause: error })))
    child.on('close', (code) => {
      if (options.log && partial !== '') options.log(partial)
      resolve({ code: code ?? 1, output })
    })
  })
}

async function must(argv: string[], what: string, options: Parameters<typeof run>[1] = {}): Promise<string> {
  const result = await run(argv, options)
  if (result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}): ${argv.join(' ')}\n${result.output.slice(-6000)}`)
  }
  return result.output
}

async function label(image: string, name: string): Promise<string | undefined> {
  const result = await run(['docker', 'image', 'inspect', '--format', `{{index .Config.Labels "${name}"}}`, image])
  return result.code === 0 ? result.output.trim() : undefined
}

// ---------------------------------------------------------------------------------------
// What goes into the stand-ins

interface HostParts {
  node: string
  nodeVersion: string
  npmDir: string
  npmVersion: string
  registry: string
  busybox: string
  /** Absolute paths in the image -> real files on the host. */
  libraries: Map<string, string>
  certificates: string | undefined
}

function hasInterpreter(file: string): boolean {
  const fd = fs.openSync(file, 'r')
  try {
    const header = Buffer.alloc(64)
    fs.readSync(fd, header, 0, 64, 0)
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) {
      throw new Error(`${file} is not a 64-bit little-endian ELF executable`)
    }
    const offset = Number(header.readBigUInt64LE(0x20))
    const size = header.readUInt16LE(0x36)
    const count = header.readUInt16LE(0x38)
    const table = Buffer.alloc(size * count)
    fs.readSync(fd, table, 0, table.length, offset)
    for (let i = 0; i < count; i++) if (table.readUInt32LE(i * size) === 3 /* PT_INTERP */) return true
    return false
  } finally {
    fs.closeSync(fd)
  }
}

function findBusybox(): string {
  for (const candidate of ['/bin/busybox', '/usr/bin/busybox', '/usr/local/bin/busybox']) {
    let real: string
    try {
      real = fs.realpathSync(candidate)
    } catch {
      continue
    }
    if (!hasInterpreter(real)) return real
  }
  throw new Error('no statically linked busybox found (/bin/busybox): install Debian\'s busybox-static (`apt-get install -y busybox-static`; .ci/run does this)')
}

function findNpm(): string {
  const candidates: string[] = []
  if (process.env.npm_execpath) candidates.push(process.env.npm_execpath)
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'npm'))
  for (const candidate of candidates) {
    try {
      let dir = path.dirname(fs.realpathSync(candidate))
      if (path.basename(dir) === 'bin') dir = path.dirname(dir)
      const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }
      if (manifest.name === 'npm' && fs.existsSync(path.join(dir, 'bin', 'npm-cli.js'))) return dir
    } catch {
      // not this one
    }
  }
  throw new Error('cannot find npm (its bin/npm-cli.js): put npm on PATH')
}

/** `ldd` of the node binary: every library it loads, and the dynamic loader. */
function sharedLibraries(binary: string): Map<string, string> {
  const result = spawnSync('ldd', [binary], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`ldd ${binary} failed: ${result.stderr}`)
  const libraries = new Map<string, string>()
  for (const line of result.stdout.split('\n')) {
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line)
    if (match) libraries.set(match[1]!, fs.realpathSync(match[1]!))
  }
  if (![...libraries.keys()].some((name) => /ld-linux|ld-musl/.test(name))) {
    throw new Error(`ldd ${binary} named no dynamic loader:\n${result.stdout}`)
  }
  return libraries
}

/** npm runs from here with the same environment as the npm it will run inside the image. */
function npmEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  const keep = /^npm_config_(registry|cafile|ca|strict_ssl|proxy|https_proxy|noproxy|userconfig|globalconfig)$/i
  for (const [name, value] of Object.entries(process.env)) {
    // `npm run image` exports its own state (npm_lifecycle_*, npm_package_*, npm_config_cache...).
    if (/^npm_/i.test(name) && !keep.test(name)) continue
    env[name] = value
  }
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`
  return env
}

function hostParts(): HostParts {
  if (!process.version.startsWith('v24.')) {
    throw new Error(`scripts/image.ts must run on Node 24 (the image gets this very binary); this is ${process.version}. ` +
      'Use `export PATH=/opt/node24/bin:$PATH` (.ci/run installs it).')
  }
  const node = fs.realpathSync(process.execPath)
  const npmDir = findNpm()
  const npmVersion = (JSON.parse(fs.readFileSync(path.join(npmDir, 'package.json'), 'utf8')) as { version: string }).version
  const registry = spawnSync(process.execPath, [path.join(npmDir, 'bin', 'npm-cli.js'), 'config', 'get', 'registry'],
    { encoding: 'utf8', env: npmEnvironment(), cwd: os.tmpdir() }).stdout.trim() || 'https://registry.npmjs.org/'
  const certificates = ['/etc/ssl/certs/ca-certificates.crt'].find((file) => fs.existsSync(file))
  return {
    node, nodeVersion: process.version, npmDir, npmVersion, registry,
    busybox: findBusybox(), libraries: sharedLibraries(node), certificates,
  }
}

function fileIdentity(file: string): string {
  const stat = fs.statSync(file)
  return `${file}:${stat.size}:${Math.round(stat.mtimeMs)}`
}

function sha256(...parts: (string | Buffer)[]): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part).update('\0')
  return hash.digest('hex')
}

function runtimeFingerprint(host: HostParts): string {
  return sha256('runtime', LAYOUT_VERSION, host.nodeVersion, fileIdentity(host.node),
    ...[...host.libraries].map(([name, real]) => `${name}=${fileIdentity(real)}`), host.certificates ?? '')
}

function buildFingerprint(host: HostParts): string {
  return sha256('build', LAYOUT_VERSION, host.nodeVersion, fileIdentity(host.node), host.npmVersion, host.registry,
    fileIdentity(host.busybox), ...[...host.libraries].map(([name, real]) => `${name}=${fileIdentity(real)}`),
    fs.readFileSync(path.join(ROOT, 'package.json')), fs.readFileSync(path.join(ROOT, 'package-lock.json')))
}

// ---------------------------------------------------------------------------------------
// Making the stand-ins

function place(source: string, target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true })
  try {
    fs.linkSync(source, target) // same filesystem: no copy of the 120 MB node binary
  } catch {
    fs.copyFileSync(source, target)
  }
  fs.chmodSync(target, fs.statSync(source).mode & 0o7777)
}

function write(target: string, text: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(target), { recursive: true })
  fs.writeFileSync(target, text, { mode })
}

function commonRootfs(rootfs: string, host: HostParts): void {
  for (const [name, real] of host.libraries) place(real, path.join(rootfs, name))
  if (host.certificates) place(host.certificates, path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt'))
  write(path.join(rootfs, 'etc/passwd'), [
    'root:x:0:0:root:/root:/sbin/nologin',
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin',
    '',
  ].join('\n'))
  write(path.join(rootfs, 'etc/group'), ['root:x:0:', 'nobody:x:65534:', 'nonroot:x:65532:', ''].join('\n'))
  write(path.join(rootfs, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n')
  fs.mkdirSync(path.join(rootfs, 'tmp'), { recursive: true })
  fs.chmodSync(path.join(rootfs, 'tmp'), 0o1777)
}

async function imageId(tag: string): Promise<string | undefined> {
  const result = await run(['docker', 'image', 'inspect', '--format', '{{.Id}}', tag])
  return result.code === 0 ? result.output.trim() : undefined
}

/** The image `tag` named before a rebuild, once nothing else names or uses it (no --force). */
async function dropReplaced(previous: string | undefined, tag: string): Promise<void> {
  if (previous !== undefined && previous !== (await imageId(tag))) await run(['docker', 'image', 'rm', previous])
}

async function buildFromContext(context: string, tag: string, log: BuildOptions['log']): Promise<void> {
  // A unique temporary tag first: a half-built image never carries the real name.
  const temporary = `${tag.split(':')[0]}:build-${process.pid}-${randomBytes(4).toString('hex')}`
  const previous = await imageId(tag)
  try {
    await must(['docker', 'build', '--network', 'none', '--rm', '--force-rm', '-t', temporary, context], `building ${tag}`, { log })
    await must(['docker', 'tag', temporary, tag], `tagging ${tag}`)
  } finally {
    await run(['docker', 'image', 'rm', temporary])
  }
  await dropReplaced(previous, tag)
}

async function makeRuntimeBase(host: HostParts, fingerprint: string, log: BuildOptions['log']): Promise<void> {
  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-runtime-base-'))
  try {
    const rootfs = path.join(context, 'rootfs')
    commonRootfs(rootfs, host)
    place(host.node, path.join(rootfs, 'nodejs/bin/node'))
    fs.mkdirSync(path.join(context, 'home'), { mode: 0o700 })
    fs.chmodSync(path.join(context, 'home'), 0o700)
    write(path.join(context, 'Dockerfile'), [
      '# Stand-in for gcr.io/distroless/nodejs24-debian12:nonroot, made by scripts/image.ts.',
      'FROM scratch',
      'COPY rootfs/ /',
      'COPY --chown=65532:65532 home/ /home/nonroot/',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      'USER 65532',
      'WORKDIR /home/nonroot',
      'ENTRYPOINT ["/nodejs/bin/node"]',
      `LABEL ${FINGERPRINT_LABEL}="${fingerprint}" org.dockmoat.stand-in.for="gcr.io/distroless/nodejs24-debian12:nonroot" org.dockmoat.stand-in.node="${host.nodeVersion}"`,
      '',
    ].join('\n'))
    await buildFromContext(context, RUNTIME_BASE, log)
  } finally {
    fs.rmSync(context, { recursive: true, force: true })
  }
}

async function makeBuildBase(host: HostParts, fingerprint: string, log: BuildOptions['log']): Promise<void> {
  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-build-base-'))
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-npm-fill-'))
  try {
    const rootfs = path.join(context, 'rootfs')
    commonRootfs(rootfs, host)
    write(path.join(rootfs, 'etc/passwd'), [
      'root:x:0:0:root:/root:/bin/sh',
      'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin',
      '',
    ].join('\n'))
    place(host.node, path.join(rootfs, 'usr/local/bin/node'))
    fs.cpSync(host.npmDir, path.join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true })
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(rootfs, 'usr/local/bin/npm'))
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(rootfs, 'usr/local/bin/npx'))

    place(host.busybox, path.join(rootfs, 'bin/busybox'))
    const applets = spawnSync(host.busybox, ['--list-full'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
    for (const applet of applets.length > 0 ? applets : ['bin/sh', 'usr/bin/env']) {
      const target = path.join(rootfs, applet)
      if (fs.existsSync(target)) continue
      fs.mkdirSync(path.dirname(target), { recursive: true })
      fs.symlinkSync('/bin/busybox', target)
    }
    fs.mkdirSync(path.join(rootfs, 'root'), { recursive: true, mode: 0o700 })

    // Fill the npm cache exactly as `npm ci` inside the build will read it: same Node, same
    // npm, `npm ci` itself (entries made by `npm install` or another npm do not match).
    for (const file of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, file), path.join(project, file))
    const cache = path.join(rootfs, 'root/.npm')
    log?.(`filling the npm cache with \`npm ci\` (node ${host.nodeVersion}, npm ${host.npmVersion})`)
    await must([process.execPath, path.join(host.npmDir, 'bin', 'npm-cli.js'), 'ci', '--cache', cache,
      '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], 'npm ci (filling the cache)', { cwd: project, env: npmEnvironment(), log })
    fs.rmSync(path.join(cache, '_logs'), { recursive: true, force: true })

    write(path.join(context, 'Dockerfile'), [
      '# Stand-in for node:24-bookworm, made by scripts/image.ts: no network needed for `npm ci`.',
      'FROM scratch',
      'COPY rootfs/ /',
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \\',
      `    npm_config_registry=${host.registry} npm_config_offline=true \\`,
      '    npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false',
      'WORKDIR /root',
      'CMD ["/bin/sh"]',
      `LABEL ${FINGERPRINT_LABEL}="${fingerprint}" org.dockmoat.stand-in.for="node:24-bookworm" org.dockmoat.stand-in.node="${host.nodeVersion}" org.dockmoat.stand-in.npm="${host.npmVersion}"`,
      '',
    ].join('\n'))
    await buildFromContext(context, BUILD_BASE, log)
  } finally {
    fs.rmSync(context, { recursive: true, force: true })
    fs.rmSync(project, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------
// The lock and the whole build

const LOCK = path.join(os.tmpdir(), 'dockmoat-image-build.lock')

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function withLock<T>(log: BuildOptions['log'], body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15 * 60_000
  let told = false
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    try {
      const owner = Number(fs.readFileSync(LOCK, 'utf8'))
      if ((owner > 0 && !alive(owner)) || Date.now() - fs.statSync(LOCK).mtimeMs > 20 * 60_000) fs.unlinkSync(LOCK)
    } catch {
      // vanished or half-written: try again
    }
    if (!told) { log?.(`waiting for another image build (${LOCK})`); told = true }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK}; remove it if no build is running`)
    await sleep(250)
  }
  try {
    return await body()
  } finally {
    try {
      if (fs.readFileSync(LOCK, 'utf8') === String(process.pid)) fs.unlinkSync(LOCK)
    } catch {
      // already gone
    }
  }
}

function gitRevision(): string {
  const result = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' })
  return result.status === 0 ? result.stdout.trim() : 'unknown'
}

/**
 * Builds the image from the repository's Dockerfile with local stand-ins for its base
 * images (made or reused first). Idempotent: unchanged inputs cost a few seconds.
 */
export async function buildImage(options: BuildOptions = {}): Promise<BuildResult> {
  const started = Date.now()
  const tag = options.tag ?? IMAGE
  const log = options.log
  const ping = await run(['docker', 'version', '--format', '{{.Server.Version}}'])
  if (ping.code !== 0) throw new Error(`dockerd does not answer (docker version): ${ping.output.trim()}. Start it (.ci/run does).`)

  return withLock(log, async () => {
    const host = hostParts()
    const rebuilt: string[] = []
    const wanted: [string, string, (h: HostParts, f: string, l: BuildOptions['log']) => Promise<void>][] = [
      [RUNTIME_BASE, runtimeFingerprint(host), makeRuntimeBase],
      [BUILD_BASE, buildFingerprint(host), makeBuildBase],
    ]
    for (const [base, fingerprint, make] of wanted) {
      if (!options.rebuildBases && (await label(base, FINGERPRINT_LABEL)) === fingerprint) {
        log?.(`${base} is up to date`)
        continue
      }
      log?.(`making ${base}`)
      await make(host, fingerprint, log)
      rebuilt.push(base)
    }

    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
    log?.(`docker build -t ${tag} (BUILD_IMAGE=${BUILD_BASE}, RUNTIME_IMAGE=${RUNTIME_BASE})`)
    const previous = await imageId(tag)
    await must(['docker', 'build', '--network', 'none', '--rm', '--force-rm',
      '--build-arg', `BUILD_IMAGE=${BUILD_BASE}`,
      '--build-arg', `RUNTIME_IMAGE=${RUNTIME_BASE}`,
      '--build-arg', `VERSION=${version}`,
      '--build-arg', `REVISION=${gitRevision()}`,
      '-t', tag, '.'], `docker build of ${tag}`, { log })
    await dropReplaced(previous, tag)

    const smoke = await run(['docker', 'run', '--rm', '--network', 'none', tag, 'check', 'GET', '/version'])
    if (smoke.code !== 0 || !smoke.output.startsWith('allowed')) {
      throw new Error(`${tag} was built but does not run: \`docker run --rm ${tag} check GET /version\` gave exit ${smoke.code}: ${smoke.output}`)
    }
    const [id, size] = (await must(['docker', 'image', 'inspect', '--format', '{{.Id}} {{.Size}}', tag], 'inspecting the image')).trim().split(' ')
    return {
      image: tag, id: id!, size: Number(size), buildBase: BUILD_BASE, runtimeBase: RUNTIME_BASE, rebuilt,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    }
  })
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const tagAt = args.indexOf('--tag')
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('usage: node scripts/image.ts [--tag NAME:TAG] [--rebuild-bases]\n')
    process.exit(0)
  }
  try {
    const result = await buildImage({
      tag: tagAt >= 0 ? args[tagAt + 1] : undefined,
      rebuildBases: args.includes('--rebuild-bases'),
      log: (line) => process.stdout.write(`${line}\n`),
    })
    process.stdout.write(`\n${result.image} ${result.id.slice(0, 19)} size ${megabytes(result.size)} ` +
      `(built in ${result.seconds} s; bases rebuilt: ${result.rebuilt.join(', ') || 'none'})\n`)
  } catch (error) {
    process.stderr.write(`image: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
}
