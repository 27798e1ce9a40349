// The body oracle: puts what dockmoat's body guard decodes (decodeBody, src/guard) next
// to what the REAL dockerd applied for the same bytes, field by field. Shared by
// body-oracle.test.ts (fixed seed, CI) and fuzz.ts --bodies (random seeds, long runs).
//
// Each body (body-generator.ts) is sent straight to dockerd's unix socket:
//   create  POST /v1.41/containers/create?name=<prefix>c<i>, then GET /containers/{id}/json
//           (HostConfig and NetworkSettings.Networks), then DELETE ?force=1&v=1 and the
//           named volumes the body may have made;
//   exec    POST /v1.41/containers/{helper}/exec on the one running helper container,
//           then GET /exec/{id}/json (ProcessConfig); an exec instance that never starts
//           lives until its container is removed, so they all go with the helper;
//   volume  POST /v1.41/volumes/create, then GET /volumes/{name}, then DELETE.
// Nothing is ever started but the helper (`sleep`), and nothing is pulled.
//
// Rules of comparison:
//   - the guard reports a problem (it would refuse to decode): dockerd must refuse too
//     (status >= 400) and create nothing;
//   - the guard decodes: when dockerd creates, every judged field must be what the guard
//     decoded, read through dockerd's own defaults (calibrated on a plain create: an empty
//     IpcMode becomes "private", an empty CgroupnsMode "host" on cgroup v1, null
//     MaskedPaths/ReadonlyPaths the default lists unless privileged, an empty NetworkMode
//     "default", `container:<name>` the helper's full id, and `label=disable` is added to
//     SecurityOpt for privileged or host ipc/pid containers); when dockerd refuses, the
//     case is counted by dockerd's reason, and a reason that is a JSON decoding error on
//     a field the guard models is a disagreement (the guard should have refused);
//   - the verdicts, from dockerd's view alone: whatever dockerd applied beyond a plain
//     create (privileged, a bind, a host or container: namespace, a capability outside
//     the default set, a loosening security option, fewer masked paths, a device, the
//     "host" endpoint, a local volume with a device) must be refused by the guard with no
//     grant; with every grant (ALLOW_BIND=/, ALLOW_CAPS=ALL) it must allow the body; and
//     every host path dockerd binds must be one the guard judged. Refusing more than
//     dockerd's view shows is counted as fail-closed, not a disagreement.
//
// A DISAGREEMENT is a guard bug or an oracle bug: each is reported with the exact body,
// what dockerd applied and what the guard decoded.

import http from 'node:http'
import { randomBytes } from 'node:crypto'
import { DOCKER_SOCKET, testImage } from '../helpers/docker.ts'
import { decodeBody, inspectBody, inspectorFor, type GuardPolicy } from '../../src/guard/inspect.ts'
import { matchRoute } from '../../src/routes.ts'
import { TOGGLES } from '../../src/settings.ts'
import { ContainerCreateWrapper, ExecConfig, VolumeCreate } from '../../src/guard/schemas.ts'
import type { GoObject, GoValue } from '../../src/guard/go-decode.ts'
import type { GoStruct } from '../../src/guard/go-types.ts'
import { exchange, type Step } from '../adversarial/raw.ts'
import { Rng, mix } from './generator.ts'
import type { BodyCase, BodyKind, BodyNames } from './body-generator.ts'

// ---------------------------------------------------------------------------------------
// Talking to dockerd

export interface Reply {
  status: number
  text: string
  json: unknown
}

/**
 * One request straight to dockerd's socket, on a fresh connection (a reused one that
 * dockerd closes meanwhile would turn a create into "no answer"); the body goes byte for
 * byte, Content-Length framed.
 */
export function dockerd(method: string, path: string, body?: Buffer, timeoutMs = 60_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath: DOCKER_SOCKET, agent: false, method, path, timeout: timeoutMs,
      headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try { json = JSON.parse(text) } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, text, json })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`dockerd did not answer ${method} ${path} within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/** Reads and removals are retried: other suites load the same daemon. */
async function dockerdRetry(method: string, path: string): Promise<Reply> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await dockerd(method, path)
    } catch (error) {
      if (attempt >= 2) throw error
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
}

function messageOf(reply: Reply): string {
  const message = (reply.json as { message?: unknown } | undefined)?.message
  return typeof message === 'string' ? message : reply.text.trim().slice(0, 300)
}

// ---------------------------------------------------------------------------------------
// Views: the judged fields, as plain JSON, from the guard and from dockerd

export type View = Record<string, unknown>

export interface Calibration {
  /** What inspect shows for an empty IpcMode and CgroupnsMode. */
  ipcMode: string
  cgroupnsMode: string
  /** What inspect shows for null MaskedPaths/ReadonlyPaths on an unprivileged container. */
  maskedPaths: string[]
  readonlyPaths: string[]
  /** What dockerd adds to SecurityOpt for a privileged container (20.10 generateSecurityOpt). */
  labelDisable: string[]
}

const object = (value: GoValue | undefined): GoObject | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Map) ? value : undefined
const objects = (value: GoValue | undefined): GoObject[] => (Array.isArray(value) ? value.map((v) => object(v) ?? {}) : [])
const strings = (value: GoValue | undefined): string[] => (Array.isArray(value) ? value.map(text) : [])
const text = (value: GoValue | undefined): string => (typeof value === 'string' ? value : '')
const sorted = (entries: Iterable<[string, unknown]>): Record<string, unknown> => Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
const mapEntries = (value: GoValue | undefined): [string, unknown][] => (value instanceof Map ? [...value.entries()].map(([k, v]) => [k, typeof v === 'string' ? v : null]) : [])

/** The field-by-field view dockerd should show for a create body the guard decoded to `value`. */
export function guardCreateView(value: GoObject, names: BodyNames, cal: Calibration): View {
  // 20.10 getHostConfig: the inner HostConfig when the key holds an object, else the
  // embedded top-level copy (absent or null HostConfig).
  const hc = object(value.HostConfig) ?? object(value.TopHostConfig) ?? {}
  const privileged = hc.Privileged === true
  // adaptSharedNamespaceContainer: `container:<name>` is stored as `container:<id>`.
  const ref = (mode: string): string => {
    if (!mode.startsWith('container:')) return mode
    const name = mode.slice('container:'.length)
    return name === names.helper || name === `/${names.helper}` || name === names.helperId ? `container:${names.helperId}` : mode
  }
  const ipc = text(hc.IpcMode)
  const pid = text(hc.PidMode)
  const securityOpt = strings(hc.SecurityOpt)
  // generateSecurityOpt: a "label" key (split on "=" only) means the caller chose.
  if (!securityOpt.some((o) => o.split('=')[0] === 'label') && (ipc === 'host' || pid === 'host' || privileged)) securityOpt.push(...cal.labelDisable)
  const networkMode = text(hc.NetworkMode) || 'default'
  const paths = (field: 'MaskedPaths' | 'ReadonlyPaths', defaults: string[]): string[] | null =>
    Array.isArray(hc[field]) ? strings(hc[field]) : privileged ? null : defaults
  return {
    Privileged: privileged,
    Binds: strings(hc.Binds),
    VolumesFrom: strings(hc.VolumesFrom),
    Mounts: objects(hc.Mounts).map((m) => {
      const driver = object(object(m.VolumeOptions)?.DriverConfig)
      return { Type: text(m.Type), Source: text(m.Source), Target: text(m.Target), Propagation: text(object(m.BindOptions)?.Propagation), Driver: text(driver?.Name), Options: sorted(mapEntries(driver?.Options)) }
    }),
    NetworkMode: ref(networkMode),
    PidMode: ref(pid),
    IpcMode: ref(ipc || cal.ipcMode),
    UTSMode: text(hc.UTSMode),
    UsernsMode: text(hc.UsernsMode),
    CgroupnsMode: text(hc.CgroupnsMode) || cal.cgroupnsMode,
    CapAdd: strings(hc.CapAdd),
    CapDrop: strings(hc.CapDrop),
    SecurityOpt: securityOpt,
    MaskedPaths: paths('MaskedPaths', cal.maskedPaths),
    ReadonlyPaths: paths('ReadonlyPaths', cal.readonlyPaths),
    Devices: objects(hc.Devices).map((d) => ({ PathOnHost: text(d.PathOnHost), PathInContainer: text(d.PathInContainer) })),
    DeviceCgroupRules: strings(hc.DeviceCgroupRules),
    Networks: guardNetworks(networkMode, object(value.NetworkingConfig)?.EndpointsConfig),
  }
}

/** 20.10 updateContainerNetworkSettings: which NetworkSettings.Networks keys a create leaves. */
function guardNetworks(mode: string, endpoints: GoValue | undefined): string[] {
  if (mode.startsWith('container:')) return []
  const name = mode === 'default' ? 'bridge' : mode
  let keys = endpoints instanceof Map && endpoints.size > 0 ? [...endpoints.keys()] : [name]
  if (mode === 'default') keys = keys.map((k) => (k === 'default' ? name : k))
  return keys.sort()
}

interface InspectMount {
  Type?: string; Source?: string; Target?: string
  BindOptions?: { Propagation?: string }
  VolumeOptions?: { DriverConfig?: { Name?: string; Options?: Record<string, string> } }
}
interface Inspect {
  HostConfig: Record<string, unknown> & { Mounts?: InspectMount[]; Devices?: { PathOnHost?: string; PathInContainer?: string }[] | null }
  NetworkSettings?: { Networks?: Record<string, unknown> | null }
  /** What the container mounts, as dockerd resolved it (bind sources cleaned). */
  Mounts?: { Type?: string; Name?: string; Source?: string }[]
}

const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : [])

/** The same view, read from dockerd's inspect of the container it created. */
export function dockerdCreateView(inspect: Inspect): View {
  const h = inspect.HostConfig
  return {
    Privileged: h.Privileged === true,
    Binds: list(h.Binds),
    VolumesFrom: list(h.VolumesFrom),
    Mounts: (h.Mounts ?? []).map((m) => ({
      Type: m.Type ?? '', Source: m.Source ?? '', Target: m.Target ?? '', Propagation: m.BindOptions?.Propagation ?? '',
      Driver: m.VolumeOptions?.DriverConfig?.Name ?? '', Options: sorted(Object.entries(m.VolumeOptions?.DriverConfig?.Options ?? {})),
    })),
    NetworkMode: h.NetworkMode,
    PidMode: h.PidMode,
    IpcMode: h.IpcMode,
    UTSMode: h.UTSMode,
    UsernsMode: h.UsernsMode,
    CgroupnsMode: h.CgroupnsMode,
    CapAdd: list(h.CapAdd),
    CapDrop: list(h.CapDrop),
    SecurityOpt: list(h.SecurityOpt),
    MaskedPaths: h.MaskedPaths === null || h.MaskedPaths === undefined ? null : list(h.MaskedPaths),
    ReadonlyPaths: h.ReadonlyPaths === null || h.ReadonlyPaths === undefined ? null : list(h.ReadonlyPaths),
    Devices: (h.Devices ?? []).map((d) => ({ PathOnHost: d.PathOnHost ?? '', PathInContainer: d.PathInContainer ?? '' })),
    DeviceCgroupRules: list(h.DeviceCgroupRules),
    Networks: Object.keys(inspect.NetworkSettings?.Networks ?? {}).sort(),
  }
}

/** The host paths the container binds, from dockerd's own list of its mounts. */
function bindSources(inspect: Inspect): string[] {
  return [...new Set((inspect.Mounts ?? []).flatMap((m) => (m.Type === 'bind' && m.Source !== undefined ? [m.Source] : [])))].sort()
}

export function guardExecView(value: GoObject): View {
  return { Privileged: value.Privileged === true, User: text(value.User) }
}

function dockerdExecView(inspect: { ProcessConfig?: { privileged?: boolean; user?: string } }): View {
  return { Privileged: inspect.ProcessConfig?.privileged === true, User: inspect.ProcessConfig?.user ?? '' }
}

const ANONYMOUS = '(anonymous)'

export function guardVolumeView(value: GoObject): View {
  return { Name: text(value.Name) || ANONYMOUS, Driver: text(value.Driver) || 'local', Options: sorted(mapEntries(value.DriverOpts)) }
}

function dockerdVolumeView(volume: { Name?: string; Driver?: string; Options?: Record<string, string> | null }, names: BodyNames): View {
  const name = volume.Name ?? ''
  return { Name: /^[0-9a-f]{64}$/.test(name) && !name.startsWith(names.prefix) ? ANONYMOUS : name, Driver: volume.Driver ?? '', Options: sorted(Object.entries(volume.Options ?? {})) }
}

/** `field: guard X, dockerd Y` for every field that differs. */
export function differences(guard: View, applied: View): string[] {
  const out: string[] = []
  for (const field of new Set([...Object.keys(guard), ...Object.keys(applied)])) {
    const a = JSON.stringify(guard[field])
    const b = JSON.stringify(applied[field])
    if (a !== b) out.push(`${field}: the guard decoded ${a}, dockerd applied ${b}`)
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Outcomes

export type OutcomeKind =
  /** The guard decoded, dockerd created, and every judged field agrees. */
  | 'agreed'
  /** The guard would refuse to decode, and dockerd refused (and created nothing). */
  | 'both-refused'
  /** The guard decoded; dockerd refused it for a reason of its own (validation). */
  | 'refused-other'
  | 'disagreement'

export interface BodyOutcome {
  c: BodyCase
  guard: { value?: GoObject; problem?: string }
  /** dockerd's status for the create (0: no answer). */
  status: number
  message: string
  kind: OutcomeKind
  expected?: View
  applied?: View
  failure?: string
  /** The dockerd view also differs from what JSON.parse (exact keys, last exact key wins) would say. */
  goSemantics?: boolean
  /** What dockerd applied beyond a plain create (the guard refused it with no grant). */
  escalations?: string[]
  /** The guard refuses with no grant although dockerd applied nothing beyond a plain create (fail-closed). */
  stricter?: string
}

export interface Applied {
  view?: View
  /** Host paths the container binds, per dockerd's own list of its mounts. */
  binds?: string[]
  /** What exists although dockerd refused (and was removed). */
  leftovers: string[]
}

export const SCHEMAS: Record<BodyKind, GoStruct> = { create: ContainerCreateWrapper, exec: ExecConfig, volume: VolumeCreate }

/** The last path component of a Go UnmarshalTypeError, or '' when it names none. */
function goDecodeField(message: string): string | undefined {
  if (!/^json: |^invalid character '|^unexpected end of JSON input|^EOF$|^unexpected EOF/.test(message)) return undefined
  const m = /into Go struct field (\S+) of type/.exec(message)
  return m ? m[1]!.split('.').pop()! : ''
}

/** Fields the guard's schemas declare: a decoding error on any other is dockerd's business. */
const MODELLED = new Set([
  'HostConfig', 'NetworkingConfig', 'EndpointsConfig', 'Binds', 'NetworkMode', 'VolumesFrom', 'CapAdd', 'CapDrop', 'Capabilities',
  'CgroupnsMode', 'IpcMode', 'PidMode', 'Privileged', 'SecurityOpt', 'UTSMode', 'UsernsMode', 'Mounts', 'MaskedPaths',
  'ReadonlyPaths', 'CgroupParent', 'Devices', 'DeviceCgroupRules', 'DeviceRequests', 'Type', 'Source', 'Target', 'BindOptions',
  'Propagation', 'VolumeOptions', 'DriverConfig', 'Name', 'Options', 'PathOnHost', 'PathInContainer', 'Driver', 'Count', 'User',
  'DriverOpts',
])

/** dockerd's reason, with the names and ids a run makes up left out (for grouping). */
export function reasonKey(message: string, names: BodyNames): string {
  return message
    // Go ranges over a map: the networks come in any order.
    .replace(/(network endpoints: )(.*)$/, (_m, head: string, list: string) => head + list.split(', ').sort().join(', '))
    .split(names.prefix).join('<prefix>')
    .replace(/[0-9a-f]{64}/g, '<id>')
    .replace(/\/dmo(-null)?\d+/g, '/dmo$1N')
    .replace(/<prefix>c\d+-v\d+/g, '<volume>')
    .replace(/<prefix>c\d+/g, '<container>')
    .slice(0, 160)
}

export class BodyOracle {
  readonly names: BodyNames
  readonly calibration: Calibration
  private constructor(names: BodyNames, calibration: Calibration) {
    this.names = names
    this.calibration = calibration
  }

  /** Starts the helper container and reads dockerd's defaults. Call close() in a teardown. */
  static async open(): Promise<BodyOracle> {
    const image = await testImage()
    const prefix = `dm-oracle-${process.pid}-${randomBytes(2).toString('hex')}-`
    const helper = `${prefix}helper`
    const created = await dockerd('POST', `/v1.41/containers/create?name=${helper}`, Buffer.from(JSON.stringify({
      Image: image, Cmd: ['sleep', '86400'], Labels: { 'org.dockmoat.oracle': prefix }, HostConfig: { NetworkMode: 'none' },
    })))
    if (created.status !== 201) throw new Error(`cannot create the exec helper: ${created.status} ${created.text}`)
    const helperId = (created.json as { Id: string }).Id
    const names: BodyNames = { prefix, helper, helperId, image }
    const partial = new BodyOracle(names, { ipcMode: '', cgroupnsMode: '', maskedPaths: [], readonlyPaths: [], labelDisable: [] })
    try {
      const started = await dockerd('POST', `/v1.41/containers/${helperId}/start`)
      if (started.status !== 204) throw new Error(`cannot start the exec helper: ${started.status} ${started.text}`)
      const plain = await partial.inspectCreated(`${prefix}calibrate-0`, `{"Image":${JSON.stringify(image)}}`)
      const privileged = await partial.inspectCreated(`${prefix}calibrate-1`, `{"Image":${JSON.stringify(image)},"HostConfig":{"Privileged":true}}`)
      const h = plain.HostConfig
      const calibration: Calibration = {
        ipcMode: String(h.IpcMode), cgroupnsMode: String(h.CgroupnsMode),
        maskedPaths: list(h.MaskedPaths), readonlyPaths: list(h.ReadonlyPaths), labelDisable: list(privileged.HostConfig.SecurityOpt),
      }
      return new BodyOracle(names, calibration)
    } catch (error) {
      await partial.close()
      throw error
    }
  }

  /** Creates, inspects and removes one container (calibration only). */
  private async inspectCreated(name: string, body: string): Promise<Inspect> {
    const created = await dockerd('POST', `/v1.41/containers/create?name=${name}`, Buffer.from(body))
    if (created.status !== 201) throw new Error(`calibration create ${body} failed: ${created.status} ${created.text}`)
    const id = (created.json as { Id: string }).Id
    try {
      return (await dockerdRetry('GET', `/v1.41/containers/${id}/json`)).json as Inspect
    } finally {
      await dockerdRetry('DELETE', `/v1.41/containers/${id}?force=1&v=1`)
    }
  }

  /** The request line's path for a case. */
  path(c: BodyCase): string {
    if (c.kind === 'create') return `/v1.41/containers/create?name=${encodeURIComponent(c.name)}`
    if (c.kind === 'exec') return `/v1.41/containers/${this.names.helperId}/exec`
    return '/v1.41/volumes/create'
  }

  /** Sends the case straight to dockerd and judges what it applied against the guard. */
  async run(c: BodyCase): Promise<BodyOutcome> {
    const bytes = Buffer.from(c.body, 'utf8')
    let guard: { value?: GoObject; problem?: string }
    let thrown: string | undefined
    try {
      guard = decodeBody(SCHEMAS[c.kind], bytes)
    } catch (error) {
      // The guard must answer every body: a throw is no answer at all (a hung request in dockmoat).
      thrown = `${(error as Error).name}: ${(error as Error).message}`
      guard = { problem: `threw ${thrown}` }
    }
    let reply: Reply
    try {
      reply = await dockerd('POST', this.path(c), bytes)
    } catch (error) {
      await this.removeLeftovers(c)
      return { c, guard, status: 0, message: (error as Error).message, kind: 'disagreement', failure: `no answer from dockerd: ${(error as Error).message}` }
    }
    const applied = await this.appliedAndRemove(c, reply)
    const outcome = this.judge(c, guard, reply.status, messageOf(reply), applied)
    if (thrown === undefined) return outcome
    return { ...outcome, kind: 'disagreement', failure: `the guard's decodeBody threw ${thrown} instead of decoding or refusing the body (dockerd answered ${reply.status}${reply.status >= 400 ? ` ${messageOf(reply)}` : ''})` }
  }

  /** What dockerd applied for a create answer (read back, then removed). */
  async appliedAndRemove(c: BodyCase, reply: { status: number; json: unknown }): Promise<Applied> {
    if (reply.status >= 400 || reply.status === 0) return { leftovers: await this.removeLeftovers(c) }
    try {
      if (c.kind === 'create') {
        const id = (reply.json as { Id?: string } | undefined)?.Id ?? c.name
        const inspect = await dockerdRetry('GET', `/v1.41/containers/${id}/json`)
        await dockerdRetry('DELETE', `/v1.41/containers/${id}?force=1&v=1`)
        const seen = ((inspect.json as Inspect | undefined)?.Mounts ?? []).flatMap((m) => (m.Type === 'volume' && m.Name !== undefined ? [m.Name] : []))
        await this.removeVolumes([...c.volumes, ...seen.filter((n) => n.startsWith(this.names.prefix) || /^[0-9a-f]{64}$/.test(n))])
        if (inspect.status !== 200) return { leftovers: [] }
        return { view: dockerdCreateView(inspect.json as Inspect), binds: bindSources(inspect.json as Inspect), leftovers: [] }
      }
      if (c.kind === 'exec') {
        const id = (reply.json as { Id?: string } | undefined)?.Id ?? ''
        const inspect = await dockerdRetry('GET', `/v1.41/exec/${id}/json`)
        return inspect.status === 200 ? { view: dockerdExecView(inspect.json as { ProcessConfig?: { privileged?: boolean; user?: string } }), leftovers: [] } : { leftovers: [] }
      }
      const volume = reply.json as { Name?: string; Driver?: string; Options?: Record<string, string> | null }
      const name = volume.Name ?? ''
      const inspect = await dockerdRetry('GET', `/v1.41/volumes/${encodeURIComponent(name)}`)
      await this.removeVolumes([name, ...c.volumes])
      return inspect.status === 200 ? { view: dockerdVolumeView(inspect.json as typeof volume, this.names), leftovers: [] } : { leftovers: [] }
    } catch {
      await this.removeLeftovers(c)
      return { leftovers: [] }
    }
  }

  /** After a refusal: what exists anyway (and is removed). */
  private async removeLeftovers(c: BodyCase): Promise<string[]> {
    const left: string[] = []
    if (c.kind === 'create' && (await dockerdRetry('GET', `/v1.41/containers/${encodeURIComponent(c.name)}/json`)).status === 200) {
      left.push(`container ${c.name}`)
      await dockerdRetry('DELETE', `/v1.41/containers/${encodeURIComponent(c.name)}?force=1&v=1`)
    }
    for (const name of c.volumes) {
      // DELETE ?force=1 answers 204 for a volume that does not exist: ask first.
      if ((await dockerdRetry('GET', `/v1.41/volumes/${encodeURIComponent(name)}`)).status !== 200) continue
      left.push(`volume ${name}`)
      await dockerdRetry('DELETE', `/v1.41/volumes/${encodeURIComponent(name)}?force=1`)
    }
    return left
  }

  private async removeVolumes(names: string[]): Promise<void> {
    for (const name of new Set(names)) if (name !== '') await dockerdRetry('DELETE', `/v1.41/volumes/${encodeURIComponent(name)}?force=1`)
  }

  judge(c: BodyCase, guard: { value?: GoObject; problem?: string }, status: number, message: string, applied: Applied): BodyOutcome {
    const base = { c, guard, status, message }
    if (guard.problem !== undefined) {
      if (status < 400) {
        return { ...base, kind: 'disagreement', ...(applied.view ? { applied: applied.view } : {}), failure: `the guard refuses to decode the body (${guard.problem}), but dockerd accepted it (${status})` }
      }
      // A container named in a refused create may only exist when dockerd created it;
      // a volume too, but Binds volumes of a create refused later (validation) may exist.
      const created = applied.leftovers.filter((l) => c.kind === 'volume' || l.startsWith('container'))
      if (created.length > 0) return { ...base, kind: 'disagreement', failure: `dockerd refused (${status} ${message}) yet created ${created.join(', ')}` }
      return { ...base, kind: 'both-refused' }
    }
    const value = guard.value ?? {}
    const expected = c.kind === 'create' ? guardCreateView(value, this.names, this.calibration) : c.kind === 'exec' ? guardExecView(value) : guardVolumeView(value)
    if (status >= 400 || status === 0) {
      // A JSON error on a field the guard declares (or on no named field: syntax, a
      // strslice) means dockerd read the body otherwise than the guard did.
      const field = goDecodeField(message)
      if (field !== undefined && (field === '' || MODELLED.has(field))) {
        return { ...base, kind: 'disagreement', expected, failure: `dockerd could not decode the body (${status} ${message}), the guard decoded it` }
      }
      return { ...base, kind: 'refused-other', expected }
    }
    if (applied.view === undefined) return { ...base, kind: 'disagreement', expected, failure: `dockerd answered ${status}, but what it created could not be read back` }
    const diff = differences(expected, applied.view)
    if (diff.length > 0) return { ...base, kind: 'disagreement', expected, applied: applied.view, failure: diff.join('; ') }
    // The verdicts, against what dockerd applied: with no grant the guard must refuse
    // every escalation dockerd shows, with every grant it must allow, and every host path
    // dockerd binds must be one the guard judged.
    const bytes = Buffer.from(c.body, 'utf8')
    const inspector = INSPECTORS[c.kind]
    const escalated = escalations(c.kind, applied.view, applied.binds ?? [], this.calibration)
    const strict = inspectBody(inspector, bytes, NO_GRANTS)
    const open = inspectBody(inspector, bytes, EVERY_GRANT)
    const judged = new Set(open.allow ? (open.hostPaths ?? []).map((p) => p.path) : [])
    const unjudged = (applied.binds ?? []).filter((path) => !judged.has(path))
    const verdictFailure = escalated.length > 0 && strict.allow
      ? `with no grant the guard allows this body, yet dockerd applied ${escalated.join(', ')}`
      : !open.allow ? `with every grant (ALLOW_BIND=/, ALLOW_CAPS=ALL) the guard refuses: ${open.reason}`
        : unjudged.length > 0 ? `dockerd binds ${unjudged.map((p) => JSON.stringify(p)).join(', ')}, which the guard did not judge as host paths (it judged ${JSON.stringify([...judged])})`
          : undefined
    if (verdictFailure !== undefined) return { ...base, kind: 'disagreement', expected, applied: applied.view, failure: verdictFailure }
    const naive = naiveView(c)
    const outcome: BodyOutcome = { ...base, kind: 'agreed', expected, applied: applied.view, goSemantics: naive !== undefined && differences(naive, pick(applied.view, Object.keys(naive))).length > 0 }
    if (escalated.length > 0) outcome.escalations = escalated
    else if (!strict.allow) outcome.stricter = strict.reason
    return outcome
  }

  /** Removes everything this run made: leftovers of any case, then the helper (and its execs). */
  async close(): Promise<void> {
    const prefix = this.names.prefix
    const containers = await dockerdRetry('GET', `/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ name: [prefix] }))}`).catch(() => undefined)
    for (const c of (containers?.json as { Id: string; Names?: string[] }[] | undefined) ?? []) {
      if ((c.Names ?? []).some((n) => n.replace(/^\//, '').startsWith(prefix))) await dockerdRetry('DELETE', `/v1.41/containers/${c.Id}?force=1&v=1`).catch(() => undefined)
    }
    for (const filter of [{ name: [prefix] }, { label: [`org.dockmoat.oracle=${prefix}`] }]) {
      const volumes = await dockerdRetry('GET', `/v1.41/volumes?filters=${encodeURIComponent(JSON.stringify(filter))}`).catch(() => undefined)
      for (const v of ((volumes?.json as { Volumes?: { Name: string; Labels?: Record<string, string> | null }[] } | undefined)?.Volumes) ?? []) {
        if (v.Name.startsWith(prefix) || v.Labels?.['org.dockmoat.oracle'] === prefix) await dockerdRetry('DELETE', `/v1.41/volumes/${encodeURIComponent(v.Name)}?force=1`).catch(() => undefined)
      }
    }
  }
}

function pick(view: View, keys: string[]): View {
  return Object.fromEntries(keys.map((k) => [k, view[k]]))
}

/**
 * What a reader with JSON.parse semantics would take from the body (exact-case keys,
 * the last exact duplicate wins, objects replace, HostConfig or else the top level): a
 * few fields, to count the cases where Go's rules decided what dockerd applied.
 */
function naiveView(c: BodyCase): View | undefined {
  let parsed: unknown
  try { parsed = JSON.parse(c.body) } catch { return undefined }
  if (parsed === null || typeof parsed !== 'object') return undefined
  const body = parsed as Record<string, unknown>
  if (c.kind === 'exec') return { Privileged: body.Privileged === true }
  if (c.kind === 'volume') return { Options: sorted(Object.entries((body.DriverOpts ?? {}) as Record<string, unknown>)) }
  const hc = (body.HostConfig !== null && typeof body.HostConfig === 'object' ? body.HostConfig : body) as Record<string, unknown>
  const devices = Array.isArray(hc.Devices) ? (hc.Devices as ({ PathOnHost?: string; PathInContainer?: string } | null)[]) : []
  return {
    Privileged: hc.Privileged === true,
    Binds: list(hc.Binds),
    CapAdd: typeof hc.CapAdd === 'string' ? [hc.CapAdd] : list(hc.CapAdd),
    Devices: devices.map((d) => ({ PathOnHost: d?.PathOnHost ?? '', PathInContainer: d?.PathInContainer ?? '' })),
  }
}

// ---------------------------------------------------------------------------------------
// Verdicts

const grants = (on: boolean): GuardPolicy['grants'] => Object.fromEntries(TOGGLES.map((t) => [t.name, on])) as GuardPolicy['grants']
const NO_GRANTS: GuardPolicy = { grants: grants(false), allowBind: [], allowCaps: new Set(), cgroupParent: undefined, owner: undefined, mode: 'enforce', allowNames: undefined, allowImages: undefined }
const EVERY_GRANT: GuardPolicy = { grants: grants(true), allowBind: ['/'], allowCaps: 'ALL', cgroupParent: undefined, owner: undefined, mode: 'enforce', allowNames: undefined, allowImages: undefined }

function inspectorOf(path: string): NonNullable<ReturnType<typeof inspectorFor>> {
  const match = matchRoute('POST', path)
  const inspector = match.kind === 'route' ? inspectorFor(match.route) : undefined
  if (inspector === undefined) throw new Error(`dockmoat has no body inspector for POST ${path}`)
  return inspector
}
const INSPECTORS: Record<BodyKind, NonNullable<ReturnType<typeof inspectorFor>>> = {
  create: inspectorOf('/containers/create'), exec: inspectorOf('/containers/x/exec'), volume: inspectorOf('/volumes/create'),
}

/** dockerd's default capability set (20.10 oci/caps/defaults.go), without CAP_. */
const DEFAULT_CAPS = new Set(['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'])

/** Go's strings.ToUpper (simple mappings only: `ſ` is S, `ß` stays), then without CAP_ (oci/caps). */
function goCapability(name: string): string {
  const upper = [...name].map((c) => (([...c.toUpperCase()].length === 1) ? c.toUpperCase() : c)).join('')
  return upper.startsWith('CAP_') ? upper.slice(4) : upper
}

/** What dockerd applied beyond what a plain create gets, read from its own view only. */
export function escalations(kind: BodyKind, view: View, binds: string[], cal: Calibration): string[] {
  const out: string[] = []
  const shared = (mode: unknown): boolean => mode === 'host' || (typeof mode === 'string' && mode.startsWith('container:'))
  if (kind === 'exec') return view.Privileged === true ? ['a privileged exec'] : []
  const device = (options: Record<string, unknown>): string | undefined => {
    const dev = typeof options.device === 'string' ? options.device : ''
    const flags = (typeof options.o === 'string' ? options.o : '').split(',').map((f) => f.trim())
    return dev !== '' && !(options.type === 'tmpfs' && !flags.some((f) => f === 'bind' || f === 'rbind')) ? dev : undefined
  }
  if (kind === 'volume') {
    const dev = device(view.Options as Record<string, unknown>)
    return dev === undefined ? [] : [`a local volume mounting device ${JSON.stringify(dev)}`]
  }
  if (view.Privileged === true) out.push('Privileged')
  if (binds.length > 0) out.push(`bind mounts of ${binds.join(', ')}`)
  if ((view.VolumesFrom as string[]).length > 0) out.push(`VolumesFrom ${(view.VolumesFrom as string[]).join(',')}`)
  for (const field of ['NetworkMode', 'PidMode', 'IpcMode']) if (shared(view[field])) out.push(`${field} ${JSON.stringify(view[field])}`)
  for (const field of ['UTSMode', 'UsernsMode']) if (view[field] === 'host') out.push(`${field} "host"`)
  if (view.CgroupnsMode === 'host' && cal.cgroupnsMode !== 'host') out.push('CgroupnsMode "host"')
  const caps = (view.CapAdd as string[]).filter((c) => !DEFAULT_CAPS.has(goCapability(c)))
  if (caps.length > 0) out.push(`CapAdd ${caps.join(',')}`)
  const auto = view.Privileged === true || view.PidMode === 'host' || view.IpcMode === 'host'
  const opts = (view.SecurityOpt as string[]).filter((o) => !(auto && cal.labelDisable.includes(o)) && o.split(/[=:]/)[0] !== 'no-new-privileges')
  if (opts.length > 0) out.push(`SecurityOpt ${opts.join(' ')}`)
  for (const [field, defaults] of [['MaskedPaths', cal.maskedPaths], ['ReadonlyPaths', cal.readonlyPaths]] as const) {
    const paths = view[field] as string[] | null
    if (paths !== null && defaults.some((p) => !paths.includes(p))) out.push(`${field} without some defaults`)
  }
  if ((view.Devices as unknown[]).length > 0) out.push('Devices')
  if ((view.DeviceCgroupRules as unknown[]).length > 0) out.push('DeviceCgroupRules')
  if ((view.Networks as string[]).includes('host')) out.push('the "host" network endpoint')
  for (const m of view.Mounts as { Type: string; Options: Record<string, unknown> }[]) {
    const dev = m.Type === 'volume' ? device(m.Options) : undefined
    if (dev !== undefined) out.push(`a volume mount with device ${JSON.stringify(dev)}`)
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Running many

export interface BodyStats {
  total: number
  byKind: Record<OutcomeKind, number>
  byBodyKind: Record<BodyKind, Record<OutcomeKind, number>>
  /** dockerd's reasons for refusing bodies the guard decoded, counted. */
  reasons: Map<string, number>
  disagreements: BodyOutcome[]
  disagreementCount: number
  goSemantics: number
  /** Agreeing cases where dockerd applied an escalation (the guard refused it with no grant). */
  escalated: number
  /** The guard's reasons for refusing, with no grant, bodies dockerd applied nothing special for. */
  stricter: Map<string, number>
  /** How often each trick appeared in a case dockerd created and that agreed. */
  tricksAgreed: Map<string, number>
  ms: number
}

export function emptyStats(): BodyStats {
  const zero = (): Record<OutcomeKind, number> => ({ agreed: 0, 'both-refused': 0, 'refused-other': 0, disagreement: 0 })
  return { total: 0, byKind: zero(), byBodyKind: { create: zero(), exec: zero(), volume: zero() }, reasons: new Map(), disagreements: [], disagreementCount: 0, goSemantics: 0, escalated: 0, stricter: new Map(), tricksAgreed: new Map(), ms: 0 }
}

export function record(stats: BodyStats, o: BodyOutcome, names: BodyNames, keep = 100): void {
  stats.total++
  stats.byKind[o.kind]++
  stats.byBodyKind[o.c.kind][o.kind]++
  if (o.kind === 'refused-other') {
    const key = `${o.c.kind} ${o.status} ${reasonKey(o.message, names)}`
    stats.reasons.set(key, (stats.reasons.get(key) ?? 0) + 1)
  }
  if (o.kind === 'disagreement') {
    stats.disagreementCount++
    if (stats.disagreements.length < keep) stats.disagreements.push(o)
  }
  if (o.kind === 'agreed') {
    if (o.goSemantics) stats.goSemantics++
    if (o.escalations) stats.escalated++
    if (o.stricter !== undefined) {
      const key = `${o.c.kind} ${o.stricter.replace(/^dockmoat refused [^:]*: /, '').replace(/"(?:[^"\\]|\\.)*"/g, '"…"').slice(0, 140)}`
      stats.stricter.set(key, (stats.stricter.get(key) ?? 0) + 1)
    }
    for (const trick of o.c.tricks) stats.tricksAgreed.set(trick, (stats.tricksAgreed.get(trick) ?? 0) + 1)
  }
}

/** Runs cases with `concurrency` in flight. */
export async function runBodies(oracle: BodyOracle, source: Iterable<BodyCase>, options: { concurrency?: number; keep?: number; onOutcome?: (o: BodyOutcome) => void; shouldStop?: () => boolean } = {}): Promise<BodyStats> {
  const started = performance.now()
  const stats = emptyStats()
  const iterator = source[Symbol.iterator]()
  const worker = async (): Promise<void> => {
    for (;;) {
      if (options.shouldStop?.()) return
      const next = iterator.next()
      if (next.done) return
      const o = await oracle.run(next.value)
      record(stats, o, oracle.names, options.keep)
      options.onOutcome?.(o)
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker))
  stats.ms = performance.now() - started
  return stats
}

export function bodySummary(stats: BodyStats): string {
  const k = stats.byKind
  const lines = [
    `${stats.total} bodies in ${(stats.ms / 1000).toFixed(1)} s: ${k.agreed} created by dockerd exactly as the guard decoded them, ${k['both-refused']} refused by both, ${k['refused-other']} decoded by the guard but refused by dockerd for its own reasons, ${k.disagreement} disagreements`,
    `  ${stats.goSemantics} of the agreeing bodies are ones where JSON.parse would have read another value (Go's fold, merge or null rules decided)`,
    `  ${stats.escalated} of them escalate (privileged, host paths, namespaces, capabilities, devices...), and the guard refused each with no grant`,
  ]
  for (const kind of ['create', 'exec', 'volume'] as const) {
    const b = stats.byBodyKind[kind]
    lines.push(`  ${kind.padEnd(6)} agreed ${b.agreed}, both refused ${b['both-refused']}, refused by dockerd only ${b['refused-other']}, disagreements ${b.disagreement}`)
  }
  if (stats.reasons.size > 0) {
    lines.push('dockerd\'s own reasons for refusing bodies the guard decoded:')
    for (const [reason, n] of [...stats.reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${String(n).padStart(6)}  ${reason}`)
  }
  if (stats.stricter.size > 0) {
    lines.push('the guard refuses with no grant, though dockerd applied nothing beyond a plain create (fail-closed):')
    for (const [reason, n] of [...stats.stricter.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10)) lines.push(`  ${String(n).padStart(6)}  ${reason}`)
  }
  return lines.join('\n')
}

/** One outcome in full, for a failure report: the exact body, both views, the differences. */
export function describeBody(o: BodyOutcome, seed?: number): string {
  const guard = o.guard.problem !== undefined ? `refuses to decode: ${o.guard.problem}` : JSON.stringify(o.expected)
  return [
    `${o.failure}`,
    `  case:     ${o.c.kind} #${o.c.index}${seed !== undefined ? ` of seed ${seed} (replay: node test/conformance/fuzz.ts --bodies --seed ${seed} --start ${o.c.index} --count 1)` : ''}; tricks ${o.c.tricks.join(', ')}`,
    `  body:     ${JSON.stringify(o.c.body)}`,
    `  raw:      ${o.c.body}`,
    `  dockerd:  ${o.status}${o.message ? ` ${JSON.stringify(o.message.slice(0, 300))}` : ''}${o.applied ? ` applied ${JSON.stringify(o.applied)}` : ''}`,
    `  guard:    ${guard}`,
  ].join('\n')
}

// ---------------------------------------------------------------------------------------
// Through a running dockmoat: the same body, framed in different ways on a raw socket.
// dockmoat must forward the bytes unchanged, so dockerd must apply exactly what it
// applied for the direct send.

export const FRAMINGS = ['content-length', 'split', 'chunked', 'chunked-split', 'expect', 'expect-chunked'] as const
export type Framing = typeof FRAMINGS[number]

/** The request as raw steps: head and body bytes, split and paced per the framing. */
export function framedRequest(path: string, body: Buffer, framing: Framing, rng: Rng): Step[] {
  const chunked = framing.includes('chunked')
  const expect = framing.startsWith('expect')
  const head = Buffer.from([
    `POST ${path} HTTP/1.1`, 'Host: docker', 'User-Agent: dockmoat-body-oracle', 'Content-Type: application/json',
    chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${body.length}`,
    ...(expect ? ['Expect: 100-continue'] : []), 'Connection: close', '', '',
  ].join('\r\n'), 'latin1')
  let payload = body
  if (chunked) {
    // Odd chunk sizes, hex in either case, now and then a chunk extension.
    const parts: Buffer[] = []
    for (let at = 0; at < body.length;) {
      const size = Math.min(body.length - at, 1 + rng.int(rng.chance(0.5) ? 7 : 61))
      const hex = size.toString(16)
      parts.push(Buffer.from(`${rng.chance(0.5) ? hex : hex.toUpperCase()}${rng.chance(0.1) ? ';dmo=1' : ''}\r\n`, 'latin1'), body.subarray(at, at + size), Buffer.from('\r\n'))
      at += size
    }
    parts.push(Buffer.from('0\r\n\r\n'))
    payload = Buffer.concat(parts)
  }
  if (expect) return [head, { waitForBytes: 25, timeoutMs: 3000 }, ...pieces(payload, framing === 'expect' ? 1 : 3, rng)]
  if (framing === 'split' || framing === 'chunked-split') return pieces(Buffer.concat([head, payload]), 2 + rng.int(4), rng)
  return [Buffer.concat([head, payload])]
}

/** Cuts bytes at random places (inside UTF-8 sequences too) with short pauses between. */
function pieces(bytes: Buffer, count: number, rng: Rng): Step[] {
  const cuts = [...new Set(Array.from({ length: count - 1 }, () => 1 + rng.int(Math.max(1, bytes.length - 1))))].sort((a, b) => a - b)
  const steps: Step[] = []
  let from = 0
  for (const cut of [...cuts, bytes.length]) {
    if (cut <= from) continue
    if (steps.length > 0) steps.push({ waitMs: 2 + rng.int(25) })
    steps.push(bytes.subarray(from, cut))
    from = cut
  }
  return steps
}

export interface ProxyOutcome {
  c: BodyCase
  framing: Framing
  direct: BodyOutcome
  status: number
  /** The answer carried Api-Version: it came from dockerd, not from dockmoat. */
  fromDockerd: boolean
  message: string
  applied?: View
  failure?: string
}

/** Sends a case through dockmoat (after its direct run has been judged and removed). */
export async function runThroughProxy(oracle: BodyOracle, c: BodyCase, port: number, framing: Framing, direct: BodyOutcome, seed: number): Promise<ProxyOutcome> {
  const bytes = Buffer.from(c.body, 'utf8')
  const rng = new Rng(mix(seed, c.index, 0xf4a3e))
  const x = await exchange({ port }, framedRequest(oracle.path(c), bytes, framing, rng), { timeoutMs: 60_000, idleMs: 5000 })
  const answer = x.responses.find((r) => r.status >= 200)
  const status = answer?.status ?? 0
  const bodyText = answer?.body.toString('utf8') ?? ''
  let json: unknown
  try { json = JSON.parse(bodyText) } catch { json = undefined }
  const message = status >= 400 ? (((json as { message?: string } | undefined)?.message) ?? bodyText.slice(0, 300)) : ''
  const fromDockerd = answer?.headers['api-version'] !== undefined
  const applied = await oracle.appliedAndRemove(c, { status, json })
  const out: ProxyOutcome = { c, framing, direct, status, fromDockerd, message, ...(applied.view ? { applied: applied.view } : {}) }
  if (status === 0) out.failure = `no answer through dockmoat (${x.error ?? 'nothing came back'}; ${x.data.length} bytes)`
  else if (direct.guard.problem !== undefined) {
    if (fromDockerd || status !== 400) out.failure = `the guard cannot decode this body, yet dockmoat answered ${status}${fromDockerd ? ' from dockerd (it forwarded the body)' : ''}`
    else if (applied.leftovers.some((l) => l.startsWith('container')) || (c.kind === 'volume' && applied.leftovers.length > 0)) out.failure = `dockmoat refused, yet ${applied.leftovers.join(', ')} exists`
  } else if (!fromDockerd) {
    out.failure = `dockmoat refused a body its guard decodes, with every grant on: ${status} ${message}`
  } else if (status !== direct.status) {
    out.failure = `through dockmoat dockerd answered ${status} ${JSON.stringify(message)}, sent directly ${direct.status} ${JSON.stringify(direct.message)}`
  } else if (status < 400) {
    const diff = differences(direct.applied ?? {}, applied.view ?? {})
    if (diff.length > 0) out.failure = `through dockmoat dockerd applied something else than for the direct send: ${diff.join('; ').replaceAll('the guard decoded', 'direct')}`
  } else if (reasonKey(message, oracle.names) !== reasonKey(direct.message, oracle.names)) {
    out.failure = `through dockmoat dockerd refused with ${JSON.stringify(message)}, directly with ${JSON.stringify(direct.message)}`
  }
  return out
}

export function describeProxied(o: ProxyOutcome, seed?: number): string {
  return [
    `${o.failure}`,
    `  case:     ${o.c.kind} #${o.c.index}${seed !== undefined ? ` of seed ${seed}` : ''}, framing ${o.framing}`,
    `  body:     ${JSON.stringify(o.c.body)}`,
    `  direct:   ${o.direct.status} ${o.direct.message}${o.direct.applied ? ` applied ${JSON.stringify(o.direct.applied)}` : ''}`,
    `  proxied:  ${o.status}${o.fromDockerd ? ' (from dockerd)' : ' (from dockmoat)'} ${o.message}${o.applied ? ` applied ${JSON.stringify(o.applied)}` : ''}`,
  ].join('\n')
}
