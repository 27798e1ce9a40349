// The body guard: what a request asks dockerd to give the container (or build, service,
// plugin) beyond what dockerd gives by default, judged against the operator's grants.
// Pure: (route, query, decoded body, grants) -> findings, each naming the field and the
// one variable that would allow it. See SECURITY.md for every field and every limit.
import type { Route } from '../routes.ts'
import type { Config, GuardGrant } from '../settings.ts'
import { DEFAULT_CAPABILITIES, normalizeCapability } from '../capabilities.ts'
import { goPathClean, isWithin } from '../go-path.ts'
import { isFormContentType, queryValues } from '../query.ts'
import { parseJson } from './json.ts'
import { decodeGo, object, objects, strings, text, type GoObject, type GoValue } from './go-decode.ts'
import { structOf, type GoStruct } from './go-types.ts'
import { imageAllowed, normalizeImage } from '../images.ts'
import { ContainerCreateWrapper, ExecConfig, LabelledCreate, NetworkConnect, ServiceSpec, VolumeCreate } from './schemas.ts'

export type GuardPolicy = Pick<Config, 'grants' | 'allowBind' | 'allowCaps' | 'allowNames' | 'allowImages' | 'cgroupParent' | 'owner' | 'mode'>

/** What a create or exec runs, for the log line that answers "who ran what" (never its environment). */
export interface Subject { image?: string; cmd?: readonly string[] }

/** A host path the guard allowed by its name, and the field that asked for it. */
export interface HostPath { path: string; what: string }

/** What the guard adds to a request it allows (CGROUP_PARENT, OWNER). */
export interface Rewrite {
  /** JSON members appended to the body's top-level object: Go applies them last. */
  members?: string[]
  /** Query keys set to these values, replacing every pair dockerd would read as them. */
  query?: Record<string, string>
}

export type GuardVerdict =
  | {
    allow: true; hostPaths?: readonly HostPath[]; rewrite?: Rewrite
    /** Every grant the request used, allowed or not (`ALLOW_PRIVILEGED`, `ALLOW_BIND=/srv`, `ALLOW_CAPS=NET_ADMIN`). */
    needs?: readonly string[]
    /** MODE=audit: what enforcing would have refused. */
    wouldRefuse?: GuardRefusal
    subject?: Subject
  }
  | GuardRefusal

export interface GuardRefusal { allow: false; status: 400 | 403; reason: string; variables: readonly string[]; needs?: readonly string[]; subject?: Subject }

// While a request is judged, the host paths allowed so far, the rewrite and every grant
// the request uses are kept here.
interface Scope extends GuardPolicy { hostPaths?: HostPath[]; rewrite?: Rewrite; needs?: string[]; subject?: Subject }

/**
 * One thing the request asks for that the configuration does not allow; `fix` replaces
 * "set <variable>". `need` is the grant that would allow it, absent when none can
 * (a malformed request, CGROUP_PARENT and OWNER's rules): MODE=audit waives only those with one.
 */
interface Finding { what: string; variable: string; fix?: string; need?: string }

interface Inspector {
  /** The struct dockerd decodes the body into, when the body matters. */
  body?: GoStruct
  /** Judged before any body is read (route, its path's variables, query and headers only). */
  head?: (query: string, contentType: string | undefined, policy: Scope, params: readonly string[]) => Finding[]
  judge?: (body: GoObject, policy: Scope) => Finding[]
}

const judgeCreate = (body: GoObject, policy: Scope): Finding[] => {
  policy.subject = { image: text(body.Image), cmd: [...strings(body.Entrypoint), ...strings(body.Cmd)] }
  const image = judgeImage(policy, text(body.Image), 'Image')
  // Engine 20.10 to 26 take HostConfig fields from the top level when the HostConfig key
  // is absent or null (runconfig.ContainerConfigWrapper.getHostConfig); later engines
  // read only HostConfig. Either way the fields used are those of `inner ?? top`.
  const inner = object(body.HostConfig)
  const top = object(body.TopHostConfig)
  const hostConfig = inner ?? top
  const findings = hostConfig === undefined ? [] : judgeHostConfig(hostConfig, inner === undefined ? '' : 'HostConfig.', policy)
  const endpoints = object(body.NetworkingConfig)?.EndpointsConfig
  if (endpoints instanceof Map && endpoints.has('host')) {
    findings.push(flag(policy, 'ALLOW_HOST_NAMESPACES', 'NetworkingConfig.EndpointsConfig attaches the "host" network'))
  }
  // CGROUP_PARENT and OWNER may append a HostConfig, which 20.10 would then read instead
  // of the top-level fields: those are refused rather than silently dropped.
  const rewriters = [policy.cgroupParent === undefined ? '' : 'CGROUP_PARENT', policy.owner === undefined ? '' : 'OWNER'].filter(Boolean)
  if (inner === undefined && top !== undefined && rewriters.length > 0) {
    findings.push({ what: 'HostConfig fields at the top level of the body (read by Engine 20.10 to 26)', variable: rewriters.join(', '), fix: `send them inside HostConfig, as every current client does (with ${rewriters.join(' and ')} set, dockmoat may append a HostConfig, which 20.10 would read instead)` })
  } else if (policy.cgroupParent !== undefined) {
    findings.push(...forceCgroupParent(inner, policy, policy.cgroupParent))
  }
  stampOwner(policy)
  return [...image, ...findings].filter(isFinding)
}

/**
 * CGROUP_PARENT: a body may leave HostConfig.CgroupParent empty or name the forced one;
 * the guard then appends `"HostConfig":{"CgroupParent":...}`, which Go merges into the
 * HostConfig already decoded.
 */
function forceCgroupParent(inner: GoObject | undefined, policy: Scope, forced: string): Finding[] {
  const fix = `leave it empty or set it to ${JSON.stringify(forced)} (CGROUP_PARENT=${forced} places every container there)`
  const asked = text(inner?.CgroupParent)
  if (asked !== '' && asked !== forced) return [{ what: `HostConfig.CgroupParent is ${JSON.stringify(asked)}`, variable: 'CGROUP_PARENT', fix }]
  addMembers(policy, `"HostConfig":${JSON.stringify({ CgroupParent: forced })}`)
  return []
}

const INSPECTORS: ReadonlyMap<string, Inspector> = new Map<string, Inspector>([
  ['POST /containers/create', { body: ContainerCreateWrapper, judge: judgeCreate, head: (query, _c, policy) => judgeName(policy, queryValues(query, 'name'), true) }],
  ['POST /containers/{name}/rename', { head: queryOnly((query, _c, policy) => judgeName(policy, queryValues(query, 'name'), true)) }],
  // dockerd's postImagesCreate: fromImage (+ tag) pulls, fromSrc imports a tarball under `repo`.
  ['POST /images/create', {
    head: queryOnly((query, _c, policy) => {
      if (policy.allowImages === undefined) return []
      if (queryValues(query, 'fromSrc').length > 0 || queryValues(query, 'fromImage').length === 0) return [imagesRefused('an image import (docker import) names its image only inside the tarball\'s repo, which dockmoat does not judge')]
      return queryValues(query, 'fromImage').flatMap((image) => withTags(image, queryValues(query, 'tag')).flatMap((ref) => judgeImage(policy, ref, 'pull fromImage')))
    }),
  }],
  ['POST /images/{name}/push', { head: queryOnly((query, _c, policy, [name]) => withTags(name ?? '', queryValues(query, 'tag')).flatMap((ref) => judgeImage(policy, ref, 'push'))) }],
  ['POST /images/{name}/tag', {
    head: queryOnly((query, _c, policy, [name]) => [
      ...judgeImage(policy, name ?? '', 'tag source'),
      ...queryValues(query, 'repo').flatMap((repo) => withTags(repo, queryValues(query, 'tag')).flatMap((ref) => judgeImage(policy, ref, 'tag repo'))),
    ]),
  }],
  ['POST /images/load', { head: (_q, _c, policy) => (policy.allowImages === undefined ? [] : [imagesRefused('docker load brings images under the names inside the tarball, which dockmoat does not read')]) }],
  // API < 1.24 still takes a HostConfig in the start body, and 20.10 applies it
  // (daemon/start.go "kept for backward compatibility"); it is decoded like a create.
  ['POST /containers/{name}/start', {
    body: ContainerCreateWrapper,
    judge: (body, policy) => {
      const hostConfig = object(body.HostConfig) ?? object(body.TopHostConfig)
      // 20.10's start replaces the container's whole HostConfig with this one.
      if ((policy.cgroupParent !== undefined || policy.owner !== undefined) && hostConfig !== undefined) {
        const variable = policy.cgroupParent !== undefined ? 'CGROUP_PARENT' : 'OWNER'
        return [{ what: `a start body (API < 1.24) replaces the HostConfig, ${variable === 'OWNER' ? 'its references' : 'CgroupParent'} included`, variable, fix: 'send the HostConfig with the create instead' }]
      }
      return judgeCreate(body, { ...policy, cgroupParent: undefined, owner: undefined })
    },
  }],
  ['POST /containers/{name}/exec', {
    body: ExecConfig,
    judge: (body, policy) => {
      policy.subject = { cmd: strings(body.Cmd) }
      return [body.Privileged === true ? flag(policy, 'ALLOW_PRIVILEGED', 'Privileged is true (the exec gets every capability)') : undefined].filter(isFinding)
    },
  }],
  ['POST /volumes/create', {
    body: VolumeCreate,
    judge: (body, policy) => {
      stampOwner(policy)
      return judgeVolumeOptions(body.DriverOpts, 'DriverOpts', policy)
    },
  }],
  ['POST /services/create', { body: ServiceSpec, judge: judgeService }],
  ['POST /services/{id}/update', { body: ServiceSpec, judge: judgeService }],
  // Read so that the own stage can check the container they name (OWNER).
  ['POST /networks/{id}/connect', { body: NetworkConnect, judge: () => [] }],
  ['POST /networks/{id}/disconnect', { body: NetworkConnect, judge: () => [] }],
  ...['POST /networks/create', 'POST /secrets/create', 'POST /configs/create', 'POST /commit'].map((display): [string, Inspector] => [display, {
    body: LabelledCreate,
    judge: (_body, policy) => {
      stampOwner(policy)
      return []
    },
    ...(display === 'POST /commit' ? { head: queryOnly((query, _c, policy) => queryValues(query, 'repo').flatMap((repo) => withTags(repo, queryValues(query, 'tag')).flatMap((ref) => judgeImage(policy, ref, 'commit repo')))) } : {}),
  }]),
  ['POST /build', { head: judgeBuild }],
  ['POST /session', { head: (_q, _c, policy) => judgeBuildKit(policy) }],
  ['POST /grpc', { head: (_q, _c, policy) => judgeBuildKit(policy) }],
  ['POST /swarm/join', { head: (_q, _c, policy) => [flag(policy, 'ALLOW_PRIVILEGED', 'joining a swarm lets its managers run any task on this host, with any bind or capability')].filter(isFinding) }],
  ...['POST /plugins/pull', 'POST /plugins/{name}/upgrade', 'POST /plugins/create', 'POST /plugins/{name}/set'].map((display): [string, Inspector] => [display, {
    head: (_q, _c, policy) => [flag(policy, 'ALLOW_PRIVILEGED', 'a plugin runs as root with the host mounts, devices and capabilities it declares (or is set to)')].filter(isFinding),
  }]),
])

function judgeBuildKit(policy: GuardPolicy): Finding[] {
  const findings = [flag(policy, 'ALLOW_HOST_NAMESPACES', BUILDKIT)]
  if (policy.cgroupParent !== undefined) findings.push({ what: 'BuildKit runs its steps outside CGROUP_PARENT', variable: 'CGROUP_PARENT', fix: 'use the classic builder (DOCKER_BUILDKIT=0)' })
  return findings.filter(isFinding)
}

const BUILDKIT = 'BuildKit allows RUN --network=host by default (the network.host entitlement), and dockmoat cannot read inside its gRPC stream'

/** The guard's view of a route: undefined when nothing about the request can escalate. */
export function inspectorFor(route: Route): Inspector | undefined {
  return INSPECTORS.get(route.display)
}

export function inspectHead(inspector: Inspector, query: string, contentType: string | undefined, policy: GuardPolicy, params: () => readonly string[]): GuardVerdict {
  const scope: Scope = { ...policy, needs: [] }
  return verdict(inspector.head?.(query, contentType, scope, inspector.head.length > 3 ? params() : []) ?? [], scope)
}

/** An empty body is `{}` (nothing asked for); anything else is decoded as dockerd does. */
export function inspectBody(inspector: Inspector, bytes: Uint8Array, policy: GuardPolicy): GuardVerdict {
  if (inspector.body === undefined || inspector.judge === undefined || bytes.length === 0) return { allow: true }
  const parsed = parseJson(bytes, structOf(inspector.body))
  if (!parsed.ok) return { allow: false, status: 400, reason: `${parsed.problem}; dockmoat forwards only bodies it can read as dockerd will`, variables: [] }
  const decoded = decodeGo(inspector.body, parsed.node)
  if (decoded.error !== undefined) return { allow: false, status: 400, reason: `dockerd would not decode this body: ${decoded.error}`, variables: [] }
  const scope: Scope = { ...policy, hostPaths: [], needs: [] }
  return verdict(inspector.judge(decoded.value, scope), scope)
}

/**
 * The body with `members` appended to its top-level object. The body was decoded into a
 * struct, so it is an object or `null`; `null` becomes an object of just the members.
 */
export function appendMembers(body: Uint8Array, members: string): Buffer {
  const text = Buffer.from(body).toString('utf8')
  if (!text.trimEnd().endsWith('}')) return Buffer.from(`{${members}}`)
  const close = text.lastIndexOf('}')
  let before = close - 1
  while (before >= 0 && ' \t\r\n'.includes(text[before]!)) before--
  const separator = text[before] === '{' ? '' : ','
  return Buffer.from(text.slice(0, close) + separator + members + text.slice(close))
}

/**
 * The second look at allowed host paths, once dockmoat has resolved them through
 * symlinks in its own view of the allowed roots (bind-view.ts): each must still lie in
 * a root (`roots` as resolved the same way). `resolved[i]` is undefined when the path
 * could not be resolved (a dangling symlink, no permission).
 */
export function judgeResolved(hostPaths: readonly HostPath[], resolved: readonly (string | undefined)[], roots: readonly string[], policy: GuardPolicy): GuardVerdict {
  const findings: Finding[] = []
  hostPaths.forEach(({ path, what }, i) => {
    const real = resolved[i]
    if (real !== undefined && roots.some((root) => isWithin(root, real))) return
    const how = real === undefined ? 'cannot be resolved through its symlinks' : `resolves through a symlink to ${JSON.stringify(real)}`
    findings.push({ what: `${what}: ${JSON.stringify(path)} ${how}, outside ALLOW_BIND (${policy.allowBind.join(',')})`, variable: `ALLOW_BIND=${[...policy.allowBind, real ?? '/'].join(',')}`, need: `ALLOW_BIND=${real ?? '/'}` })
  })
  return verdict(findings, { ...policy })
}

/** What the guard decoded, for tests and the body oracle. */
export function decodeBody(body: GoStruct, bytes: Uint8Array): { value?: GoObject; problem?: string } {
  const parsed = parseJson(bytes, structOf(body))
  if (!parsed.ok) return { problem: parsed.problem }
  const decoded = decodeGo(body, parsed.node)
  return decoded.error === undefined ? { value: decoded.value } : { value: decoded.value, problem: decoded.error }
}

function verdict(findings: Finding[], scope: Scope): GuardVerdict {
  const allowed: GuardVerdict & { allow: true } = {
    allow: true,
    ...(scope.hostPaths !== undefined && scope.hostPaths.length > 0 ? { hostPaths: scope.hostPaths } : {}),
    ...(scope.rewrite !== undefined ? { rewrite: scope.rewrite } : {}),
    ...(scope.needs !== undefined && scope.needs.length > 0 ? { needs: [...new Set(scope.needs)] } : {}),
    ...(scope.subject === undefined ? {} : { subject: scope.subject }),
  }
  if (findings.length === 0) return allowed
  const seen = new Set<string>()
  const parts = findings.filter((f) => !seen.has(f.what) && seen.add(f.what)).map((f) => `${f.what}: ${f.fix ?? `set ${f.variable}`}`)
  const variables = [...new Set(findings.map((f) => (f.need ?? '').split('=')[0]!).filter(Boolean))]
  const refusal: GuardRefusal = {
    allow: false, status: 403, reason: parts.join('; '), variables,
    ...(allowed.needs === undefined ? {} : { needs: allowed.needs }),
    ...(allowed.subject === undefined ? {} : { subject: allowed.subject }),
  }
  return scope.mode === 'audit' && findings.every((f) => f.need !== undefined) ? { ...allowed, wouldRefuse: refusal } : refusal
}

function judgeHostConfig(hc: GoObject, at: string, policy: GuardPolicy): (Finding | undefined)[] {
  const findings: (Finding | undefined)[] = []
  const where = (field: string): string => at === '' ? `${field} (top level, read as HostConfig.${field} by Engine 20.10 to 26)` : at + field
  if (hc.Privileged === true) findings.push(flag(policy, 'ALLOW_PRIVILEGED', `${where('Privileged')} is true`))

  strings(hc.Binds).forEach((bind, i) => {
    // linuxParser.ParseMountRaw: SplitN(":", 4); an absolute first part of two or more
    // is a host path, anything else a volume name or an anonymous volume.
    const parts = bind.split(':')
    if (parts.length >= 2 && parts[0]!.startsWith('/')) findings.push(bindPath(policy, parts[0]!, `${where('Binds')}[${i}] ${JSON.stringify(bind)}`))
  })
  objects(hc.Mounts).forEach((mount, i) => findings.push(...judgeMount(mount, `${where('Mounts')}[${i}]`, policy)))
  // With OWNER, the own stage lets only owned or adopted containers be referenced.
  if (strings(hc.VolumesFrom).length > 0 && policy.owner === undefined) {
    findings.push(bindPath(policy, '/', `${where('VolumesFrom')} copies every mount of another container, host binds included, which dockmoat cannot see`))
  }

  for (const field of ['NetworkMode', 'PidMode', 'IpcMode']) {
    const mode = text(hc[field])
    if (mode.toLowerCase() === 'host' || (mode.startsWith('container:') && policy.owner === undefined)) {
      findings.push(flag(policy, 'ALLOW_HOST_NAMESPACES', `${where(field)} is ${JSON.stringify(mode)}${mode.startsWith('container:') ? ' (that container\'s namespace may be the host\'s)' : ''}`))
    }
  }
  for (const field of ['UTSMode', 'UsernsMode', 'CgroupnsMode']) {
    if (text(hc[field]).toLowerCase() === 'host') findings.push(flag(policy, 'ALLOW_HOST_NAMESPACES', `${where(field)} is "host"`))
  }

  for (const field of ['CapAdd', 'Capabilities']) {
    for (const name of strings(hc[field])) findings.push(capability(policy, name, where(field)))
  }

  for (const option of strings(hc.SecurityOpt)) {
    // daemon/daemon_unix.go parseSecurityOpt: only no-new-privileges restricts; seccomp,
    // apparmor and label (and a bare "disable") loosen or replace the confinement.
    const key = option.includes('=') ? option.slice(0, option.indexOf('=')) : option.includes(':') ? option.slice(0, option.indexOf(':')) : option
    if (key !== 'no-new-privileges') findings.push(flag(policy, 'ALLOW_UNCONFINED', `${where('SecurityOpt')} ${JSON.stringify(option)}`))
  }
  for (const [field, defaults] of [['MaskedPaths', DEFAULT_MASKED_PATHS], ['ReadonlyPaths', DEFAULT_READONLY_PATHS]] as const) {
    const value = hc[field]
    if (!Array.isArray(value)) continue
    const missing = defaults.filter((path) => !value.includes(path))
    if (missing.length > 0) findings.push(flag(policy, 'ALLOW_UNCONFINED', `${where(field)} leaves out ${missing.join(', ')} (unmasked system paths)`))
  }

  for (const field of ['Devices', 'DeviceCgroupRules', 'DeviceRequests']) {
    if (Array.isArray(hc[field]) && (hc[field] as GoValue[]).length > 0) findings.push(flag(policy, 'ALLOW_DEVICES', `${where(field)} gives host devices`))
  }
  return findings
}

// oci/defaults.go: what dockerd masks and makes read-only when the body says nothing.
export const DEFAULT_MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware']
export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

function judgeMount(mount: GoObject, at: string, policy: GuardPolicy): (Finding | undefined)[] {
  const type = text(mount.Type).toLowerCase()
  if (type === 'bind') return [bindPath(policy, text(mount.Source), `${at} binds ${JSON.stringify(text(mount.Source))}`)]
  if (type === 'volume') {
    const driver = object(object(mount.VolumeOptions)?.DriverConfig)
    return judgeVolumeOptions(driver?.Options, `${at}.VolumeOptions.DriverConfig.Options`, policy)
  }
  return []
}

/**
 * The local driver mounts `device` at first use with mount(2) as root in dockerd's
 * namespaces (volume/local/local_unix.go): `o=bind` binds a host path; a block
 * filesystem mounts a host device; overlay takes host paths from `o` (`lowerdir=`);
 * proc, sysfs, cgroup, devtmpfs and the like mount the host kernel's own instance; NFS and
 * CIFS reach the network. Only a plain tmpfs stays off the host. Judged for every driver:
 * a plugin given a `device` is the operator's to allow.
 */
function judgeVolumeOptions(options: GoValue | undefined, at: string, policy: GuardPolicy): Finding[] {
  if (!(options instanceof Map)) return []
  const device = text(options.get('device'))
  if (device === '') return []
  const type = text(options.get('type'))
  const o = text(options.get('o'))
  const flags = o.split(',').map((token) => token.trim().toLowerCase())
  const what = `${at} mounts device=${JSON.stringify(device)} (type=${JSON.stringify(type)}, o=${JSON.stringify(o)})`
  // With MS_BIND the kernel ignores the type and the data: the device is the host path.
  if (flags.includes('bind') || flags.includes('rbind')) return [bindPath(policy, device, what)].filter(isFinding)
  const moves = flags.includes('move') || flags.includes('remount')
  if (type === 'tmpfs' && !moves) return []
  if (BLOCK_FILESYSTEMS.has(type) && !moves && !o.includes('/')) return [bindPath(policy, device, what)].filter(isFinding)
  return [bindPath(policy, '/', `${what}, which can reach any host path, the host kernel's proc or sysfs, or the network`)].filter(isFinding)
}

/** Filesystems that mount a block device named by `device`, and nothing else of the host. */
const BLOCK_FILESYSTEMS: ReadonlySet<string> = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'exfat', 'ntfs3', 'f2fs', 'iso9660', 'squashfs', 'udf'])

function judgeService(spec: GoObject, policy: Scope): Finding[] {
  const findings: (Finding | undefined)[] = []
  stampOwner(policy, true)
  const task = object(spec.TaskTemplate) ?? {}
  const container = object(task.ContainerSpec)
  if (container !== undefined) {
    policy.subject = { image: text(container.Image), cmd: [...strings(container.Command), ...strings(container.Args)] }
    findings.push(...judgeImage(policy, text(container.Image), 'TaskTemplate.ContainerSpec.Image'))
    objects(container.Mounts).forEach((mount, i) => findings.push(...judgeMount(mount, `TaskTemplate.ContainerSpec.Mounts[${i}]`, policy)))
    for (const name of strings(container.CapabilityAdd)) findings.push(capability(policy, name, 'TaskTemplate.ContainerSpec.CapabilityAdd'))
    const privileges = object(container.Privileges)
    const selinux = object(privileges?.SELinuxContext)
    if (selinux !== undefined && (selinux.Disable === true || ['User', 'Role', 'Type', 'Level'].some((f) => text(selinux[f]) !== ''))) {
      findings.push(flag(policy, 'ALLOW_UNCONFINED', 'TaskTemplate.ContainerSpec.Privileges.SELinuxContext sets the SELinux label'))
    }
    const seccomp = text(object(privileges?.Seccomp)?.Mode)
    if (seccomp !== '' && seccomp !== 'default') findings.push(flag(policy, 'ALLOW_UNCONFINED', `TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode is ${JSON.stringify(seccomp)}`))
    const apparmor = text(object(privileges?.AppArmor)?.Mode)
    if (apparmor !== '' && apparmor !== 'default') findings.push(flag(policy, 'ALLOW_UNCONFINED', `TaskTemplate.ContainerSpec.Privileges.AppArmor.Mode is ${JSON.stringify(apparmor)}`))
  }
  if (object(task.PluginSpec) !== undefined || text(task.Runtime).toLowerCase() === 'plugin') {
    findings.push(flag(policy, 'ALLOW_PRIVILEGED', 'TaskTemplate runs a plugin, installed on every node with the privileges it declares'))
  }
  for (const [field, list] of [['TaskTemplate.Networks', task.Networks], ['Networks', spec.Networks]] as const) {
    objects(list).forEach((network, i) => {
      if (text(network.Target).toLowerCase() === 'host') findings.push(flag(policy, 'ALLOW_HOST_NAMESPACES', `${field}[${i}].Target is "host"`))
    })
  }
  return findings.filter(isFinding)
}

function judgeBuild(query: string, contentType: string | undefined, policy: Scope): Finding[] {
  const findings: (Finding | undefined)[] = []
  // Go's r.FormValue prefers a form body over the query; a build's body is its context.
  if (isFormContentType(contentType)) {
    findings.push({ what: `a build with Content-Type ${contentType} would take its options from the body, which dockmoat does not read`, variable: 'Content-Type', fix: 'send the build context as application/x-tar (no variable allows a form body)' })
  }
  for (const mode of queryValues(query, 'networkmode')) {
    if (mode.toLowerCase() === 'host' || (mode.startsWith('container:') && policy.owner === undefined)) findings.push(flag(policy, 'ALLOW_HOST_NAMESPACES', `build networkmode=${mode}`))
  }
  for (const tag of queryValues(query, 't')) findings.push(...judgeImage(policy, tag, 'build t'))
  const buildkit = queryValues(query, 'version').includes('2')
  if (buildkit) findings.push(flag(policy, 'ALLOW_HOST_NAMESPACES', `build version=2: ${BUILDKIT}`))
  if (policy.cgroupParent !== undefined) {
    const forced = policy.cgroupParent
    // r.FormValue takes the first value, so every value must be the forced one.
    const asked = queryValues(query, 'cgroupparent')
    if (asked.some((value) => value !== forced)) {
      findings.push({ what: `build cgroupparent=${asked.find((value) => value !== forced)}`, variable: 'CGROUP_PARENT', fix: `leave it out or set it to ${JSON.stringify(forced)} (CGROUP_PARENT=${forced} places every build there)` })
    } else {
      setQueryValue(policy, 'cgroupparent', forced)
    }
    if (buildkit) findings.push({ what: 'a BuildKit build (version=2) runs its steps outside CGROUP_PARENT', variable: 'CGROUP_PARENT', fix: 'use the classic builder (DOCKER_BUILDKIT=0)' })
  }
  if (policy.owner !== undefined) {
    // The built image is labelled from the `labels` query (a JSON object; r.FormValue
    // takes the first), which overrides the Dockerfile's LABEL.
    const given = queryValues(query, 'labels')[0]
    const labels = given === undefined || given === '' ? {} : stringMap(given)
    if (labels === undefined) findings.push({ what: 'build labels is not a JSON object of strings', variable: 'OWNER', fix: 'send labels as {"key":"value",...}' })
    else setQueryValue(policy, 'labels', JSON.stringify({ ...labels, [policy.owner.label]: policy.owner.id }))
    for (const mode of queryValues(query, 'networkmode')) {
      if (mode.startsWith('container:')) findings.push({ what: `build networkmode=${mode}`, variable: 'OWNER', fix: 'build without another container\'s network' })
    }
    // The classic builder's step containers carry the labels of the Dockerfile and its
    // base image (the `labels` query reaches only the final image), so they may claim
    // another owner: they are removed after every step, failed ones included.
    setQueryValue(policy, 'rm', '1')
    setQueryValue(policy, 'forcerm', '1')
  }
  return findings.filter(isFinding)
}

/** A JSON object of strings as Go decodes it into map[string]string (last key wins). */
function stringMap(text: string): Record<string, string> | undefined {
  const parsed = parseJson(Buffer.from(text, 'latin1'), { kind: 'map', of: { kind: 'string' } })
  if (!parsed.ok || parsed.node.kind !== 'object') return undefined
  const out: Record<string, string> = {}
  for (const { key, value } of parsed.node.members) {
    if (value.kind === 'string') out[key] = value.value
    else if (value.kind !== 'null') return undefined
  }
  return out
}

function addMembers(policy: Scope, members: string): void {
  policy.rewrite = { ...policy.rewrite, members: [...(policy.rewrite?.members ?? []), members] }
}

function setQueryValue(policy: Scope, key: string, value: string): void {
  policy.rewrite = { ...policy.rewrite, query: { ...policy.rewrite?.query, [key]: value } }
}

/**
 * OWNER: the owner label is appended as the body's last `Labels` (and, for services, the
 * task's container labels): Go merges it into the labels already decoded, so the owner
 * key is always ours, whatever case variant or duplicate came before.
 */
function stampOwner(policy: Scope, service = false): void {
  const owner = policy.owner
  if (owner === undefined) return
  const labels = JSON.stringify({ [owner.label]: owner.id })
  addMembers(policy, `"Labels":${labels}`)
  if (service) addMembers(policy, `"TaskTemplate":{"ContainerSpec":{"Labels":${labels}}}`)
}

function flag(policy: Scope, variable: GuardGrant, what: string): Finding | undefined {
  policy.needs?.push(variable)
  return policy.grants[variable] ? undefined : { what, variable: `${variable}=1`, need: variable }
}

function bindPath(policy: Scope, source: string, what: string): Finding | undefined {
  const path = goPathClean(source)
  const needed = path.startsWith('/') ? path : '/'
  policy.needs?.push(`ALLOW_BIND=${needed}`)
  if (policy.allowBind.some((root) => isWithin(root, path))) {
    policy.hostPaths?.push({ path, what })
    return undefined
  }
  const now = policy.allowBind.length === 0 ? '' : ` (ALLOW_BIND is ${policy.allowBind.join(',')})`
  return { what: `${what}, host path ${JSON.stringify(path)}${now}`, variable: `ALLOW_BIND=${[...policy.allowBind, needed].join(',')}`, need: `ALLOW_BIND=${needed}` }
}

function capability(policy: Scope, name: string, at: string): Finding | undefined {
  const cap = normalizeCapability(name)
  if (DEFAULT_CAPABILITIES.has(cap)) return undefined
  policy.needs?.push(`ALLOW_CAPS=${cap}`)
  if (policy.allowCaps === 'ALL' || policy.allowCaps.has(cap)) return undefined
  const now = policy.allowCaps.size === 0 ? '' : ` (ALLOW_CAPS is ${[...policy.allowCaps].join(',')})`
  return { what: `${at} adds ${JSON.stringify(name)}, not in dockerd's default set${now}`, variable: `ALLOW_CAPS=${cap === 'ALL' ? 'ALL' : [...policy.allowCaps, cap].join(',')}`, need: `ALLOW_CAPS=${cap}` }
}

const isFinding = (finding: Finding | undefined): finding is Finding => finding !== undefined

type Head = NonNullable<Inspector['head']>

/**
 * A route whose query is judged (names, image references; OWNER's `container=` and rename
 * checks): Go's r.Form puts a form body's values before the query's, so such a body is
 * refused rather than left to override what was judged.
 */
function queryOnly(head: Head): Head {
  return (query, contentType, policy, params) => isFormContentType(contentType)
    ? [{ what: `a ${contentType} body would replace the query's values, which dockmoat judged`, variable: 'Content-Type', fix: 'send the parameters in the query, as the docker CLI does (no variable allows a form body here)' }]
    : head(query, contentType, policy, params)
}

/** ALLOW_IMAGES: a restriction, not a grant, so MODE=audit enforces it too (no `need`). */
function judgeImage(policy: GuardPolicy, reference: string, what: string): Finding[] {
  const patterns = policy.allowImages
  if (patterns === undefined || imageAllowed(patterns, reference)) return []
  const allowed = patterns.map((p) => p.text).join(',')
  const name = normalizeImage(reference)
  const why = reference === '' ? 'names no image' : name.id ? `${JSON.stringify(reference)} may be an image ID (dockerd tries an ID prefix when no image has that name): name the image` : `${JSON.stringify(reference)} (${name.repository}${name.tag === undefined ? '' : `:${name.tag}`}) is not in ALLOW_IMAGES=${allowed}`
  return [{ what: `${what} ${why}`, variable: 'ALLOW_IMAGES', fix: `use an image ALLOW_IMAGES allows, or add it to ALLOW_IMAGES (now ${allowed})` }]
}

function imagesRefused(why: string): Finding {
  return { what: why, variable: 'ALLOW_IMAGES', fix: 'with ALLOW_IMAGES set, pull images by name instead' }
}

/** The references dockerd makes of a name and its `tag` parameter (a digest joins with `@`). */
function withTags(name: string, tags: readonly string[]): string[] {
  if (tags.length === 0 || tags.every((tag) => tag === '')) return [name]
  return tags.map((tag) => (tag === '' ? name : tag.includes(':') ? `${name}@${tag}` : `${name}:${tag}`))
}

/** ALLOW_NAMES on a create's or rename's `name` (Go reads the first; every one must match). */
function judgeName(policy: GuardPolicy, names: readonly string[], required: boolean): Finding[] {
  const patterns = policy.allowNames
  if (patterns === undefined) return []
  const shown = patterns.map((p) => p.text).join(',')
  if (names.length === 0 || names.every((name) => name === '')) {
    return required ? [{ what: 'the container has no name', variable: 'ALLOW_NAMES', fix: `name it (docker run --name ...) with a name ALLOW_NAMES allows (${shown})` }] : []
  }
  const wrong = names.map((name) => name.replace(/^\//, '')).find((name) => !patterns.some((p) => p.pattern.test(name)))
  return wrong === undefined ? [] : [{ what: `the name ${JSON.stringify(wrong)} is not one ALLOW_NAMES allows (${shown})`, variable: 'ALLOW_NAMES', fix: `use a name matching ${shown}` }]
}
