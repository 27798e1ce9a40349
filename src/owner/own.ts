// OWNER, the stage that asks dockerd before forwarding: it resolves each reference the
// way dockerd will (full ID, name, ID prefix; exec to its container), answers a foreign
// object with dockerd's own "not found", and forwards the call on the resolved ID so no
// other object can take the name between the check and the call.
import type { Request } from '../http1.ts'
import { askDockerd, type Answer, type Context } from '../exchange.ts'
import type { LineFilter } from '../relay.ts'
import type { Decision } from '../policy.ts'
import { routeParams, routePath, type Route } from '../routes.ts'
import { deriveTarget } from '../target.ts'
import type { Owner } from '../settings.ts'
import { decodeBody } from '../guard/inspect.ts'
import { ContainerCreateWrapper, NetworkConnect, VolumeCreate } from '../guard/schemas.ts'
import { object, objects, strings, text, type GoObject, type GoValue } from '../guard/go-decode.ts'
import { isFormContentType, queryFlag, queryPairs, queryValues, setQuery } from '../query.ts'
import { imageNamesWritten, notFound, ownerFilters, ownerRule, ownerTerm, type ObjectKind } from './rules.ts'

export type Owned =
  | { ok: true; forward: string; append?: string; lines?: LineFilter }
  /** The lookup was the call itself (an inspect): its answer is the client's. */
  | { ok: true; answered: Answer }
  | { ok: false; status: number; message: string }

/** dockerd's predefined networks: everyone's to use. */
const DEFAULT_NETWORKS = new Set(['bridge', 'none', 'host', 'default'])

export async function own(ctx: Context, owner: Owner, req: Request, decision: Decision & { allow: true }, body?: Buffer): Promise<Owned> {
  const route = decision.route
  const rule = ownerRule(route)
  const pass: Owned = { ok: true, forward: decision.forward }
  const refused = `dockmoat refused ${req.method} ${req.url} (${route.display})`
  const question = decision.forward.indexOf('?')
  const path = question === -1 ? decision.forward : decision.forward.slice(0, question)
  const query = question === -1 ? '' : decision.forward.slice(question + 1)
  const written = imageNamesWritten(route, query)
  if (written.allTags) return { ok: false, status: 403, message: `${refused}: with OWNER set, a pull of every tag of a repository (docker pull -a) could move names of other owners' images; pull one tag` }
  for (const name of written.names) {
    const taken = await imageNameTaken(ctx, owner, name, written.pull, refused)
    if (taken !== undefined) return taken
  }
  // A build tags at its end, which may be minutes after the check above: another owner may
  // have taken a name since. dockerd builds untagged, and dockmoat tags when it is done.
  if (route.display === 'POST /build' && written.names.length > 0) {
    const untagged = queryPairs(query).filter((pair) => pair.key !== 't').map((pair) => pair.raw).join('&')
    // With `q` dockerd writes nothing but the image ID.
    const quiet = queryFlag(query, 'q', false)
    return { ok: true, forward: `${path}?${untagged}`, lines: tagWhenBuilt(ctx, owner, written.names, quiet, refused) }
  }
  if (rule === undefined) return pass

  switch (rule.kind) {
    case 'refuse':
      return { ok: false, status: 403, message: `${refused}: with OWNER set, ${rule.why}` }
    case 'list': {
      if (isFormContentType(req.headers['content-type'])) return { ok: false, status: 403, message: `${refused}: a form body would set filters dockmoat does not see; send filters in the query` }
      const filtered = ownerFilters(query, owner, rule.swarm)
      if (filtered === undefined) return { ok: false, status: 400, message: `${refused}: the filters parameter is not valid JSON of the form {"key":{"value":true}} or {"key":["value"]}` }
      // Network and volume events carry no labels in dockerd, so an owner label filter
      // would drop them all, the owner's own included: the stream is read with the
      // client's filters alone and every event is judged here instead.
      if (route.display === 'GET /events') return { ok: true, forward: decision.forward, lines: { keep: ownedEvents(ctx, owner) } }
      return { ok: true, forward: `${path}?${filtered}` }
    }
    case 'object': {
      const target = deriveTarget(path)
      const where = target.ok ? routeParams(route, target.path) : undefined
      const ref = where?.params[0]
      if (where === undefined || ref === undefined) return pass
      const found = knownOwned(owner, rule.object, ref) ?? await resolve(ctx, owner, rule.object, ref, route)
      if (!found.ok) return missingAnswer(route, query, ref, found)
      if (found.answer !== undefined && route.display === 'GET /networks/{id}' && DEFAULT_NETWORKS.has(text(found.answer.json.Name))) {
        // A default network is everyone's, the containers on it are not.
        const answer = question === -1 ? found.answer : await askDockerd(ctx, `/networks/${encodeURIComponent(found.id!)}?${query}`)
        return { ok: true, answered: await withOwnContainers(ctx, owner, answer) }
      }
      if (found.answer !== undefined && question === -1 && req.method === 'GET' && route.display === INSPECT[rule.object]) return { ok: true, answered: found.answer }
      const params = [...where.params]
      if (found.id !== undefined) params[0] = found.id
      const forward = routePath(route, where.version, params) + (question === -1 ? '' : `?${query}`)
      if (route.display === 'POST /containers/{name}/rename') {
        const taken = await nameTaken(ctx, owner, queryValues(query, 'name')[0])
        if (taken !== undefined) return taken
      }
      if (route.display === 'POST /networks/{id}/connect' || route.display === 'POST /networks/{id}/disconnect') {
        const container = text(decodeBody(NetworkConnect, body ?? Buffer.alloc(0)).value?.Container)
        if (container === '') return { ok: true, forward }
        const target = await resolve(ctx, owner, 'container', container)
        if (!target.ok) return target
        return { ok: true, forward, append: `"Container":${JSON.stringify(target.id)}` }
      }
      return { ok: true, forward }
    }
    case 'create':
      if (route.display === 'POST /commit') {
        const container = queryValues(query, 'container')[0]
        if (container === undefined || container === '') return pass
        const found = await resolve(ctx, owner, 'container', container)
        return found.ok ? { ok: true, forward: `${path}?${setQuery(query, { container: found.id! })}` } : found
      }
      if (route.display === 'POST /volumes/create') return volumeCreate(ctx, owner, body, refused, decision.forward)
      return containerCreate(ctx, owner, body ?? Buffer.alloc(0), query, refused, decision.forward)
  }
}

/**
 * Where dockerd's answer for a missing object is not its JSON 404: a forced volume delete
 * succeeds (204, so `volume rm -f` stays quiet), and a plain attach answers in its raw
 * stream type.
 */
function missingAnswer(route: Route, query: string, ref: string, refused: Owned & { ok: false }): Owned {
  if (refused.status !== 404) return refused
  const reply = (status: number, contentType: string | undefined, body: string): Owned => ({
    ok: true,
    answered: { status, headers: contentType === undefined ? {} : { 'content-type': contentType }, body: Buffer.from(body), json: {}, message: body },
  })
  if (route.display === 'DELETE /volumes/{name}' && GO_TRUE.has(queryValues(query, 'force')[0] ?? '')) return reply(204, undefined, '')
  if (route.display === 'POST /containers/{name}/attach') return reply(404, 'application/vnd.docker.raw-stream', `No such container: ${ref}\r\n`)
  return refused
}

// strconv.ParseBool's true spellings.
const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])

/** `answer`: dockerd's inspect of the object, when it was looked up for this call. */
type Resolved = { ok: true; id?: string; answer?: Answer } | { ok: false; status: number; message: string }

/**
 * Full IDs of containers and networks found to carry the owner's label. dockerd never
 * changes a container's or network's labels and never reuses an ID, so such an ID stays
 * the owner's until the object is gone, and then dockerd's own answer is "not found": a
 * call on it is forwarded without asking dockerd first. (Volumes are named, not
 * identified, and services, secrets and configs can be relabelled: always looked up.)
 */
const ownedIds = new Map<string, Set<string>>()
const OWNED_IDS_KEPT = 50_000
const FULL_ID = /^[0-9a-f]{64}$/

function knownOwned(owner: Owner, kind: ObjectKind, ref: string): Resolved | undefined {
  return (kind === 'container' || kind === 'network') && ownedIds.get(ownerTerm(owner))?.has(`${kind} ${ref}`) === true ? { ok: true, id: ref } : undefined
}

function rememberOwned(owner: Owner, kind: 'container' | 'network', id: string): void {
  if (!FULL_ID.test(id)) return
  const key = ownerTerm(owner)
  let ids = ownedIds.get(key)
  if (ids === undefined) ownedIds.set(key, ids = new Set())
  if (ids.size >= OWNED_IDS_KEPT) ids.clear()
  ids.add(`${kind} ${id}`)
}

// The route whose answer the lookup of each kind already is.
const INSPECT: Partial<Record<ObjectKind, string>> = {
  container: 'GET /containers/{name}/json', network: 'GET /networks/{id}', volume: 'GET /volumes/{name}',
  exec: 'GET /exec/{id}/json', service: 'GET /services/{id}', task: 'GET /tasks/{id}', secret: 'GET /secrets/{id}', config: 'GET /configs/{id}',
}

/**
 * An event is the owner's when its actor carries the owner label (containers, images:
 * dockerd copies their labels into the attributes), or is an owned network or volume,
 * looked up at the event. A network event naming a container needs that container owned
 * too, so that events on the default networks show no one else's containers. Answers
 * are kept for the stream (in order, so a volume name reused after its destroy event is
 * looked up again); an object destroyed before this stream first saw it is not shown.
 */
function ownedEvents(ctx: Context, owner: Owner): LineFilter['keep'] {
  const known = new Map<string, Promise<boolean>>()
  const owns = (kind: 'network' | 'volume' | 'container', ref: string): Promise<boolean> => {
    const key = `${kind} ${ref}`
    let answer = known.get(key)
    if (answer === undefined) {
      answer = resolve(ctx, owner, kind, ref).then((found) => found.ok && !(kind === 'network' && DEFAULT_NETWORKS.has(text(found.answer?.json.Name))))
      known.set(key, answer)
    }
    return answer
  }
  return async (line) => {
    let event: GoObject
    try {
      event = JSON.parse(line) as GoObject
    } catch {
      return false
    }
    const actor = object(event.Actor) ?? {}
    const attributes = object(actor.Attributes) ?? {}
    const type = text(event.Type)
    if (type !== 'network' && type !== 'volume') return attributes[owner.label] === owner.id
    const id = text(actor.ID)
    const container = text(attributes.container)
    const ownsContainer = container === '' || await owns('container', container)
    if (type === 'network' && DEFAULT_NETWORKS.has(text(attributes.name))) return container !== '' && ownsContainer
    const ownsObject = await owns(type, id)
    if (type === 'volume' && text(event.Action) === 'destroy') known.delete(`volume ${id}`)
    return ownsObject && ownsContainer
  }
}

/** What `ref` names in dockerd, if it is the owner's (or adopted); otherwise dockerd's "not found". */
async function resolve(ctx: Context, owner: Owner, kind: ObjectKind, ref: string, route?: Route): Promise<Resolved> {
  const missing = { ok: false as const, ...notFound(kind, ref, route) }
  const segment = encodeURIComponent(ref)
  const inspectPath = {
    container: `/containers/${segment}/json`, exec: `/exec/${segment}/json`, network: `/networks/${segment}`, volume: `/volumes/${segment}`,
    image: `/images/${segment}/json`, service: `/services/${segment}`, task: `/tasks/${segment}`, secret: `/secrets/${segment}`, config: `/configs/${segment}`,
  }[kind]
  const answer = await askDockerd(ctx, inspectPath)
  // Not found, or ambiguous (400 "multiple IDs"; dockerd 20.10 answers a container ID
  // prefix shared by several with a 500): either way nothing the client may name, and
  // that other owners' objects share the prefix is not the client's to learn.
  if (answer.status === 404 || answer.status === 400 || (answer.status === 500 && AMBIGUOUS.test(answer.message))) return missing
  if (answer.status !== 200) return { ok: false, status: answer.status === 0 ? 502 : answer.status, message: answer.message }
  const object = answer.json
  const yes = (id?: string): Resolved => (id === undefined ? { ok: true, answer } : { ok: true, id, answer })
  switch (kind) {
    case 'exec': {
      const container = await resolve(ctx, owner, 'container', text(object.ContainerID))
      return container.ok ? yes() : missing
    }
    case 'task': {
      const service = await resolve(ctx, owner, 'service', text(object.ServiceID))
      return service.ok ? yes(text(object.ID)) : missing
    }
    case 'container': {
      const id = text(object.Id)
      const name = text(object.Name).replace(/^\//, '')
      if (ownedBy(owner, labelsOf(object.Config))) {
        rememberOwned(owner, 'container', id)
        return yes(id)
      }
      // Adopted by name: a rename can end it, so it is looked up every time.
      return adopted(owner, id, name) ? yes(id) : missing
    }
    case 'network':
      if (DEFAULT_NETWORKS.has(text(object.Name))) return yes(text(object.Id))
      if (!ownedBy(owner, labelsOf(object))) return missing
      rememberOwned(owner, 'network', text(object.Id))
      return yes(text(object.Id))
    case 'volume':
      return ownedBy(owner, labelsOf(object)) ? yes() : missing
    case 'image':
      return ownedBy(owner, labelsOf(object.Config)) ? yes() : missing
    default:
      return ownedBy(owner, labelsOf(object.Spec)) ? yes(text(object.ID)) : missing
  }
}

// truncindex.ErrAmbiguousPrefix, as dockerd 20.10 words it.
const AMBIGUOUS = /^Multiple IDs found with provided prefix: /

/** A container the owner may use without its label (OWNER_ADOPT): by name, ID or an ID prefix of 12 or more. */
function adopted(owner: Owner, id: string, name: string): boolean {
  return owner.adopt.some((entry) => entry === name || entry === id || (entry.length >= 12 && id.startsWith(entry)))
}

/** A default network's inspect with only the owner's (and adopted) containers in `Containers`. */
async function withOwnContainers(ctx: Context, owner: Owner, answer: Answer): Promise<Answer> {
  const containers = object(answer.json.Containers)
  if (answer.status !== 200 || containers === undefined) return answer
  const listed = await askDockerd(ctx, `/containers/json?${ownerFilters('all=1', owner, false)!}`)
  if (listed.status !== 200) return listed
  const owned = new Set((JSON.parse(listed.body.toString('utf8')) as { Id: string }[]).map((each) => each.Id))
  const kept = Object.fromEntries(Object.entries(containers).filter(([id, entry]) => owned.has(id) || adopted(owner, id, text(object(entry)?.Name))))
  const json = { ...answer.json, Containers: kept }
  const body = Buffer.from(JSON.stringify(json) + '\n')
  return { ...answer, json, body, message: body.toString('utf8') }
}

/**
 * A container create may name other containers (VolumesFrom, `container:` modes, Links),
 * networks and named volumes: each must be the owner's (or adopted, or a default network).
 * Containers are rewritten to their full IDs in an appended HostConfig; a named volume
 * that does not exist yet is created first, owned, so the create does not make it bare.
 */
async function containerCreate(ctx: Context, owner: Owner, body: Buffer, query: string, refused: string, forward: string): Promise<Owned> {
  // Top-level HostConfig fields were refused by the guard (an appended HostConfig would hide them).
  const decoded = decodeBody(ContainerCreateWrapper, body).value ?? {}
  const hostConfig = object(decoded.HostConfig)
  const taken = await nameTaken(ctx, owner, queryValues(query, 'name')[0])
  if (taken !== undefined) return taken
  const hc = hostConfig ?? {}
  const rewritten: GoObject = {}
  // As dockerd's GetContainer reads a reference: a full ID, a name or an ID prefix, and with
  // a leading `/` a name (or a link alias, `/parent/alias`) only. A missing container is a
  // 400 in dockerd's words for that field; a foreign one gets the same answer.
  const asContainer = async (ref: string, missing = (r: string): string => `No such container: ${r}`): Promise<string | Owned> => {
    const asName = ref.startsWith('/')
    const found = await resolve(ctx, owner, 'container', asName ? ref.slice(1) : ref)
    const byIdOnly = found.ok && asName && found.id!.startsWith(ref.slice(1)) && text(found.answer?.json.Name) !== ref
    if (found.ok && !byIdOnly) return found.id!
    return found.ok || found.status === 404 ? { ok: false, status: 400, message: missing(ref) } : found
  }
  const volumesFrom: string[] = []
  for (const entry of strings(hc.VolumesFrom)) {
    // ParseVolumesFrom: `container[:mode]`, split once; an empty one is dockerd's to refuse.
    const colon = entry.indexOf(':')
    if (entry === '' || colon === 0) {
      volumesFrom.push(entry)
      continue
    }
    const id = await asContainer(colon === -1 ? entry : entry.slice(0, colon))
    if (typeof id !== 'string') return id
    volumesFrom.push(colon === -1 ? id : `${id}${entry.slice(colon)}`)
  }
  if (volumesFrom.length > 0) rewritten.VolumesFrom = volumesFrom
  for (const field of ['NetworkMode', 'PidMode', 'IpcMode']) {
    const mode = text(hc[field])
    if (!mode.startsWith('container:')) continue
    const id = await asContainer(mode.slice('container:'.length))
    if (typeof id !== 'string') return id
    rewritten[field] = `container:${id}`
  }
  const links: string[] = []
  for (const link of strings(hc.Links)) {
    // ParseLink: `name[:alias]`; inspect's `/name:/parent/alias` form drops the name's `/`
    // and keeps the alias's last element. What it refuses is dockerd's to refuse.
    const parts = link.split(':')
    if (link === '' || parts.length > 2) {
      links.push(link)
      continue
    }
    const [given = '', alias = given] = parts
    const [ref, name] = given.startsWith('/') && parts.length === 2 ? [given.slice(1), alias.slice(alias.lastIndexOf('/') + 1)] : [given, alias]
    const id = await asContainer(ref, (r) => `could not get container for ${r}: No such container: ${r}`)
    if (typeof id !== 'string') return id
    links.push(`${id}:${name}`)
  }
  if (links.length > 0) rewritten.Links = links

  const networks = new Set<string>()
  const mode = text(hc.NetworkMode)
  if (mode !== '' && !mode.startsWith('container:') && !DEFAULT_NETWORKS.has(mode)) networks.add(mode)
  const endpoints = object(decoded.NetworkingConfig)?.EndpointsConfig
  if (endpoints instanceof Map) for (const key of endpoints.keys()) if (!DEFAULT_NETWORKS.has(key)) networks.add(key)
  for (const network of networks) {
    const found = await resolve(ctx, owner, 'network', network)
    if (!found.ok) return found
  }

  const volumes = new Set<string>()
  for (const bind of strings(hc.Binds)) {
    const parts = bind.split(':')
    if (parts.length >= 2 && !parts[0]!.startsWith('/') && parts[0] !== '') volumes.add(parts[0]!)
  }
  for (const mount of objects(hc.Mounts)) {
    if (text(mount.Type).toLowerCase() === 'volume' && text(mount.Source) !== '') volumes.add(text(mount.Source))
  }
  for (const volume of volumes) {
    const made = await ensureVolume(ctx, owner, volume, refused)
    if (!made.ok) return made
  }
  const append = Object.keys(rewritten).length === 0 ? undefined : `"HostConfig":${JSON.stringify(rewritten)}`
  return append === undefined ? { ok: true, forward } : { ok: true, forward, append }
}

/**
 * dockerd's 409 for a container name in use names the container's full ID; for another
 * owner's container that would leak it, so the conflict is answered here without it.
 * Only an exact name counts (the lookup also matches ID prefixes); dockerd ignores a
 * leading `/`.
 */
async function nameTaken(ctx: Context, owner: Owner, given: string | undefined): Promise<Owned | undefined> {
  const name = (given ?? '').replace(/^\//, '')
  if (name === '') return undefined
  const existing = await askDockerd(ctx, `/containers/${encodeURIComponent(name)}/json`)
  if (existing.status !== 200 || text(existing.json.Name) !== `/${name}` || ownedBy(owner, labelsOf(existing.json.Config))) return undefined
  return { ok: false, status: 409, message: `Conflict. The container name "/${name}" is already in use by a container that is not yours (dockmoat OWNER=${owner.id}).` }
}

/**
 * A build's stream, passed on whole; at its end the built image is tagged with each name,
 * each checked again right before, with the lines dockerd would have written for a build
 * with `t` (or its error, which fails the docker CLI's build). The image is the `aux` ID
 * dockerd writes; a quiet build writes only the ID, as its one `stream` line (a verbose
 * build's steps could print any text there, so only a quiet one is read that way).
 */
function tagWhenBuilt(ctx: Context, owner: Owner, names: readonly string[], quiet: boolean, refused: string): LineFilter {
  let built: string | undefined
  let failed = false
  const error = (message: string): string => JSON.stringify({ errorDetail: { message }, error: message })
  return {
    keep: async (line) => {
      try {
        const message = JSON.parse(line) as { aux?: { ID?: unknown }; stream?: unknown; error?: unknown }
        if (typeof message.aux?.ID === 'string') built = message.aux.ID
        if (quiet && typeof message.stream === 'string' && /^sha256:[0-9a-f]{64}\n$/.test(message.stream)) built = message.stream.trim()
        if (message.error !== undefined) failed = true
      } catch {
        // not JSON: passed on as dockerd sent it
      }
      return true
    },
    end: async () => {
      if (built === undefined || failed) return []
      const lines: string[] = []
      for (const name of names) {
        const taken = await imageNameTaken(ctx, owner, name, false, refused)
        if (taken !== undefined && !taken.ok) return [...lines, error(taken.message)]
        const colon = name.lastIndexOf(':')
        const tagged = await askDockerd(ctx, `/images/${encodeURIComponent(built)}/tag?repo=${encodeURIComponent(name.slice(0, colon))}&tag=${encodeURIComponent(name.slice(colon + 1))}`, 'POST')
        if (tagged.status !== 201) return [...lines, error(tagged.message)]
        if (!quiet) lines.push(JSON.stringify({ stream: `Successfully tagged ${familiar(name)}\n` }))
      }
      return lines
    },
  }
}

/** reference.FamiliarString: Docker Hub's official images without their domain and `library/`. */
function familiar(name: string): string {
  return name.replace(/^docker\.io\/(library\/)?/, '')
}

/**
 * Whether the call may make `name` point at another image. Image names are shared by every
 * client: moved onto an owner's image, a base image's name (or another owner's) would run
 * that owner's code for whoever starts it next. Tag, build, commit and import may only move
 * a name that is free or already the owner's; a pull brings the registry's image for the
 * name, so it may also refresh an unowned one, never another owner's.
 */
async function imageNameTaken(ctx: Context, owner: Owner, name: string, pull: boolean, refused: string): Promise<Owned | undefined> {
  const existing = await askDockerd(ctx, `/images/${encodeURIComponent(name)}/json`)
  if (existing.status === 404) return undefined
  if (existing.status !== 200) return { ok: false, status: existing.status === 0 ? 502 : existing.status, message: existing.message }
  const holder = labelsOf(existing.json.Config)?.[owner.label]
  if (holder === owner.id || (pull && holder === undefined)) return undefined
  const whose = holder === undefined ? 'an image that is not yours (no owner: a base image or the operator\'s)' : 'an image that is not yours'
  return { ok: false, status: 403, message: `${refused}: with OWNER=${owner.id}, the name ${name} points at ${whose}, and moving it would change what every client using that name runs; use a name of your own` }
}

async function volumeCreate(ctx: Context, owner: Owner, body: Buffer | undefined, refused: string, forward: string): Promise<Owned> {
  const name = text(decodeBody(VolumeCreate, body ?? Buffer.alloc(0)).value?.Name)
  if (name === '') return { ok: true, forward }
  const existing = await askDockerd(ctx, `/volumes/${encodeURIComponent(name)}`)
  // dockerd would answer 201 with the existing volume and its labels: not someone else's.
  if (existing.status === 200 && !ownedBy(owner, labelsOf(existing.json))) return { ok: false, status: 409, message: `${refused}: the volume name ${name} is in use by a volume that is not yours` }
  return { ok: true, forward }
}

/** A named volume a create refers to: the owner's, or made now with the owner's label. */
async function ensureVolume(ctx: Context, owner: Owner, name: string, refused: string): Promise<Owned | { ok: true }> {
  const existing = await askDockerd(ctx, `/volumes/${encodeURIComponent(name)}`)
  if (existing.status === 200) {
    return ownedBy(owner, labelsOf(existing.json)) ? { ok: true } : { ok: false, status: 409, message: `${refused}: the volume name ${name} is in use by a volume that is not yours` }
  }
  const made = await askDockerd(ctx, '/volumes/create', 'POST', JSON.stringify({ Name: name, Labels: { [owner.label]: owner.id } }))
  return made.status === 201 ? { ok: true } : { ok: false, status: made.status || 502, message: made.message }
}


function ownedBy(owner: Owner, labels: Record<string, unknown> | undefined): boolean {
  return labels?.[owner.label] === owner.id
}

function labelsOf(value: GoValue | undefined): Record<string, unknown> | undefined {
  const labels = object(value)?.Labels
  return labels !== null && typeof labels === 'object' && !Array.isArray(labels) ? (labels as Record<string, unknown>) : undefined
}

