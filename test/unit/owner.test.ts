// OWNER's pure half: which object a route acts on, dockerd's words for a missing object,
// and the owner's label ANDed into a list's filters so that no client input widens it.
import t from 'tap'
import { ROUTES } from '../../src/routes.ts'
import { imageNamesWritten, notFound, ownerFilters, ownerRule } from '../../src/owner/rules.ts'
import { parseConfig } from '../../src/settings.ts'
import { queryValues } from '../../src/query.ts'

const owner = { label: 'dockmoat.owner', id: 'a', adopt: [] }
const route = (display: string) => {
  const found = ROUTES.find((r) => r.display === display)
  if (found === undefined) throw new Error(`no route ${display}`)
  return found
}

/** The filters dockerd would read from the rewritten query, as key -> sorted values. */
function filtersOf(query: string | undefined): Record<string, string[]> {
  if (query === undefined) throw new Error('refused')
  const values = queryValues(query, 'filters')
  const parsed = JSON.parse(values[0]!) as Record<string, Record<string, boolean>>
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, Object.keys(v).sort()]))
}

t.test('every per-object route of every owned kind has a rule', async (t) => {
  for (const r of ROUTES) {
    const path = r.template
    const kind = /^\/(containers|exec|networks|volumes|services|tasks|secrets|configs)\/\{/.exec(path)?.[1]
    if (kind === undefined) continue
    t.equal(ownerRule(r)?.kind, 'object', `${r.display} acts on one ${kind}`)
  }
  t.same(ownerRule(route('DELETE /images/{name}')), { kind: 'object', object: 'image' }, 'image delete needs an owned image')
  t.equal(ownerRule(route('GET /images/{name}/json')), undefined, 'image inspect stays open (base images)')
  t.same(ownerRule(route('GET /containers/json')), { kind: 'list', swarm: false }, 'container list is filtered')
  t.same(ownerRule(route('GET /services')), { kind: 'list', swarm: true }, 'service list is a swarm list')
  t.equal(ownerRule(route('GET /events'))?.kind, 'list', 'events are filtered')
  t.equal(ownerRule(route('GET /system/df'))?.kind, 'refuse', '/system/df is refused')
  t.equal(ownerRule(route('POST /containers/create'))?.kind, 'create', 'container create checks its references')
  t.equal(ownerRule(route('GET /_ping')), undefined, 'ping is nobody\'s')
})

t.test('not found reads as dockerd 20.10 words it', async (t) => {
  t.same(notFound('container', 'x'), { status: 404, message: 'No such container: x' })
  t.same(notFound('network', 'n'), { status: 404, message: 'network n not found' })
  t.same(notFound('volume', 'v'), { status: 404, message: 'get v: no such volume' })
  t.same(notFound('exec', 'e'), { status: 404, message: 'No such exec instance: e' })
  t.same(notFound('image', 'repo'), { status: 404, message: 'No such image: repo:latest' }, 'an image without a tag is named with :latest')
  t.same(notFound('image', 'reg:5000/repo:1'), { status: 404, message: 'No such image: reg:5000/repo:1' }, 'a tagged one as given')
  t.same(notFound('container', 'x', route('POST /containers/{name}/kill')), { status: 404, message: 'Cannot kill container: x: No such container: x' }, 'kill wraps it')
})

t.test('the owner term is ANDed in, and no client input widens it', async (t) => {
  t.same(filtersOf(ownerFilters('', owner, false)), { label: ['dockmoat.owner=a'] }, 'no filters: the owner term alone')
  t.same(filtersOf(ownerFilters('all=1', owner, false)), { label: ['dockmoat.owner=a'] }, 'other parameters kept')
  t.equal(ownerFilters('all=1', owner, false)?.startsWith('all=1&'), true, 'and in place')
  const compose = encodeURIComponent('{"label":{"com.docker.compose.project=p":true}}')
  t.same(filtersOf(ownerFilters(`filters=${compose}`, owner, false)), { label: ['com.docker.compose.project=p', 'dockmoat.owner=a'] }, 'the client\'s own label terms are kept (compose, testcontainers)')
  const legacy = encodeURIComponent('{"label":["org.testcontainers=true"],"status":["running"]}')
  t.same(filtersOf(ownerFilters(`filters=${legacy}`, owner, false)), { label: ['dockmoat.owner=a', 'org.testcontainers=true'], status: ['running'] }, 'the legacy slice form is read')
  const claim = encodeURIComponent('{"label":["dockmoat.owner=b","dockmoat.owner"]}')
  t.same(filtersOf(ownerFilters(`filters=${claim}`, owner, false)), { label: ['dockmoat.owner', 'dockmoat.owner=a', 'dockmoat.owner=b'] }, 'engine lists AND every term: a term on another owner narrows to nothing')
  t.same(filtersOf(ownerFilters(`filters=${claim}`, owner, true)), { label: ['dockmoat.owner=a'] }, 'swarm lists keep one value per key: terms on the owner key are dropped')
  const duplicate = encodeURIComponent('{"label":["dockmoat.owner=a"],"label":["x=1"]}')
  t.same(filtersOf(ownerFilters(`filters=${duplicate}`, owner, false)), { label: ['dockmoat.owner=a', 'x=1'] }, 'a duplicate key replaces the earlier one, as Go\'s map decode does, and the owner term is still added')
  const two = ownerFilters(`filters=${encodeURIComponent('{"label":["x=1"]}')}&filters=${encodeURIComponent('{}')}&fil%74ers=${encodeURIComponent('{}')}`, owner, false)
  t.equal(queryValues(two!, 'filters').length, 1, 'every filters pair (also percent-encoded keys) becomes one')
  t.same(filtersOf(two), { label: ['dockmoat.owner=a', 'x=1'] }, 'read from the first, as r.Form.Get does')
  t.equal(ownerFilters('filters=not-json', owner, false), undefined, 'invalid filters are refused, not passed')
  t.equal(ownerFilters(`filters=${encodeURIComponent('{"label":"x"}')}`, owner, false), undefined, 'a filter value that is neither form is refused')
})

t.test('OWNER settings', async (t) => {
  t.equal(parseConfig({}).owner, undefined, 'off by default')
  t.same(parseConfig({ OWNER: 'ci-job-1' }).owner, { label: 'dockmoat.owner', id: 'ci-job-1', adopt: [] }, 'default label key')
  t.same(parseConfig({ OWNER: 'x', OWNER_LABEL: 'com.example.owner', OWNER_ADOPT: '/agent, 0123456789ab' }).owner, { label: 'com.example.owner', id: 'x', adopt: ['agent', '0123456789ab'] }, 'label and adoption')
  for (const env of [{ OWNER: 'a b' }, { OWNER: '"x"' }, { OWNER_ADOPT: 'agent' }, { OWNER: 'x', OWNER_LABEL: 'a=b' }, { OWNER: 'x', OWNER_ADOPT: 'a/b' }]) {
    t.throws(() => parseConfig(env), /OWNER/, `${JSON.stringify(env)} refused, naming the variable`)
  }
})

t.test('the image names a call writes, as dockerd stores them', async (t) => {
  const names = (display: string, query: string) => imageNamesWritten(route(display), query)
  t.same(names('POST /images/{name}/tag', 'repo=busybox&tag=').names, ['docker.io/library/busybox:latest'], 'no tag: latest')
  t.same(names('POST /images/{name}/tag', 'repo=busybox:1&tag=2').names, ['docker.io/library/busybox:2'], 'the tag parameter replaces the reference\'s own')
  t.same(names('POST /images/{name}/tag', 'repo=team/app&tag=1&repo=x').names, ['docker.io/team/app:1', 'docker.io/library/x:1'], 'every repo value, not only the one dockerd reads')
  t.same(names('POST /images/{name}/tag', 'repo=registry.local:5000/app').names, ['registry.local:5000/app:latest'], 'a registry with a port')
  t.same(names('POST /images/{name}/tag', 'repo=index.docker.io/library/app').names, ['docker.io/library/app:latest'], 'index.docker.io is docker.io')
  t.same(names('POST /commit', 'container=c').names, [], 'a commit without repo makes no name')
  t.same(names('POST /build', 't=a&t=b:2').names, ['docker.io/library/a:latest', 'docker.io/library/b:2'], 'every build -t')
  t.same(names('POST /images/create', 'fromSrc=-&repo=imp&tag=1'), { names: ['docker.io/library/imp:1'], pull: false, allTags: false }, 'an import writes its repo')
  t.same(names('POST /images/create', 'fromImage=pulled&tag=1&fromSrc=-&repo=imp'), { names: ['docker.io/library/pulled:1'], pull: true, allTags: false }, 'with fromImage set dockerd pulls, whatever fromSrc says')
  t.same(names('POST /images/create', 'fromImage=&fromImage=pulled&fromSrc=-&repo=imp').names, ['docker.io/library/imp:latest'], 'and imports when the first fromImage is empty')
  t.same(names('POST /images/create', 'fromImage=busybox&tag=latest'), { names: ['docker.io/library/busybox:latest'], pull: true, allTags: false }, 'a pull writes the registry\'s image under its name')
  t.same(names('POST /images/create', 'fromImage=busybox&tag=sha256:abc'), { names: [], pull: true, allTags: false }, 'a pull by digest moves no name')
  t.equal(names('POST /images/create', 'fromImage=busybox').allTags, true, 'a pull without a tag fetches every tag')
  t.equal(names('POST /images/create', 'fromImage=busybox:1').allTags, false, 'unless the reference has one')
  t.same(names('GET /images/{name}/json', '').names, [], 'a read writes nothing')
})
