// OWNER with real CI clients, against the REAL dockerd: testcontainers (and its reaper's
// cleanup calls), the docker CLI calls of Jenkins' `docker.inside`, and the GitLab runner
// docker executor's cache containers. Every outcome is read back from dockerd itself,
// straight on its socket.
//
// The minimal grants found here, per client (PING=1 is dockmoat's default; VERSION and
// EVENTS are switched off in every proxy below to show that no client needs them):
//   testcontainers start/exec/logs/stop  CONTAINERS POST EXEC ALLOW_LOGS IMAGES INFO
//     (GET /info when its client starts, GET /images/{name}/json before every start; it
//      sends no /_ping, so PING=0 works too)
//   its Network and commit               + NETWORKS, + COMMIT
//   the reaper's (Ryuk's) cleanup        PING CONTAINERS POST NETWORKS VOLUMES IMAGES
//   Jenkins docker.inside (CLI)          PING CONTAINERS POST EXEC ALLOW_TOP
//     (the untyped `docker inspect` of a name that is not there walks images, networks,
//      volumes, /info and plugins: only with IMAGES NETWORKS VOLUMES INFO PLUGINS does the
//      miss read "No such object", as dockerd says it; without them it is a refusal)
//   GitLab runner cache containers (CLI) PING CONTAINERS POST
import t from 'tap'
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { GenericContainer, Network } from 'testcontainers'
import { DOCKER_DIRECT_HOST, api as dockerApi, cleanup, docker, requireDocker, testImage, inspectContainer, uniqueName, type RunResult } from '../helpers/docker.ts'
import { startProxy, type LogLine, type RunningProxy } from '../helpers/proxy.ts'

t.setTimeout(300_000)
const CLI_TIMEOUT = 120_000

await requireDocker()
const IMAGE = await testImage()

const RUN = `${process.pid.toString(36)}-${randomBytes(3).toString('hex')}`
const OWNER_LABEL = 'dockmoat.owner'
const SESSION_LABEL = 'org.testcontainers.session-id'
/** Put on what this file makes straight on the socket, so the teardown finds it all. */
const RUN_LABEL = 'org.dockmoat.test.owner-ci'
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const HEX64 = /[0-9a-f]{64}/

/** Sections no client here needs: off in every proxy, so a need for one would show. */
const OFF = { VERSION: '0', EVENTS: '0' }
const TESTCONTAINERS_MIN: Record<string, string> = { CONTAINERS: '1', POST: '1', EXEC: '1', ALLOW_LOGS: '1', IMAGES: '1', INFO: '1' }
const RYUK: Record<string, string> = { PING: '1', CONTAINERS: '1', POST: '1', NETWORKS: '1', VOLUMES: '1', IMAGES: '1' }
const JENKINS: Record<string, string> = { PING: '1', CONTAINERS: '1', POST: '1', EXEC: '1', ALLOW_TOP: '1' }
const CLI_LOOKUPS: Record<string, string> = { IMAGES: '1', NETWORKS: '1', VOLUMES: '1', INFO: '1', PLUGINS: '1' }
const RUNNER: Record<string, string> = { PING: '1', CONTAINERS: '1', POST: '1' }

// ---------------------------------------------------------------------------
// Bookkeeping and cleanup (directly against dockerd, even when a test failed)

const owners: string[] = []
const names = { container: [] as string[], volume: [] as string[], network: [] as string[], image: [] as string[] }
const proxies: RunningProxy[] = []

function owner(prefix: string): string {
  const id = `${prefix}-${RUN}`
  owners.push(id)
  return id
}

async function proxy(env: Record<string, string>): Promise<RunningProxy> {
  const p = await startProxy({ ...OFF, ...env })
  proxies.push(p)
  return p
}

t.teardown(async () => {
  const terms = [...owners.map((o) => `${OWNER_LABEL}=${o}`), `${RUN_LABEL}=${RUN}`]
  const containers: string[] = []
  const networks: string[] = []
  const volumes: string[] = []
  const images: string[] = []
  for (const term of terms) {
    const f = filters({ label: [term] })
    const c = await api('GET', `/containers/json?all=1&filters=${f}`).catch(() => undefined)
    if (Array.isArray(c?.json)) containers.push(...(c.json as { Id: string }[]).map((x) => x.Id))
    const n = await api('GET', `/networks?filters=${f}`).catch(() => undefined)
    if (Array.isArray(n?.json)) networks.push(...(n.json as { Id: string }[]).map((x) => x.Id))
    const i = await api('GET', `/images/json?filters=${f}`).catch(() => undefined)
    if (Array.isArray(i?.json)) images.push(...(i.json as { Id: string }[]).map((x) => x.Id))
  }
  await cleanup('container', [...names.container, ...containers])
  for (const term of terms) {
    const v = await api('GET', `/volumes?filters=${filters({ label: [term] })}`).catch(() => undefined)
    volumes.push(...((v?.json as { Volumes?: { Name: string }[] | null } | undefined)?.Volumes ?? []).map((x) => x.Name))
  }
  await cleanup('volume', [...names.volume, ...volumes])
  for (const n of [...names.network, ...networks]) await cleanup('network', [n])
  await cleanup('image', [...names.image, ...images])
  for (const p of proxies) await p.stop().catch(() => undefined)
})

// ---------------------------------------------------------------------------
// HTTP to dockerd's socket (default) or to a proxy (`port`)

interface Reply { status: number; text: string; json: unknown }

const api = (method: string, path: string, body?: unknown, port?: number): Promise<Reply> => dockerApi(method, path, body, port)

const filters = (f: Record<string, string[]>): string => encodeURIComponent(JSON.stringify(f))

interface Mount { Type?: string; Name?: string; Destination?: string }
interface ContainerInfo {
  Id: string
  Name: string
  State: { Status: string; Running: boolean }
  Config: { Labels: Record<string, string> | null; User: string; WorkingDir: string; Tty: boolean }
  Mounts: Mount[]
}

/** dockerd's own inspect of a container, on its socket. */
const inspect = (ref: string): Promise<ContainerInfo | undefined> => inspectContainer<ContainerInfo>(ref)

/** Whether dockerd has the object (`GET` answers 200), on its socket. */
async function exists(path: string): Promise<boolean> {
  const r = await api('GET', path)
  if (r.status !== 200 && r.status !== 404) throw new Error(`GET ${path}: HTTP ${r.status} ${r.text}`)
  return r.status === 200
}

/** IDs of the containers (all states) dockerd holds with every one of these labels. */
async function containersLabelled(...labels: string[]): Promise<string[]> {
  const r = await api('GET', `/containers/json?all=1&filters=${filters({ label: labels })}`)
  if (r.status !== 200) throw new Error(`listing containers: ${r.status} ${r.text}`)
  return (r.json as { Id: string }[]).map((c) => c.Id).sort()
}

const via = (p: RunningProxy, args: string[]): Promise<RunResult> => docker(args, { host: p.dockerHost, timeoutMs: CLI_TIMEOUT })
const direct = (args: string[]): Promise<RunResult> => docker(args, { host: DOCKER_DIRECT_HOST, timeoutMs: CLI_TIMEOUT })

/** The requests a proxy logged (its log lines arrive through a pipe: give them a moment). */
async function requests(p: RunningProxy): Promise<LogLine[]> {
  await new Promise((resolve) => setTimeout(resolve, 300))
  return p.logs().filter((l) => l.msg === 'request' || l.msg === 'refused')
}

// ---------------------------------------------------------------------------
// 1. testcontainers

// testcontainers keeps one client, one image cache and one session per process, all
// made on first use: this process talks to one proxy only, and the grant search runs
// each set in a fresh node.
const TC_OWNER = owner('tc')
const tcProxy = await proxy({ OWNER: TC_OWNER, ...TESTCONTAINERS_MIN, NETWORKS: '1', COMMIT: '1', VOLUMES: '1' })
process.env.DOCKER_HOST = tcProxy.dockerHost
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'

/** start, exec, logs, stop: what a testcontainers test does with a container. */
const LIFECYCLE = `
const { GenericContainer } = await import('testcontainers')
const c = await new GenericContainer(process.env.IMAGE).withCommand(['sh', '-c', 'echo tc-log-line; exec sleep 300']).start()
console.log('TC-STARTED ' + c.getId())
const r = await c.exec(['sh', '-c', 'echo tc-exec-ok'])
if (r.exitCode !== 0 || r.output.trim() !== 'tc-exec-ok') throw new Error('exec: ' + JSON.stringify(r))
const logs = await c.logs()
await new Promise((resolve, reject) => {
  let text = ''
  const timer = setTimeout(() => reject(new Error('no log line in ' + JSON.stringify(text))), 15000)
  logs.on('data', (d) => { text += d; if (text.includes('tc-log-line')) { clearTimeout(timer); resolve() } })
  logs.on('error', reject)
})
logs.destroy()
await c.stop({ timeout: 1000 })
console.log('TC-STOPPED ' + c.getId())
process.exit(0)
`

function lifecycleIn(p: RunningProxy): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', LIFECYCLE], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', DOCKER_HOST: p.dockerHost, TESTCONTAINERS_RYUK_DISABLED: 'true', IMAGE },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? 137, stdout, stderr })
    })
  })
}

t.test('testcontainers through OWNER: the minimal grants, each one needed', async (t) => {
  const sets: [string, Record<string, string>][] = [['all six', TESTCONTAINERS_MIN]]
  for (const grant of Object.keys(TESTCONTAINERS_MIN)) {
    const { [grant]: _dropped, ...rest } = TESTCONTAINERS_MIN
    sets.push([grant, rest])
  }
  const runs = await Promise.all(sets.map(async ([without, grants]) => {
    const id = owner(`tc-min-${without === 'all six' ? 'all' : without.toLowerCase().replace('_', '')}`)
    // PING=0 too: testcontainers sends no /_ping.
    const p = await proxy({ OWNER: id, PING: '0', ...grants })
    return { without, id, p, result: await lifecycleIn(p) }
  }))
  for (const { without, id, p, result } of runs) {
    const logged = await requests(p)
    if (without === 'all six') {
      t.equal(result.code, 0, `with ${Object.keys(TESTCONTAINERS_MIN).join(' ')} (PING VERSION EVENTS off) start, exec, logs and stop succeed (stderr: ${result.stderr.trim().slice(0, 600)})`)
      const started = /TC-STARTED ([0-9a-f]{64})/.exec(result.stdout)?.[1]
      t.match(result.stdout, `TC-STOPPED ${started}`, 'and the container was stopped')
      t.same(logged.filter((l) => l.decision !== 'allow'), [], 'nothing was refused')
      for (const route of ['GET /info', 'GET /images/{name}/json', 'POST /containers/create', 'POST /containers/{name}/exec', 'GET /containers/{name}/logs', 'DELETE /containers/{name}']) {
        t.ok(logged.some((l) => l.route === route), `it used ${route}`)
      }
      t.equal(started === undefined ? true : await exists(`/containers/${started}/json`), false, 'dockerd no longer has the container (testcontainers removed it)')
      t.same(await containersLabelled(`${OWNER_LABEL}=${id}`), [], 'and nothing of this owner is left')
    } else {
      t.not(result.code, 0, `without ${without}=1 testcontainers fails`)
      const refused = logged.filter((l) => l.decision === 'deny').map((l) => String(l.reason))
      t.ok(refused.some((reason) => new RegExp(`: set [^;]*\\b${without}=1`).test(reason)), `because dockmoat refused a call for want of ${without}=1 (refused: ${JSON.stringify(refused)})`)
    }
  }
})

t.test('testcontainers through OWNER: a container labelled for the owner and the session; exec, logs, stop', async (t) => {
  const started = await new GenericContainer(IMAGE).withCommand(['sh', '-c', 'echo tc-hello-log; exec sleep 300']).start()
  t.teardown(() => cleanup('container', [started.getId()]))
  const info = await inspect(started.getId())
  t.ok(info, 'dockerd has the container')
  const labels = info?.Config.Labels ?? {}
  t.equal(labels[OWNER_LABEL], TC_OWNER, `it carries ${OWNER_LABEL}=${TC_OWNER}`)
  t.equal(labels['org.testcontainers'], 'true', 'and testcontainers\' own org.testcontainers=true')
  t.match(labels[SESSION_LABEL], /^[0-9a-f]{6,}/, `and ${SESSION_LABEL}`)
  t.equal(labels[SESSION_LABEL], started.getLabels()[SESSION_LABEL], 'the session id testcontainers set')
  t.equal(info?.State.Running, true, 'it runs')

  const exec = await started.exec(['sh', '-c', 'echo "exec as $(id -u)"'])
  t.same({ exitCode: exec.exitCode, output: exec.output }, { exitCode: 0, output: 'exec as 0\n' }, 'exec runs in it')
  const stream = await started.logs()
  const text = await new Promise<string>((resolve, reject) => {
    let got = ''
    const timer = setTimeout(() => reject(new Error(`no log line in ${JSON.stringify(got)}`)), 15_000)
    stream.on('data', (d: string | Buffer) => {
      got += d.toString()
      if (got.includes('tc-hello-log')) { clearTimeout(timer); resolve(got) }
    })
    stream.on('error', reject)
  })
  stream.destroy()
  t.match(text, 'tc-hello-log', 'its logs come through')

  await started.stop({ timeout: 1000 })
  t.equal(await exists(`/containers/${started.getId()}/json`), false, 'stopped and removed: dockerd no longer has it')
})

t.test('the reaper\'s cleanup through OWNER removes exactly this session\'s objects; another owner\'s with the same session label survive', async (t) => {
  // This session's objects, made by testcontainers (and a volume as a compose file would label it).
  const network = await new Network().start()
  names.network.push(network.getId())
  const container = await new GenericContainer(IMAGE).withCommand(['sleep', '300']).withNetwork(network).start()
  names.container.push(container.getId())
  const session = container.getLabels()[SESSION_LABEL] ?? ''
  t.match(session, /^[0-9a-f]{6,}/, 'testcontainers labelled the container with its session id')
  const repo = `dockmoat-test-tc-${RUN}`
  const imageId = await container.commit({ repo, tag: 'session', deleteOnExit: true })
  names.image.push(imageId)
  const volume = uniqueName('tc-vol')
  names.volume.push(volume)
  const sessionLabels = { 'org.testcontainers': 'true', [SESSION_LABEL]: session }
  const madeVolume = await api('POST', '/volumes/create', { Name: volume, Labels: sessionLabels }, tcProxy.port)
  t.equal(madeVolume.status, 201, `a volume with the session label (${madeVolume.text.trim()})`)

  // A second owner's objects, carrying the very same testcontainers session label.
  const otherOwner = owner('tc-other')
  const other = await proxy({ OWNER: otherOwner, CONTAINERS: '1', POST: '1', NETWORKS: '1', VOLUMES: '1', COMMIT: '1' })
  const otherContainer = await api('POST', '/containers/create', { Image: IMAGE, Cmd: ['sleep', '300'], Labels: sessionLabels }, other.port)
  t.equal(otherContainer.status, 201, `the other owner creates a container (${otherContainer.text.trim()})`)
  const otherId = (otherContainer.json as { Id: string }).Id
  names.container.push(otherId)
  t.equal((await api('POST', `/containers/${otherId}/start`, undefined, other.port)).status, 204, 'and starts it')
  const otherNet = await api('POST', '/networks/create', { Name: uniqueName('tc-other-net'), Labels: sessionLabels }, other.port)
  t.equal(otherNet.status, 201, `a network (${otherNet.text.trim()})`)
  const otherNetId = (otherNet.json as { Id: string }).Id
  names.network.push(otherNetId)
  const otherVolume = uniqueName('tc-other-vol')
  names.volume.push(otherVolume)
  t.equal((await api('POST', '/volumes/create', { Name: otherVolume, Labels: sessionLabels }, other.port)).status, 201, 'a volume')
  const otherImage = await api('POST', `/commit?container=${otherId}&repo=${repo}&tag=other`, {}, other.port)
  t.equal(otherImage.status, 201, `an image (${otherImage.text.trim()})`)
  const otherImageId = (otherImage.json as { Id: string }).Id
  names.image.push(otherImageId)

  // Without OWNER the reaper's filter matches both sessions' objects: the test means something.
  const sessionFilter = filters({ label: [`${SESSION_LABEL}=${session}`] })
  t.same(await containersLabelled(`${SESSION_LABEL}=${session}`), [container.getId(), otherId].sort(), 'directly, dockerd finds both owners\' containers by the session label')
  for (const [path, mine, theirs] of [
    [`/networks?filters=${sessionFilter}`, network.getId(), otherNetId],
    [`/images/json?filters=${sessionFilter}`, imageId, otherImageId],
  ] as const) {
    const found = ((await api('GET', path)).json as { Id: string }[]).map((x) => x.Id)
    t.ok(found.includes(mine) && found.includes(theirs), `directly, ${path.split('?')[0]} finds both owners' objects`)
  }
  const labelled = await api('GET', `/images/${imageId}/json`)
  t.equal((labelled.json as { Config: { Labels: Record<string, string> } }).Config.Labels[OWNER_LABEL], TC_OWNER, 'the committed image carries the owner label')

  // Ryuk, as it talks: the Go client's ping, then its label filter on every list, then removal by ID.
  const ryuk = await proxy({ OWNER: TC_OWNER, ...RYUK })
  t.equal((await api('HEAD', '/_ping', undefined, ryuk.port)).status, 200, 'ping (API version negotiation)')
  const ryukFilter = encodeURIComponent(JSON.stringify({ label: { [`${SESSION_LABEL}=${session}`]: true } }))
  const list = async (path: string): Promise<unknown> => {
    const r = await api('GET', path, undefined, ryuk.port)
    t.equal(r.status, 200, `GET ${path.split('?')[0]} answers 200 (${r.text.slice(0, 200)})`)
    return r.json
  }
  const containers = ((await list(`/v1.41/containers/json?all=1&filters=${ryukFilter}`)) as { Id: string }[]).map((c) => c.Id)
  const networks = ((await list(`/v1.41/networks?filters=${ryukFilter}`)) as { Id: string }[]).map((n) => n.Id)
  const volumes = (((await list(`/v1.41/volumes?filters=${ryukFilter}`)) as { Volumes: { Name: string }[] | null }).Volumes ?? []).map((v) => v.Name)
  const images = ((await list(`/v1.41/images/json?filters=${ryukFilter}`)) as { Id: string }[]).map((i) => i.Id)
  t.same(containers, [container.getId()], 'the reaper finds this session\'s container only')
  t.same(networks, [network.getId()], 'its network only')
  t.same(volumes, [volume], 'its volume only')
  t.ok(images.includes(imageId), 'and its image')
  // Image reads stay open with OWNER (base images are everyone's), so the image list may
  // hold the other owner's image too; removing it must answer as for a missing one.
  t.comment(`the image list through the proxy ${images.includes(otherImageId) ? 'also holds' : 'does not hold'} the other owner's image`)

  for (const id of containers) t.equal((await api('DELETE', `/v1.41/containers/${id}?force=1&v=1`, undefined, ryuk.port)).status, 204, 'container removed (force, v)')
  for (const id of networks) t.equal((await api('DELETE', `/v1.41/networks/${id}`, undefined, ryuk.port)).status, 204, 'network removed')
  for (const name of volumes) t.equal((await api('DELETE', `/v1.41/volumes/${name}?force=1`, undefined, ryuk.port)).status, 204, 'volume removed (force)')
  for (const id of images) {
    const r = await api('DELETE', `/v1.41/images/${id}`, undefined, ryuk.port)
    if (id !== otherImageId) t.equal(r.status, 200, `image ${id} removed (${r.text.slice(0, 200)})`)
  }
  // Ryuk removes every ID it listed; whatever its list held, the other owner's objects must
  // answer as dockerd answers for missing ones of their kind (asked directly, on its socket).
  const randomId = (): string => randomBytes(32).toString('hex')
  const missingVolume = uniqueName('tc-missing-vol')
  for (const [kind, theirs, absent, path] of [
    ['container', otherId, randomId(), (ref: string) => `/v1.41/containers/${ref}?force=1&v=1`],
    ['network', otherNetId, randomId(), (ref: string) => `/v1.41/networks/${ref}`],
    ['volume', otherVolume, missingVolume, (ref: string) => `/v1.41/volumes/${ref}?force=1`],
    ['image', otherImageId, `sha256:${randomId()}`, (ref: string) => `/v1.41/images/${ref}`],
  ] as const) {
    const r = await api('DELETE', path(theirs), undefined, ryuk.port)
    const none = await api('DELETE', path(absent))
    t.same({ status: r.status, text: r.text }, { status: none.status, text: none.text.replaceAll(absent, theirs) },
      `DELETE of the other owner's ${kind} answers as dockerd answers for a missing one (${none.status} ${none.text.trim()})`)
  }

  t.equal(await exists(`/containers/${container.getId()}/json`), false, 'dockerd: this session\'s container is gone')
  t.equal(await exists(`/networks/${network.getId()}`), false, 'its network is gone')
  t.equal(await exists(`/volumes/${volume}`), false, 'its volume is gone')
  t.equal(await exists(`/images/${imageId}/json`), false, 'its image is gone')
  const survivor = await inspect(otherId)
  t.equal(survivor?.State.Running, true, 'the other owner\'s container still runs')
  t.equal(survivor?.Config.Labels?.[SESSION_LABEL], session, 'with the session label')
  t.equal(await exists(`/networks/${otherNetId}`), true, 'its network survives')
  t.equal(await exists(`/volumes/${otherVolume}`), true, 'its volume survives')
  t.equal(await exists(`/images/${otherImageId}/json`), true, 'its image survives')
})

// ---------------------------------------------------------------------------
// 2. Jenkins docker.inside

t.test('Jenkins docker.inside through OWNER with the agent adopted; not without it', async (t) => {
  const agent = uniqueName('jenkins-agent')
  const stranger = uniqueName('jenkins-other-agent')
  const workspace = uniqueName('jenkins-ws')
  names.container.push(agent, stranger)
  names.volume.push(workspace)
  // The agent: made straight on the socket, owned by nobody, its workspace a named volume.
  for (const [name, volume] of [[agent, workspace], [stranger, '']] as const) {
    const args = ['run', '-d', '--name', name, '--label', `${RUN_LABEL}=${RUN}`, ...(volume === '' ? [] : ['-v', `${volume}:/ws`]), IMAGE, 'sleep', '300']
    const r = await direct(args)
    if (r.code !== 0) throw new Error(`docker run ${name}: ${r.stderr}`)
  }
  const agentId = (await inspect(agent))!.Id
  const strangerId = (await inspect(stranger))!.Id

  const jenkins = owner('jenkins')
  const adopted = await proxy({ OWNER: jenkins, OWNER_ADOPT: agent, ...JENKINS })

  const self = await via(adopted, ['inspect', '-f', '{{.Id}}', agent])
  t.same({ code: self.code, out: self.stdout.trim() }, { code: 0, out: agentId }, `the agent inspects itself (${self.stderr.trim()})`)
  const mounts = await via(adopted, ['inspect', '-f', '{{range .Mounts}}{{.Destination}} {{end}}', agent])
  t.same({ code: mounts.code, out: mounts.stdout.trim() }, { code: 0, out: '/ws' }, `and reads its mounts (${mounts.stderr.trim()})`)

  const run = await via(adopted, ['run', '-t', '-d', '-u', '0:0', '--volumes-from', agent, '-w', '/ws', IMAGE, 'cat'])
  t.equal(run.code, 0, `docker run --volumes-from the agent succeeds (${run.stderr.trim()})`)
  const id = run.stdout.trim()
  t.match(id, /^[0-9a-f]{64}$/, 'and prints the container ID')
  names.container.push(id)
  const info = await inspect(id)
  t.equal(info?.Config.Labels?.[OWNER_LABEL], jenkins, `dockerd: the step container carries ${OWNER_LABEL}=${jenkins}`)
  t.equal(info?.State.Running, true, 'it runs')
  t.same({ user: info?.Config.User, dir: info?.Config.WorkingDir, tty: info?.Config.Tty }, { user: '0:0', dir: '/ws', tty: true }, 'as user 0:0 in /ws with a tty')
  t.ok(info?.Mounts.some((m) => m.Type === 'volume' && m.Name === workspace && m.Destination === '/ws'), 'the agent\'s workspace volume is mounted at /ws')
  t.same(await containersLabelled(`${OWNER_LABEL}=${jenkins}`), [id], 'the agent itself did not become the owner\'s')

  const top = await via(adopted, ['top', id, '-eo', 'pid,comm'])
  t.equal(top.code, 0, `docker top succeeds (${top.stderr.trim()})`)
  t.match(top.stdout, /^\s*\d+\s+cat\s*$/m, 'and lists cat')
  const exec = await via(adopted, ['exec', id, 'sh', '-c', 'echo ok; echo from-step > /ws/step-file'])
  t.same({ code: exec.code, out: exec.stdout }, { code: 0, out: 'ok\n' }, `docker exec succeeds (${exec.stderr.trim()})`)
  const seen = await direct(['exec', agent, 'cat', '/ws/step-file'])
  t.equal(seen.stdout, 'from-step\n', 'dockerd: the agent sees what the step wrote in the shared workspace')
  const stop = await via(adopted, ['stop', '--time=1', id])
  t.equal(stop.code, 0, `docker stop --time=1 succeeds (${stop.stderr.trim()})`)
  t.equal((await inspect(id))?.State.Status, 'exited', 'dockerd: it exited')
  const rm = await via(adopted, ['rm', '-f', '--volumes', id])
  t.equal(rm.code, 0, `docker rm -f --volumes succeeds (${rm.stderr.trim()})`)
  t.equal(await inspect(id), undefined, 'dockerd: it is gone')
  t.equal((await inspect(agent))?.State.Running, true, 'and the agent still runs')

  // Another job's proxy adopts another agent, not this one. With the CLI's lookups granted,
  // its `docker inspect` of a miss reads as dockerd's own.
  const otherJob = owner('jenkins-n')
  const unadopted = await proxy({ OWNER: otherJob, OWNER_ADOPT: stranger, ...JENKINS, ...CLI_LOOKUPS })
  const own = await via(unadopted, ['inspect', '-f', '{{.Id}}', stranger])
  t.same({ code: own.code, out: own.stdout.trim() }, { code: 0, out: strangerId }, `that proxy's own adopted agent inspects (${own.stderr.trim()})`)
  const missing = uniqueName('jenkins-missing')
  for (const format of ['{{.Id}}', '{{range .Mounts}}{{.Destination}} {{end}}']) {
    const theirs = await via(unadopted, ['inspect', '-f', format, agent])
    const none = await direct(['inspect', '-f', format, missing])
    t.same({ code: theirs.code, out: theirs.stdout, err: theirs.stderr }, { code: none.code, out: none.stdout, err: none.stderr.replaceAll(missing, agent) },
      `docker inspect -f '${format}' of the unadopted agent fails as dockerd fails for a missing name`)
    t.notMatch(theirs.stderr + theirs.stdout, agentId.slice(0, 12), 'and shows nothing of its ID')
  }
  const before = await containersLabelled(`${OWNER_LABEL}=${otherJob}`)
  const refusedRun = await via(unadopted, ['run', '-t', '-d', '-u', '0:0', '--volumes-from', agent, '-w', '/ws', IMAGE, 'cat'])
  const missingRun = await direct(['run', '-t', '-d', '-u', '0:0', '--label', `${RUN_LABEL}=${RUN}`, '--volumes-from', missing, '-w', '/ws', IMAGE, 'cat'])
  t.same({ code: refusedRun.code, out: refusedRun.stdout, err: refusedRun.stderr }, { code: missingRun.code, out: missingRun.stdout, err: missingRun.stderr.replaceAll(missing, agent) },
    'docker run --volumes-from the unadopted agent fails as dockerd fails for a missing container')
  t.not(refusedRun.code, 0, 'it fails')
  t.same(before, [], 'nothing of that owner before')
  t.same(await containersLabelled(`${OWNER_LABEL}=${otherJob}`), [], 'dockerd: and nothing was created')
  t.notOk((await requests(unadopted)).some((l) => l.route === 'POST /containers/{name}/start'), 'nothing was started')
})

// ---------------------------------------------------------------------------
// 3. GitLab runner, docker executor: cache containers found again by name

t.test('GitLab runner cache containers through OWNER: found by name by their runner only', async (t) => {
  const hash = createHash('md5').update('/cache').digest('hex')
  const runnerA = owner('runner-a')
  const runnerB = owner('runner-b')
  const a = await proxy({ OWNER: runnerA, ...RUNNER })
  const b = await proxy({ OWNER: runnerB, ...RUNNER })
  const cache = `${uniqueName('gl-a-project-1-concurrent-0')}-cache-${hash}`
  names.container.push(cache)

  const create = await via(a, ['create', '--name', cache, '-v', '/cache', IMAGE, 'sh', '-c', 'echo seed > /cache/marker'])
  t.equal(create.code, 0, `runner A creates ${cache} with a /cache volume (${create.stderr.trim()})`)
  const cacheId = create.stdout.trim()
  t.equal((await via(a, ['start', cache])).code, 0, 'and starts it')
  t.equal((await via(a, ['wait', cache])).stdout.trim(), '0', 'which seeds the cache and exits 0')
  const info = await inspect(cache)
  t.equal(info?.Id, cacheId, 'dockerd has it under that name')
  t.equal(info?.Config.Labels?.[OWNER_LABEL], runnerA, `with ${OWNER_LABEL}=${runnerA}`)
  const cacheVolume = info?.Mounts.find((m) => m.Destination === '/cache')?.Name ?? ''
  t.match(cacheVolume, /^[0-9a-f]{64}$/, 'and an anonymous volume at /cache')

  // Later jobs: find the cache container by name, then use its volumes.
  for (const [job, expected] of [['job-1', 'seed\n'], ['job-2', 'seed\njob-1\n']] as const) {
    const found = await via(a, ['inspect', '--type', 'container', '-f', '{{.Id}}', cache])
    t.same({ code: found.code, out: found.stdout.trim() }, { code: 0, out: cacheId }, `${job}: runner A finds the cache container by name (${found.stderr.trim()})`)
    const used = await via(a, ['run', '--rm', '--volumes-from', cache, IMAGE, 'sh', '-c', `cat /cache/marker; echo ${job} >> /cache/marker`])
    t.same({ code: used.code, out: used.stdout }, { code: 0, out: expected }, `${job}: --volumes-from ${cache} reads the cache (${used.stderr.trim()})`)
  }
  const content = await direct(['run', '--rm', '--label', `${RUN_LABEL}=${RUN}`, '-v', `${cacheVolume}:/c`, IMAGE, 'cat', '/c/marker'])
  t.equal(content.stdout, 'seed\njob-1\njob-2\n', 'dockerd: the cache volume holds what both jobs wrote')
  t.same(await containersLabelled(`${OWNER_LABEL}=${runnerA}`), [cacheId], 'dockerd: the job containers are gone (--rm), the cache container stays')

  // Runner B, same name pattern: cannot find it, cannot use it, cannot take its name.
  const missing = `${uniqueName('gl-missing')}-cache-${hash}`
  const notFound = await via(b, ['inspect', '--type', 'container', cache])
  const none = await direct(['inspect', '--type', 'container', missing])
  t.same({ code: notFound.code, out: notFound.stdout, err: notFound.stderr }, { code: none.code, out: none.stdout, err: none.stderr.replaceAll(missing, cache) },
    'runner B: docker inspect of the name fails as dockerd fails for a missing name')
  const listed = await via(b, ['ps', '-a', '--filter', `name=${cache}`, '--format', '{{.ID}}'])
  t.same({ code: listed.code, out: listed.stdout }, { code: 0, out: '' }, 'runner B: docker ps --filter name= does not list it')
  const usedByB = await via(b, ['run', '--rm', '--volumes-from', cache, IMAGE, 'cat', '/cache/marker'])
  const usedMissing = await direct(['run', '--rm', '--label', `${RUN_LABEL}=${RUN}`, '--volumes-from', missing, IMAGE, 'cat', '/cache/marker'])
  t.same({ code: usedByB.code, out: usedByB.stdout, err: usedByB.stderr }, { code: usedMissing.code, out: usedMissing.stdout, err: usedMissing.stderr.replaceAll(missing, cache) },
    'runner B: --volumes-from the name fails as for a missing container')
  t.same(await containersLabelled(`${OWNER_LABEL}=${runnerB}`), [], 'dockerd: runner B created nothing')

  const conflict = await api('POST', `/v1.41/containers/create?name=${cache}`, { Image: IMAGE, Cmd: ['true'] }, b.port)
  t.equal(conflict.status, 409, `runner B: creating a container of the same name answers 409 (${conflict.text.trim()})`)
  t.match((conflict.json as { message?: string } | undefined)?.message ?? '', /Conflict\. The container name "\/.+" is already in use/, 'in dockerd\'s words for a taken name')
  t.notMatch(conflict.text, HEX64, 'without any 64-hex ID')
  t.notMatch(conflict.text, cacheId.slice(0, 12), 'without the ID of runner A\'s container')
  const cliConflict = await via(b, ['create', '--name', cache, IMAGE, 'true'])
  t.not(cliConflict.code, 0, 'docker create --name of the same name fails')
  t.match(cliConflict.stderr, 'Conflict.', 'with the conflict')
  t.notMatch(cliConflict.stderr, HEX64, 'and no 64-hex ID')

  const own = `${uniqueName('gl-b-project-1-concurrent-0')}-cache-${hash}`
  names.container.push(own)
  const made = await via(b, ['create', '--name', own, '-v', '/cache', IMAGE, 'true'])
  t.equal(made.code, 0, `runner B creates its own cache container under another name (${made.stderr.trim()})`)
  t.equal((await inspect(own))?.Config.Labels?.[OWNER_LABEL], runnerB, `dockerd: ${own} carries ${OWNER_LABEL}=${runnerB}`)
  const crossed = await via(a, ['inspect', '--type', 'container', own])
  t.not(crossed.code, 0, 'and runner A cannot find runner B\'s by name either')
  const still = await inspect(cache)
  t.same({ id: still?.Id, owner: still?.Config.Labels?.[OWNER_LABEL] }, { id: cacheId, owner: runnerA }, 'dockerd: runner A\'s cache container is untouched')

  // The same name with a leading slash (the docker CLI sends `--name /x` as it is, and
  // dockerd takes it as the name x) and a rename onto the name: the same conflict, no ID.
  const slashed = await via(b, ['create', '--name', `/${cache}`, IMAGE, 'true'])
  t.not(slashed.code, 0, 'docker create --name /<the name> fails')
  t.match(slashed.stderr, 'Conflict.', 'with the conflict')
  t.notMatch(slashed.stderr, HEX64, 'and no 64-hex ID (the ID of runner A\'s container must not leak)')
  const renamed = await via(b, ['rename', own, cache])
  t.not(renamed.code, 0, 'docker rename <runner B\'s own> <the name> fails')
  t.notMatch(renamed.stderr, HEX64, 'and shows no 64-hex ID (the ID of runner A\'s container must not leak)')
  t.equal((await inspect(own))?.Id !== undefined, true, 'dockerd: runner B\'s container kept its name')

  // Names and IDs are different namespaces in dockerd: a name that happens to be a prefix
  // of another owner's container ID is free, and dockerd creates it.
  const prefixName = cacheId.slice(0, 12)
  names.container.push(prefixName)
  const prefixed = await api('POST', `/v1.41/containers/create?name=${prefixName}`, { Image: IMAGE, Cmd: ['true'] }, b.port)
  t.equal(prefixed.status, 201, `runner B: a container named ${prefixName} (a prefix of runner A's container ID, not a name in use) is created, as dockerd does (${prefixed.text.trim()})`)
})
