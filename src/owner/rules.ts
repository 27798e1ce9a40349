// OWNER, the pure half: which object each route acts on, how dockerd words "not found"
// for it, and the owner term added to a list's filters. own.ts asks dockerd.
import type { Route } from '../routes.ts'
import type { Owner } from '../settings.ts'
import { parseJson } from '../guard/json.ts'
import { normalizeImage } from '../images.ts'
import { queryValues, setQuery } from '../query.ts'

export type ObjectKind = 'container' | 'exec' | 'network' | 'volume' | 'image' | 'service' | 'task' | 'secret' | 'config'

export type OwnerRule =
  /** The route acts on the object named by its first path variable. */
  | { kind: 'object'; object: ObjectKind }
  /** A list, prune or event stream: the owner's label is added to its filters. */
  | { kind: 'list'; swarm: boolean }
  /** Creates whose body refers to other objects (checked by own.ts). */
  | { kind: 'create' }
  | { kind: 'refuse'; why: string }

const LISTS: Record<string, boolean> = {
  'GET /containers/json': false, 'POST /containers/prune': false, 'GET /networks': false, 'GET /networks/': false,
  'POST /networks/prune': false, 'GET /volumes': false, 'POST /volumes/prune': false, 'POST /images/prune': false,
  'GET /events': false, 'GET /services': true, 'GET /tasks': true, 'GET /secrets': true, 'GET /configs': true,
}

const REFUSED: Record<string, string> = {
  'GET /system/df': 'it lists every container, image and volume on the host, and takes no filter',
  'POST /build/prune': 'build cache records carry no owner, so it would prune every owner\'s cache',
  'POST /images/load': 'a docker load tarball brings its images under the names written inside it, which dockmoat does not read, so it could point a name other clients run (a base image, another owner\'s) at an image of yours; build or pull instead',
}

// Image reads stay open (base images are everyone's); what changes an image needs it owned.
const IMAGE_WRITES = new Set(['DELETE /images/{name}', 'POST /images/{name}/tag', 'POST /images/{name}/push'])

const PREFIXES: [string, ObjectKind][] = [
  ['/containers/{name}', 'container'], ['/exec/{id}', 'exec'], ['/exec/{name}', 'exec'], ['/networks/{id}', 'network'],
  ['/volumes/{name}', 'volume'], ['/services/{id}', 'service'], ['/tasks/{id}', 'task'], ['/secrets/{id}', 'secret'],
  ['/configs/{id}', 'config'],
]

const rules = new Map<Route, OwnerRule | undefined>()

export function ownerRule(route: Route): OwnerRule | undefined {
  if (!rules.has(route)) rules.set(route, ruleFor(route))
  return rules.get(route)
}

function ruleFor(route: Route): OwnerRule | undefined {
  const display = route.display
  if (display in LISTS) return { kind: 'list', swarm: LISTS[display]! }
  if (display in REFUSED) return { kind: 'refuse', why: REFUSED[display]! }
  if (IMAGE_WRITES.has(display)) return { kind: 'object', object: 'image' }
  if (['POST /containers/create', 'POST /commit', 'POST /volumes/create'].includes(display)) return { kind: 'create' }
  const path = display.slice(display.indexOf(' ') + 1)
  for (const [prefix, object] of PREFIXES) {
    if (path === prefix || path.startsWith(prefix + '/')) return { kind: 'object', object }
  }
  return undefined
}

/**
 * The image names a call makes point at an image, as dockerd stores them (normalized,
 * `:latest` when untagged; a digest names content and cannot be moved): tag, build `-t`,
 * commit and import write any content under them, a pull writes the registry's image for
 * that name. dockerd reads one `repo`/`tag` (r.FormValue, the first); every value is
 * checked. A pull without a tag fetches every tag of the repository.
 */
export function imageNamesWritten(route: Route, query: string): { names: string[]; pull: boolean; allTags: boolean } {
  const named = (repos: readonly string[], tags: readonly string[]): string[] => repos.filter((repo) => repo !== '').flatMap((repo) =>
    (tags.length === 0 ? [''] : tags).flatMap((tag) => {
      // The tag parameter replaces the reference's own tag (reference.WithTag(TrimNamed(ref), tag)).
      const name = normalizeImage(repo)
      const written = tag === '' ? name.tag ?? 'latest' : tag
      return name.digest !== undefined || written.includes(':') ? [] : [`${name.repository}:${written}`]
    }))
  const repoAndTag = (): string[] => named(queryValues(query, 'repo'), queryValues(query, 'tag'))
  switch (route.display) {
    case 'POST /images/{name}/tag':
    case 'POST /commit':
      return { names: repoAndTag(), pull: false, allTags: false }
    case 'POST /build':
      return { names: named(queryValues(query, 't'), []), pull: false, allTags: false }
    case 'POST /images/create': {
      // postImagesCreate pulls when r.FormValue("fromImage") is set, and imports otherwise.
      const images = queryValues(query, 'fromImage')
      if ((images[0] ?? '') === '') return { names: repoAndTag(), pull: false, allTags: false }
      const tags = queryValues(query, 'tag')
      const allTags = images.some((image) => { const n = normalizeImage(image); return n.tag === undefined && n.digest === undefined }) && tags.every((tag) => tag === '')
      return { names: named(images, tags), pull: true, allTags }
    }
    default:
      return { names: [], pull: false, allTags: false }
  }
}

/** dockerd 20.10's own words for a missing object, so a foreign one reads the same. */
export function notFound(kind: ObjectKind, ref: string, route?: Route): { status: number; message: string } {
  if (route?.display === 'POST /containers/{name}/kill') return { status: 404, message: `Cannot kill container: ${ref}: No such container: ${ref}` }
  // dockerd names an image reference without a tag or digest with its `:latest`.
  if (kind === 'image' && !/[:@][^/]*$/.test(ref)) ref = `${ref}:latest`
  const message = {
    container: `No such container: ${ref}`,
    exec: `No such exec instance: ${ref}`,
    network: `network ${ref} not found`,
    volume: `get ${ref}: no such volume`,
    image: `No such image: ${ref}`,
    service: `service ${ref} not found`,
    task: `task ${ref} not found`,
    secret: `secret ${ref} not found`,
    config: `config ${ref} not found`,
  }[kind]
  return { status: 404, message }
}

/** The owner's label as a `label` filter term (`key=value`). */
export function ownerTerm(owner: Owner): string {
  return `${owner.label}=${owner.id}`
}

/**
 * The query with the owner's label ANDed into `filters`, as one `filters` pair in
 * dockerd's map form. dockerd reads the first `filters` only, decodes it as a map (a
 * duplicate key replaces the earlier one), and ANDs label terms on engine lists; swarm
 * lists keep one value per label key, so there every client term on the owner key is
 * dropped.
 * Undefined when the client's filters are not something dockerd would accept.
 */
export function ownerFilters(query: string, owner: Owner, swarm: boolean): string | undefined {
  const given = queryValues(query, 'filters')[0]
  const terms = given === undefined || given === '' ? new Map<string, Set<string>>() : parseFilters(given)
  if (terms === undefined) return undefined
  const onOwnerKey = (term: string): boolean => term === owner.label || term.startsWith(owner.label + '=')
  // Engine lists AND every label term, so a client's term on the owner key only narrows.
  const labels = [...(terms.get('label') ?? [])].filter((term) => !swarm || !onOwnerKey(term))
  terms.set('label', new Set([...labels, ownerTerm(owner)]))
  const json: Record<string, Record<string, boolean>> = {}
  for (const [key, values] of terms) json[key] = Object.fromEntries([...values].map((v) => [v, true]))
  return setQuery(query, { filters: JSON.stringify(json) })
}

/** filters.FromJSON: `{"k":{"v":true}}` or the legacy `{"k":["v"]}`. */
function parseFilters(text: string): Map<string, Set<string>> | undefined {
  const parsed = parseJson(Buffer.from(text, 'latin1'))
  if (!parsed.ok || parsed.node.kind !== 'object') return undefined
  const terms = new Map<string, Set<string>>()
  for (const { key, value } of parsed.node.members) {
    if (value.kind === 'object') terms.set(key, new Set(value.members.map((m) => m.key)))
    else if (value.kind === 'array' && value.items.every((item) => item.kind === 'string')) terms.set(key, new Set(value.items.map((item) => (item as { value: string }).value)))
    else return undefined
  }
  return terms
}
