// OWNER and image names. Image names are shared by every client: an owner that could point
// a base image's name (or another owner's) at an image of its own would run its code in
// whatever the next client starts from that name. Every way a call writes a name is tried
// through the owner proxy a against the REAL dockerd — tag, build -t, commit, import, load,
// pull — with every spelling of the name dockerd normalizes alike; the evidence is the
// image ID dockerd's own lookup gives for the name afterwards, never the status alone.
//
// The "base image" is a tag of the test image made here directly (never the shared test
// image itself, so a regression cannot poison other tests).
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { api, cleanup, docker, requireDocker, testImage, uniqueName, type RunResult } from '../helpers/docker.ts'
import { startProxy, type RunningProxy } from '../helpers/proxy.ts'

await requireDocker()
const IMAGE = await testImage()
const RUN = uniqueName('names')
const GRANTS = { CONTAINERS: '1', IMAGES: '1', POST: '1', BUILD: '1', COMMIT: '1' }
const [A, B] = await Promise.all([startProxy({ ...GRANTS, OWNER: `a-${RUN}` }), startProxy({ ...GRANTS, OWNER: `b-${RUN}` })])

const base = `${RUN}-base`
const aApp = `${RUN}-a-app`
const bApp = `${RUN}-b-app`
const fresh = `${RUN}-fresh`
const images: string[] = [base, aApp, `${aApp}:v2`, bApp, fresh]
const containers: string[] = []
const dir = mkdtempSync(join(tmpdir(), 'dm-names-'))
t.teardown(async () => {
  await cleanup('container', containers)
  await cleanup('image', images)
  await Promise.all([A.stop(), B.stop()])
  rmSync(dir, { recursive: true, force: true })
})

const via = (p: RunningProxy, args: string[], input?: Buffer): Promise<RunResult> =>
  docker(args, { host: p.dockerHost, timeoutMs: 60_000, ...(input === undefined ? {} : { input }) })

/** The image ID dockerd's own lookup gives for a name, on its socket. */
async function idOf(name: string): Promise<string | undefined> {
  const r = await api('GET', `/images/${encodeURIComponent(name)}/json`)
  return r.status === 200 ? (r.json as { Id: string }).Id : undefined
}

function context(who: string): string {
  const path = mkdtempSync(join(dir, `${who}-`))
  writeFileSync(join(path, 'Dockerfile'), `FROM ${IMAGE}\nRUN echo ${who} > /who\n`)
  return path
}

async function built(p: RunningProxy, tag: string, who: string): Promise<string> {
  const r = await via(p, ['build', '-q', '-t', tag, context(who)])
  if (r.code !== 0) throw new Error(`build of ${tag} failed: ${r.stderr}`)
  return r.stdout.trim()
}

if ((await docker(['tag', IMAGE, base])).code !== 0) throw new Error('could not tag the base image')
const baseId = (await idOf(base))!
const bAppId = await built(B, bApp, 'b')
const aAppId = await built(A, aApp, 'a')
t.not(aAppId, baseId, 'a\'s image differs from the base image')
t.not(bAppId, aAppId, 'and from b\'s')

/** Spellings dockerd resolves to the same name. */
const spellings = (name: string): string[] => [name, `${name}:latest`, `docker.io/${name}`, `docker.io/library/${name}:latest`, `index.docker.io/library/${name}`]

async function refused(t: Test, r: RunResult, what: string): Promise<void> {
  t.not(r.code, 0, `${what}: refused`)
  t.match(r.stderr, /not yours.*use a name of your own/, `${what}: saying the name is not a's`)
}

async function unmoved(t: Test): Promise<void> {
  t.equal(await idOf(base), baseId, 'the base image\'s name still points at the base image (direct)')
  t.equal(await idOf(bApp), bAppId, 'b\'s name still points at b\'s image (direct)')
}

t.test('docker tag onto the base image\'s name or b\'s, by every spelling', async (t) => {
  for (const name of [...spellings(base), ...spellings(bApp)]) await refused(t, await via(A, ['tag', aApp, name]), `docker tag ${aApp} ${name}`)
  // The docker CLI normalizes before it sends; a raw client need not.
  for (const name of [...spellings(base), ...spellings(bApp)]) {
    const [repo, tag = ''] = name.split(/:(?=[^/]*$)/)
    for (const query of [`repo=${encodeURIComponent(repo!)}&tag=${tag}`, `repo=${encodeURIComponent(name)}`, `repo=${encodeURIComponent(repo!)}&tag=latest&tag=other`]) {
      const r = await api('POST', `/images/${aApp}/tag?${query}`, undefined, A.port)
      t.equal(r.status, 403, `raw tag ?${query}: refused (${r.status})`)
    }
  }
  await unmoved(t)
})

t.test('docker build -t over a name that is not a\'s, alone or after a free one', async (t) => {
  const ctx = context('a-again')
  await refused(t, await via(A, ['build', '-q', '-t', base, ctx]), `docker build -t ${base}`)
  await refused(t, await via(A, ['build', '-q', '-t', fresh, '-t', `docker.io/library/${bApp}`, ctx]), `docker build -t ${fresh} -t docker.io/library/${bApp}`)
  t.equal(await idOf(fresh), undefined, 'the build did not run: the free name was not made either (direct)')
  await unmoved(t)
})

t.test('docker commit and docker import under a name that is not a\'s', async (t) => {
  const c = uniqueName('names-c')
  containers.push(c)
  t.equal((await via(A, ['create', '--name', c, aApp, 'true'])).code, 0, 'a creates a container of its image')
  await refused(t, await via(A, ['commit', c, base]), `docker commit ${c} ${base}`)
  await refused(t, await via(A, ['commit', c, `${bApp}:latest`]), `docker commit ${c} ${bApp}:latest`)
  const rootfs = execFileSync('tar', ['-cf', '-', '-C', context('rootfs'), 'Dockerfile'])
  await refused(t, await via(A, ['import', '-', base], rootfs), `docker import - ${base}`)
  await refused(t, await via(A, ['import', '-', bApp], rootfs), `docker import - ${bApp}`)
  await unmoved(t)
})

t.test('docker load is refused under OWNER: the names are inside the tarball', async (t) => {
  // A tarball that claims the base image's name for a's content (made directly: the test's
  // own base name is pointed at a's image for the save, then back).
  t.equal((await docker(['tag', aApp, base])).code, 0, 'the base name on a\'s image, for the save (direct)')
  const tarball = execFileSync('docker', ['save', base], { maxBuffer: 64 << 20 })
  t.equal((await docker(['tag', baseId, base])).code, 0, 'and back on the base image (direct)')
  t.equal(await idOf(base), baseId, 'the base name is the base image again (direct)')
  const r = await via(A, ['load'], tarball)
  t.not(r.code, 0, 'docker load through a is refused')
  t.match(r.stderr, /names written inside it/, `saying why (${r.stderr.trim()})`)
  await unmoved(t)
})

t.test('a pull: of every tag refused; over b\'s name refused; an unowned name may be refreshed', async (t) => {
  const all = await api('POST', `/images/create?fromImage=${encodeURIComponent(base)}`, undefined, A.port)
  t.equal(all.status, 403, 'docker pull -a (no tag) is refused')
  t.match(all.text, /every tag/, 'saying why')
  const over = await api('POST', `/images/create?fromImage=${encodeURIComponent(bApp)}&tag=latest`, undefined, A.port)
  t.equal(over.status, 403, 'a pull of b\'s name is refused')
  t.match(over.text, /not yours/, 'saying the name is not a\'s')
  // No registry here: the refresh is forwarded and dockerd's own pull fails (not dockmoat).
  const refresh = await api('POST', `/images/create?fromImage=${encodeURIComponent(base)}&tag=latest`, undefined, A.port)
  t.notMatch(refresh.text, /dockmoat refused/, `a pull of the unowned base name is forwarded to dockerd (${refresh.status})`)
  await unmoved(t)
})

t.test('a moves its own names and free ones; b cannot move a\'s', async (t) => {
  t.equal((await via(A, ['tag', aApp, `${aApp}:v2`])).code, 0, 'a tags its image under a free name')
  t.equal(await idOf(`${aApp}:v2`), aAppId, 'which points at a\'s image (direct)')
  const rebuilt = await built(A, aApp, 'a-rebuilt')
  t.not(rebuilt, aAppId, 'a rebuilds under its own name')
  t.equal(await idOf(aApp), rebuilt, 'and the name now points at the new build (direct)')
  await refused(t, await via(B, ['tag', bApp, aApp]), `b: docker tag ${bApp} ${aApp}`)
  t.equal(await idOf(aApp), rebuilt, 'a\'s name still points at a\'s build (direct)')
  const rmi = await via(A, ['rmi', '--force', `${aApp}:v2`])
  t.equal(rmi.code, 0, `a removes its own tag (its container uses the image, so --force; ${rmi.stderr.trim()})`)
})

t.test('a name another owner takes while a build runs stays theirs: the build fails, nothing moves', async (t) => {
  const race = `${RUN}-race`
  images.push(race)
  const slow = mkdtempSync(join(dir, 'slow-'))
  writeFileSync(join(slow, 'Dockerfile'), `FROM ${IMAGE}\nRUN sleep 4\nRUN echo a-${RUN} > /who\n`)
  // a's build checks the name at its start (free), b takes it meanwhile, a's build ends.
  const building = via(A, ['build', '-t', race, slow])
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const bRace = await built(B, race, 'b-race')
  const a = await building
  t.not(a.code, 0, "a's build fails")
  t.match(a.stdout + a.stderr, /the name docker\.io\/library\/.*-race:latest points at an image that is not yours/, 'saying the name is not a\'s')
  t.equal(await idOf(race), bRace, "the name still points at b's image (direct)")
  const again = await via(A, ['build', '-t', `${race}-own`, slow])
  images.push(`${race}-own`)
  t.equal(again.code, 0, `a build under a free name still tags it (${again.stderr.trim().slice(-200)})`)
  t.match(again.stdout, new RegExp(`Successfully tagged ${race}-own:latest`), 'and says so as dockerd would')
  t.match((await api('GET', `/images/${race}-own/json`)).json, { Config: { Labels: { 'dockmoat.owner': `a-${RUN}` } } }, "the tagged image is a's")
})
