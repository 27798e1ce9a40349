// examples/swarm-stack.yml deployed with the local image: dockmoat as a global service on
// the managers, reached over the overlay network by another service that makes the calls
// Traefik's Swarm provider makes. Joins a one-node swarm first when the engine is in none,
// and leaves it at the end only then.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'
import { REPO, dockmoatImage, eventually, show, socketGid } from './support.ts'

await requireDocker()
const image = await dockmoatImage()
const busybox = await testImage()

async function swarmState(): Promise<{ state: string; manager: boolean; node: string }> {
  const r = await docker(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}'])
  const [state = '', manager = '', node = ''] = r.stdout.trim().split(' ')
  return { state, manager: manager === 'true', node }
}

/** `docker swarm init`; on hosts with several addresses, with the first non-internal IPv4 one. */
async function initSwarm(): Promise<void> {
  const plain = await docker(['swarm', 'init'], { timeoutMs: 60_000 })
  if (plain.code === 0) return
  const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1'
  const retry = await docker(['swarm', 'init', '--advertise-addr', address], { timeoutMs: 60_000 })
  if (retry.code !== 0) throw new Error(`docker swarm init failed:\n${show(plain)}\n${show(retry)}`)
}

t.test('examples/swarm-stack.yml: dockmoat as a global service, reached over the overlay network', async (t) => {
  const before = await swarmState()
  let created = false
  if (before.state === 'inactive') {
    await initSwarm()
    created = true
  } else if (before.state !== 'active' || !before.manager) {
    t.fail(`this engine is in a swarm but not as a manager (state ${before.state}): cannot deploy a stack here`)
    return
  }
  const stack = uniqueName('swarm')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dockmoat-swarm-'))
  const env = { DOCKMOAT_IMAGE: image, DOCKER_GID: String(socketGid()) }

  t.teardown(async () => {
    await docker(['stack', 'rm', stack], { timeoutMs: 60_000 })
    // stack rm returns at once; wait until its containers and networks are gone.
    await eventually(async () => {
      const containers = await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`])
      const networks = await docker(['network', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`])
      return containers.stdout.trim() === '' && networks.stdout.trim() === ''
    }, 60_000, 500)
    if (created) await docker(['swarm', 'leave', '--force'], { timeoutMs: 60_000 })
    fs.rmSync(dir, { recursive: true, force: true })
  })

  // Traefik cannot be pulled here: it is kept at 0 replicas (so its host port is never bound),
  // and a stand-in on its network makes its calls.
  const override = path.join(dir, 'override.yml')
  fs.writeFileSync(override, [
    'version: "3.8"',
    'services:',
    '  dockmoat:',
    '    healthcheck:         # the task joins the DNS once healthy: check sooner than every 30 s',
    '      interval: 2s',
    '  traefik:',
    '    deploy:',
    '      mode: replicated',
    '      replicas: 0',
    '  whoami:',
    `    image: ${busybox}`,
    '    command: ["sleep", "3600"]',
    '    stop_grace_period: 1s',
    '    deploy:',
    '      replicas: 1',
    '  standin:',
    `    image: ${busybox}`,
    '    command: ["sleep", "3600"]',
    '    stop_grace_period: 1s',
    '    networks: [socket-proxy]',
    '',
  ].join('\n'))
  const deploy = await docker(['stack', 'deploy', '--resolve-image', 'never', '-c', path.join(REPO, 'examples/swarm-stack.yml'), '-c', override, stack],
    { env, timeoutMs: 120_000 })
  t.equal(deploy.code, 0, show(deploy))
  if (deploy.code !== 0) return

  const spec = await docker(['service', 'inspect', '--format', '{{json .Spec}}', `${stack}_dockmoat`])
  t.equal(spec.code, 0, show(spec))
  const s = JSON.parse(spec.stdout) as {
    Mode: { Global?: object }
    EndpointSpec?: { Mode: string }
    TaskTemplate: { Placement: { Constraints: string[] }; ContainerSpec: { User: string; Env: string[]; ReadOnly: boolean; CapabilityDrop?: string[] } }
  }
  t.ok(s.Mode.Global, 'global service')
  t.same(s.TaskTemplate.Placement.Constraints, ['node.role == manager'], 'on managers')
  t.equal(s.EndpointSpec?.Mode, 'dnsrr', 'reached by DNS round robin, no IPVS virtual IP')
  t.equal(s.TaskTemplate.ContainerSpec.User, `65532:${socketGid()}`, 'nonroot, with the socket\'s group')
  t.equal(s.TaskTemplate.ContainerSpec.ReadOnly, true, 'read-only root filesystem')
  for (const grant of ['SERVICES=1', 'TASKS=1', 'NETWORKS=1', 'NODES=1']) t.ok(s.TaskTemplate.ContainerSpec.Env.includes(grant), grant)
  t.notOk(s.TaskTemplate.ContainerSpec.Env.some((e) => /^(SWARM|POST|SECRETS|CONTAINERS)=1$/.test(e)), 'no SWARM, POST, SECRETS or CONTAINERS')

  const standin = await eventually(async () => {
    const r = await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${stack}_standin`])
    return r.stdout.trim().split('\n')[0] ?? ''
  }, 90_000, 500)
  t.ok(standin, 'the stand-in task runs')
  if (!standin) return
  const get = (target: string) => docker(['exec', standin, 'wget', '-q', '-O', '-', `http://dockmoat:2375${target}`], { timeoutMs: 20_000 })
  const ping = await eventually(async () => (await get('/_ping')).stdout === 'OK', 90_000, 500)
  if (!ping) {
    const tasks = await docker(['service', 'ps', '--no-trunc', `${stack}_dockmoat`])
    t.fail(`dockmoat does not answer over the overlay network:\n${tasks.stdout}${tasks.stderr}`)
    return
  }
  t.pass('GET /_ping over the overlay network (service name dockmoat)')

  // The calls of Traefik's Swarm provider (pkg/provider/docker/pswarm.go).
  const json = async <T>(target: string): Promise<T> => {
    const r = await get(target)
    if (r.code !== 0) throw new Error(`GET ${target}: ${show(r)}`)
    return JSON.parse(r.stdout) as T
  }
  const version = await json<{ ApiVersion: string }>('/v1.41/version')
  t.match(version.ApiVersion, /^1\.\d+$/, 'GET /version')
  const services = await json<{ ID: string; Spec: { Name: string; Labels: Record<string, string> } }[]>('/v1.41/services')
  const whoami = services.find((x) => x.Spec.Name === `${stack}_whoami`)
  t.equal(whoami?.Spec.Labels['traefik.enable'], 'true', 'GET /services shows the deploy labels')
  const networks = await json<{ Name: string }[]>(`/v1.41/networks?filters=${encodeURIComponent('{"scope":["swarm"]}')}`)
  t.ok(networks.some((n) => n.Name === `${stack}_web`), 'GET /networks?filters={"scope":["swarm"]}')
  const tasks = await eventually(async () => {
    const list = await json<{ NodeID: string; Status: { State: string } }[]>(
      `/v1.41/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [whoami?.ID ?? ''], 'desired-state': ['running'] }))}`)
    return list.find((task) => task.Status.State === 'running')
  }, 60_000, 500)
  t.ok(tasks, 'GET /tasks?filters={service, desired-state} finds the running task')
  if (tasks) {
    const node = await json<{ Status: { Addr: string } }>(`/v1.41/nodes/${tasks.NodeID}`)
    t.match(node.Status.Addr, /^\d+\.\d+\.\d+\.\d+$/, 'GET /nodes/{id} gives the node address')
  }

  const refused = async (target: string) => {
    const r = await docker(['exec', standin, 'wget', '-q', '-S', '-O', '-', `http://dockmoat:2375${target}`], { timeoutMs: 20_000 })
    return r.code !== 0 && /403 Forbidden/.test(r.stderr)
  }
  t.ok(await refused('/v1.41/swarm'), 'GET /swarm (join tokens) is refused')
  t.ok(await refused('/v1.41/secrets'), 'GET /secrets is refused')
  t.ok(await refused('/v1.41/containers/json'), 'GET /containers/json is refused')
  const create = await docker(['exec', standin, 'wget', '-q', '-S', '-O', '-', '--post-data', '{"Name":"x"}',
    '--header', 'Content-Type: application/json', 'http://dockmoat:2375/v1.41/services/create'], { timeoutMs: 20_000 })
  t.match(create.stderr, /403 Forbidden/, 'POST /services/create is refused')

  await t.test('OWNER on swarm objects: services, secrets and configs of a are missing for b', (tt) => swarmOwnership(tt, busybox))
})

/** Two owners through two dockmoats on this swarm; every effect checked on dockerd directly. */
async function swarmOwnership(t: Test, busybox: string): Promise<void> {
  const grants = { SERVICES: '1', TASKS: '1', SECRETS: '1', CONFIGS: '1', NODES: '1', INFO: '1', POST: '1' }
  const a = await startProxy({ ...grants, OWNER: 'swarm-a' })
  const b = await startProxy({ ...grants, OWNER: 'swarm-b' })
  const service = uniqueName('own-svc')
  const secret = uniqueName('own-secret')
  const config = uniqueName('own-config')
  t.teardown(async () => {
    await a.stop()
    await b.stop()
    await docker(['service', 'rm', service])
    await docker(['secret', 'rm', secret])
    await docker(['config', 'rm', config])
  })
  const as = (proxy: typeof a, args: string[], input?: string) => docker(args, { host: proxy.dockerHost, timeoutMs: 60_000, ...(input === undefined ? {} : { input }) })

  t.equal((await as(a, ['secret', 'create', secret, '-'], 's3cret')).code, 0, 'a creates a secret')
  t.equal((await as(a, ['config', 'create', config, '-'], 'conf')).code, 0, 'a creates a config')
  t.equal((await as(a, ['service', 'create', '--detach', '--name', service, '--replicas', '0', busybox, 'sleep', '60'])).code, 0, 'a creates a service')
  const label = (kind: string, name: string, field: string) => docker([kind, 'inspect', name, '--format', `{{index ${field} "dockmoat.owner"}}`])
  t.equal((await label('secret', secret, '.Spec.Labels')).stdout.trim(), 'swarm-a', 'dockerd: the secret carries a\'s label')
  t.equal((await label('config', config, '.Spec.Labels')).stdout.trim(), 'swarm-a', 'dockerd: the config carries a\'s label')
  t.equal((await label('service', service, '.Spec.Labels')).stdout.trim(), 'swarm-a', 'dockerd: the service carries a\'s label')
  t.equal((await label('service', service, '.Spec.TaskTemplate.ContainerSpec.Labels')).stdout.trim(), 'swarm-a', '... and so do its task containers')

  for (const [kind, name] of [['secret', secret], ['config', config], ['service', service]] as const) {
    t.ok((await as(a, [kind, 'ls', '--format', '{{.Name}}'])).stdout.split('\n').includes(name), `a lists its ${kind}`)
    t.notOk((await as(b, [kind, 'ls', '--format', '{{.Name}}'])).stdout.split('\n').includes(name), `b does not list a's ${kind}`)
    const missing = `${name}-missing`
    for (const verb of ['inspect', 'rm']) {
      const foreign = await as(b, [kind, verb, name])
      const absent = await as(b, [kind, verb, missing])
      t.not(foreign.code, 0, `b: ${kind} ${verb} of a's fails`)
      t.equal(foreign.stderr.replaceAll(name, 'X'), absent.stderr.replaceAll(missing, 'X'), `b: ${kind} ${verb} of a's answers exactly as of a missing one (${foreign.stderr.trim()})`)
    }
    t.equal((await docker([kind, 'inspect', name])).code, 0, `dockerd still has a's ${kind}`)
  }
  const scaled = await as(b, ['service', 'scale', '--detach', `${service}=1`])
  t.not(scaled.code, 0, 'b cannot scale a\'s service')
  t.equal((await docker(['service', 'inspect', service, '--format', '{{.Spec.Mode.Replicated.Replicas}}'])).stdout.trim(), '0', 'dockerd: still 0 replicas')
}
