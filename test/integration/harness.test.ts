// Exercises the shared docker test helpers against the REAL dockerd.
import t from 'tap'
import {
  DOCKER_SOCKET,
  cleanup,
  composeCommand,
  compose,
  docker,
  requireDocker,
  testImage,
  uniqueName,
} from '../helpers/docker.ts'

t.test('requireDocker reaches the real dockerd', async (t) => {
  await t.resolves(requireDocker(), `dockerd answers /_ping at ${DOCKER_SOCKET}`)
})

t.test('requireDocker fails loudly when the socket is absent', async (t) => {
  const bogus = '/nonexistent/dockmoat-test.sock'
  await t.rejects(requireDocker(bogus), {
    message: /dockerd is not reachable at \/nonexistent\/dockmoat-test\.sock: .*ENOENT.*dockerd/s,
  })
})

t.test('docker() runs the real CLI and reports exit codes', async (t) => {
  const ok = await docker(['version', '--format', '{{.Server.APIVersion}}'])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout.trim(), /^1\.\d+$/, 'server API version')

  const missing = await docker(['image', 'inspect', uniqueName('no-such-image')])
  t.not(missing.code, 0, 'non-zero exit is returned, not thrown')
  t.match(missing.stderr, /no such image/i)
})

t.test('testImage() builds/returns a local image with a shell', async (t) => {
  const [img, again] = await Promise.all([testImage(), testImage()])
  t.equal(img, 'dockmoat-test-busybox:latest')
  t.equal(again, img)

  const hi = await docker(['run', '--rm', img, 'echo', 'hi'])
  t.equal(hi.code, 0, hi.stderr)
  t.equal(hi.stdout, 'hi\n')

  const applets = ['sh', 'cat', 'sleep', 'echo', 'wc', 'true', 'ls', 'head', 'dd', 'nc']
  const probe = await docker([
    'run', '--rm', img, 'sh', '-c',
    `for a in ${applets.join(' ')}; do command -v "$a" >/dev/null || echo "missing $a"; done; echo done`,
  ])
  t.equal(probe.code, 0, probe.stderr)
  t.equal(probe.stdout, 'done\n', 'all applets present')

  const stdin = await docker(['run', '--rm', '-i', img, 'wc', '-c'], { input: 'hello' })
  t.equal(stdin.code, 0, stdin.stderr)
  t.equal(stdin.stdout.trim(), '5', 'input is piped to stdin')

  const cmd = await docker(['image', 'inspect', '--format', '{{json .Config.Cmd}}', img])
  t.equal(cmd.stdout.trim(), '["sh"]', 'default CMD is sh')
})

t.test('docker() kills the CLI after timeoutMs', async (t) => {
  const img = await testImage()
  const name = uniqueName('timeout')
  t.teardown(() => cleanup('container', [name]))
  const started = Date.now()
  const r = await docker(['run', '--rm', '--name', name, img, 'sleep', '60'], { timeoutMs: 3000 })
  t.equal(r.timedOut, true)
  t.equal(r.code, 124)
  t.match(r.stderr, /after 3000 ms timeout/)
  t.ok(Date.now() - started < 20_000, 'returned promptly')
})

t.test('uniqueName gives distinct docker-safe names', async (t) => {
  const names = new Set(Array.from({ length: 200 }, () => uniqueName('Harness Vol!')))
  t.equal(names.size, 200, 'no duplicates')
  const bad = [...names].filter((n) => !/^dockmoat-test-harness-vol-[a-z0-9_-]+$/.test(n))
  t.same(bad, [], 'all names are lowercase [a-z0-9_-] with the dockmoat-test- prefix')
  t.match(uniqueName('dockmoat-test-x'), /^dockmoat-test-x-/, 'prefix not doubled')
})

t.test('cleanup removes a volume the test created', async (t) => {
  const vol = uniqueName('vol')
  const created = await docker(['volume', 'create', vol])
  t.equal(created.code, 0, created.stderr)
  t.equal((await docker(['volume', 'inspect', vol])).code, 0, 'volume exists before cleanup')

  await cleanup('volume', [vol])
  const after = await docker(['volume', 'inspect', vol])
  t.not(after.code, 0, 'volume gone after cleanup')

  await t.resolves(cleanup('volume', [vol, uniqueName('never-existed')]), 'missing names are ignored')
})

t.test('composeCommand returns a working compose', async (t) => {
  const argv = composeCommand()
  t.ok(argv.length >= 1)
  t.ok(argv[0] === 'docker-compose' || (argv[0] === 'docker' && argv[1] === 'compose'), argv.join(' '))
  const r = await compose(['version'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /compose version/i)
})
