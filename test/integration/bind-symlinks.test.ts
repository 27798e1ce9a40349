// ALLOW_BIND and symlinks, against the REAL dockerd: dockerd follows a symlink in a bind
// source when it mounts it. Here dockmoat runs beside dockerd (same filesystem), so it
// must say at startup that it resolves the allowed paths, and refuse sources that leave
// them through a symlink; where it cannot see a path it must say so.
import t from 'tap'
import fs from 'node:fs'
import { join } from 'node:path'
import { cleanup, docker, requireDocker, testImage, uniqueName } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'

await requireDocker()
const image = await testImage()

const base = fs.mkdtempSync('/tmp/dm-bind-')
const allowed = join(base, 'allowed')
fs.mkdirSync(join(allowed, 'sub'), { recursive: true })
fs.symlinkSync('/etc', join(allowed, 'to-etc'))
fs.symlinkSync(join(allowed, 'sub'), join(allowed, 'to-sub'))
fs.symlinkSync(join(base, 'missing'), join(allowed, 'dangling'))
const created: string[] = []
t.teardown(async () => {
  await cleanup('container', created)
  fs.rmSync(base, { recursive: true, force: true })
})

const proxy = await startProxy({ CONTAINERS: '1', POST: '1', ALLOW_BIND: allowed })
t.teardown(() => proxy.stop())

async function create(args: string[]): Promise<{ name: string; code: number; stderr: string }> {
  const name = uniqueName('dm-bind')
  created.push(name)
  const result = await docker(['create', '--name', name, ...args, image, 'true'], { host: proxy.dockerHost })
  return { name, code: result.code, stderr: result.stderr }
}

/** Whether dockerd itself holds a container of this name (the evidence, not the proxy's answer). */
async function exists(name: string): Promise<boolean> {
  return (await docker(['container', 'inspect', name])).code === 0
}

t.test('the startup log says the allowed path is resolved through symlinks', async (t) => {
  const line = proxy.logs().find((l) => Array.isArray(l.resolved))
  t.same(line?.resolved, [allowed], `startup line: ${line?.msg}`)
  t.notOk(proxy.logs().some((l) => Array.isArray(l.unresolved)), 'no path reported unresolved')
})

t.test('sources that leave the allowed path through a symlink are refused, and dockerd creates nothing', async (t) => {
  for (const [label, args, expect] of [
    ['-v through a symlink to /etc', ['-v', `${join(allowed, 'to-etc')}:/x`], /resolves through a symlink to "\/etc"/],
    ['-v through a symlink in an intermediate component', ['-v', `${join(allowed, 'to-etc', 'ssl')}:/x`], /resolves through a symlink to "\/etc\/ssl"/],
    ['--mount type=bind through a symlink', ['--mount', `type=bind,src=${join(allowed, 'to-etc')},dst=/x`], /resolves through a symlink to "\/etc"/],
    ['a dangling symlink', ['-v', `${join(allowed, 'dangling')}:/x`], /cannot be resolved through its symlinks/],
  ] as const) {
    const result = await create([...args])
    t.not(result.code, 0, `${label}: refused`)
    t.match(result.stderr, expect, `${label}: says where it leads: ${result.stderr.trim()}`)
    t.match(result.stderr, /set ALLOW_BIND=/, `${label}: names the variable`)
    t.notOk(await exists(result.name), `${label}: dockerd holds no such container`)
  }
})

t.test('sources that stay inside, through a symlink or not yet existing, are allowed', async (t) => {
  for (const [label, source] of [
    ['a plain directory', join(allowed, 'sub')],
    ['a symlink that stays inside', join(allowed, 'to-sub')],
    ['a path that does not exist yet', join(allowed, 'new', 'deeper')],
  ] as const) {
    const result = await create(['-v', `${source}:/x`])
    t.equal(result.code, 0, `${label}: created (${result.stderr.trim()})`)
    const binds = await docker(['container', 'inspect', '--format', '{{json .HostConfig.Binds}}', result.name])
    t.same(JSON.parse(binds.stdout), [`${source}:/x`], `${label}: dockerd holds the bind as sent`)
  }
})

t.test('a path dockmoat cannot see is reported at startup as judged by name only', async (t) => {
  const missing = join(base, 'not-here')
  const other = await startProxy({ CONTAINERS: '1', POST: '1', ALLOW_BIND: `${allowed},${missing}` })
  t.teardown(() => other.stop())
  const line = other.logs().find((l) => Array.isArray(l.unresolved))
  t.same(line?.unresolved, [missing], 'the missing path is named')
  t.match(line?.msg, /judged by their path only/, `and what that means: ${line?.msg}`)
  t.same(other.logs().find((l) => Array.isArray(l.resolved))?.resolved, [allowed], 'the visible one is still resolved')
})
