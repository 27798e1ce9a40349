// CGROUP_PARENT against the REAL dockerd, with the docker CLI: every container and every
// classic build step lands under the forced cgroup parent whatever the client asked, and
// a client asking for another one is refused. The evidence is the cgroup the process
// itself reports (/proc/self/cgroup) and dockerd's inspect, not the proxy's answer.
import t from 'tap'
import fs from 'node:fs'
import { join } from 'node:path'
import { cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'

await requireDocker()
const image = await testImage()

const parent = `/dockmoat-test-cg-${process.pid}`
const containers: string[] = []
const images: string[] = []
const context = fs.mkdtempSync('/tmp/dm-cgroup-')
fs.writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nRUN cat /proc/self/cgroup\n`)

const proxy = await startProxy({ CONTAINERS: '1', POST: '1', BUILD: '1', IMAGES: '1', CGROUP_PARENT: parent })
t.teardown(async () => {
  await proxy.stop()
  await cleanup('container', containers)
  await cleanup('image', images)
  fs.rmSync(context, { recursive: true, force: true })
  // dockerd (cgroupfs driver) leaves the empty parent behind in each hierarchy: ours to remove.
  for (const root of ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))]) {
    try {
      fs.rmdirSync(join(root, parent))
    } catch {
      // not in this hierarchy, or not empty
    }
  }
})

const via = { host: proxy.dockerHost, env: { DOCKER_BUILDKIT: '0' } }

t.test('a container run through dockmoat runs under CGROUP_PARENT', async (t) => {
  const name = uniqueName('dm-cgroup')
  containers.push(name)
  const run = await docker(['run', '--name', name, image, 'cat', '/proc/self/cgroup'], via)
  t.equal(run.code, 0, `docker run succeeded (${run.stderr.trim()})`)
  t.ok(run.stdout.split('\n').some((line) => line.includes(`:${parent}/`)), `the process's own cgroups are under ${parent}:\n${run.stdout}`)
  const inspect = await docker(['container', 'inspect', '--format', '{{.HostConfig.CgroupParent}}', name])
  t.equal(inspect.stdout.trim(), parent, 'dockerd holds the forced CgroupParent (inspected directly)')
})

t.test('asking for another cgroup parent is refused, and nothing is created', async (t) => {
  const name = uniqueName('dm-cgroup-other')
  containers.push(name)
  const run = await docker(['run', '--name', name, '--cgroup-parent', '/elsewhere', image, 'true'], via)
  t.not(run.code, 0, 'refused')
  t.match(run.stderr, /HostConfig\.CgroupParent is "\/elsewhere".*CGROUP_PARENT=/, `the message names the field and the variable: ${run.stderr.trim()}`)
  t.not((await docker(['container', 'inspect', name])).code, 0, 'dockerd holds no such container')
})

t.test('a classic build runs its steps under CGROUP_PARENT; another parent is refused', async (t) => {
  const tag = `${uniqueName('dm-cgroup-build')}:latest`
  images.push(tag)
  const build = await docker(['build', '--no-cache', '-t', tag, context], { ...via, timeoutMs: 120_000 })
  t.equal(build.code, 0, `docker build succeeded (${build.stderr.trim()})`)
  t.ok(build.stdout.split('\n').some((line) => line.includes(`:${parent}/`)), `the RUN step's cgroups are under ${parent}:\n${build.stdout}`)

  const other = `${uniqueName('dm-cgroup-build-other')}:latest`
  images.push(other)
  const refused = await docker(['build', '--cgroup-parent', '/elsewhere', '-t', other, context], { ...via, timeoutMs: 120_000 })
  t.not(refused.code, 0, 'refused')
  t.match(refused.stderr, /cgroupparent=\/elsewhere.*CGROUP_PARENT=/, `names the option and the variable: ${refused.stderr.trim()}`)
  t.not((await docker(['image', 'inspect', other])).code, 0, 'no image was built')
})
