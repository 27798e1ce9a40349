// POLICY_FILE (policy-file.ts, profiles.ts) and ALLOW_NAMES / ALLOW_IMAGES (images.ts,
// guard/inspect.ts) as pure functions: every file error names its line and key, the
// first matching profile wins, `${CN}` fills in, and image names compare as dockerd resolves them.
import t from 'tap'
import { parsePolicy, PolicyError } from '../../src/policy-file.ts'
import { profileConfig, selectProfile, type Who } from '../../src/profiles.ts'
import { imageAllowed, imagePattern, normalizeImage } from '../../src/images.ts'
import { decideBody, decideRequest, type Decision } from '../../src/policy.ts'
import { parseConfig } from '../../src/settings.ts'

function problems(text: string): string[] {
  try {
    parsePolicy(text, 'policy.yaml')
  } catch (error) {
    if (error instanceof PolicyError) return error.message.split('\n')
    throw error
  }
  return []
}

const GOOD = `unmatched: refuse
listeners:
  - name: ci
    port: 2380
  - name: traefik
    socket: /run/dockmoat/traefik.sock
    mode: "600"
profiles:
  - name: alice
    match: { cn: alice }
    env:
      CONTAINERS: 1
      POST: true
      OWNER: \${CN}
      ALLOW_NAMES: \${CN}-*
  - name: team
    match:
      cn: ["ci-*", "build-?"]
      source: [10.0.0.0/8, "fd00::/8"]
    env:
      CONTAINERS: 1
      OWNER: team-\${CN}
  - name: traefik
    match: { listener: traefik }
    env: { CONTAINERS: 1, EVENTS: 1 }
  - name: readers
    match: { listener: [plain, ci] }
    env: { CONTAINERS: 1 }
  - name: dashboard
    match: { container: "*_dashboard_?" }
    env: { CONTAINERS: 1 }
`

t.test('a valid file: profiles, listeners, first match wins', async (t) => {
  const policy = parsePolicy(GOOD, 'policy.yaml')
  t.same(policy.profiles.map((p) => p.name), ['alice', 'team', 'traefik', 'readers', 'dashboard'], 'profiles in order')
  t.equal(policy.usesContainers, true, 'a container match makes dockmoat look callers up')
  t.equal(parsePolicy('profiles:\n  - name: a\n    match: { cn: a }\n    env: {}\n', 'p').usesContainers, false, 'no container match, no lookups')
  t.same(policy.listeners, [
    { name: 'ci', kind: 'tcp', host: undefined, port: 2380, ipv6: true },
    { name: 'traefik', kind: 'unix', path: '/run/dockmoat/traefik.sock', mode: 0o600 },
  ], 'listeners')
  const who = (fields: Partial<Who>): Who => ({ listener: 'tls', address: '192.0.2.1', ...fields })
  t.equal(selectProfile(policy, who({ cn: 'alice' }))?.name, 'alice', 'cn exact')
  t.equal(selectProfile(policy, who({ cn: 'alice2' })), undefined, 'cn exact is not a prefix')
  t.equal(selectProfile(policy, who({ cn: 'ci-7', address: '10.1.2.3' }))?.name, 'team', 'cn glob and source CIDR')
  t.equal(selectProfile(policy, who({ cn: 'ci-7', address: '::ffff:10.1.2.3' }))?.name, 'team', 'IPv4-mapped IPv6 source')
  t.equal(selectProfile(policy, who({ cn: 'ci-7', address: 'fd00::5' }))?.name, 'team', 'IPv6 source')
  t.equal(selectProfile(policy, who({ cn: 'ci-7', address: '192.0.2.1' })), undefined, 'every match key must hold')
  t.equal(selectProfile(policy, who({ cn: 'build-10', address: '10.0.0.1' })), undefined, '? is one character')
  t.equal(selectProfile(policy, { listener: 'traefik', address: 'unix' })?.name, 'traefik', 'the listener')
  t.equal(selectProfile(policy, { listener: 'plain', address: '127.0.0.1' })?.name, 'readers', 'a listener of a list')
  t.equal(selectProfile(policy, { listener: 'tls', address: '127.0.0.1' }), undefined, 'no certificate, no cn match')
  t.equal(selectProfile(policy, who({ container: 'web_dashboard_1' }))?.name, 'dashboard', 'the caller\'s container name')
  t.equal(selectProfile(policy, who({ container: 'web_dashboard_10' })), undefined, 'a glob on the whole name')
  t.equal(selectProfile(policy, who({})), undefined, 'no container, no container match')

  const environment = parseConfig({ SOCKET_PATH: '/run/docker.sock', CONTAINERS: '1', POST: '1', EXEC: '1' })
  const alice = profileConfig(policy.profiles[0]!, who({ cn: 'alice' }), environment)
  t.ok(typeof alice === 'object', 'alice gets a configuration')
  if (typeof alice === 'object') {
    t.same(alice.owner, { label: 'dockmoat.owner', id: 'alice', adopt: [] }, '${CN} fills OWNER')
    t.same(alice.allowNames?.map((p) => p.text), ['alice-*'], '${CN} fills ALLOW_NAMES')
    t.equal(alice.grants.EXEC, false, 'the environment\'s grants are not inherited')
    t.equal(alice.grants.POST, true, 'POST: true is a boolean')
    t.equal(alice.socketPath, '/run/docker.sock', 'process settings are the environment\'s')
  }
  const team = profileConfig(policy.profiles[1]!, who({ cn: 'ci-7', address: '10.1.2.3' }), environment)
  t.equal(typeof team === 'object' && team.owner?.id, 'team-ci-7', '${CN} inside a value')
  t.match(profileConfig(policy.profiles[0]!, who({}), environment), /uses \$\{CN\}, and this client showed no client certificate/, '${CN} without a certificate is refused')
  for (const cn of ['bad cn!', 'dev-x/../..', 'dev-y,/', 'dev-*', 'dev-?', 'a..b', '../etc', 'x\ny']) {
    t.match(profileConfig(policy.profiles[0]!, who({ cn }), environment), /^profile alice uses \$\{CN\}, and the certificate's CN .* is not one it can use \(letters, digits and _\.@- only\)$/, `CN ${JSON.stringify(cn)} is never substituted into a path, list or pattern`)
  }
})

t.test('every problem of a file is named with its line and key', async (t) => {
  t.same(problems('profiles:\n  - name: a\n    env: { POST: 1\n'), [problems('profiles:\n  - name: a\n    env: { POST: 1\n')[0]!], 'bad YAML: one problem')
  t.match(problems('profiles:\n  - name: a\n    env: { POST: 1\n')[0], /^policy\.yaml:[34]: /, 'bad YAML names the line')
  t.match(problems('profiles:\n  - name: a\n\tenv: {}\n')[0], /^policy\.yaml:3: /, 'a tab on line 3 is named at line 3')
  t.same(problems([
    'unmatched: maybe',           // 1
    'extra: 1',                   // 2
    'profiles:',                  // 3
    '  - name: a',                // 4
    '    match: { cn: a, who: x }', // 5
    '    env:',                   // 6
    '      POST: ture',           // 7
    '      CONTAINER: 1',         // 8
    '      SOCKET_PATH: /x',      // 9
    '      ALLOW_CAPS: [A]',      // 10
    '  - name: a',                // 11
    '    match: { listener: nope, source: 10.0.0.0/33 }', // 12
    '    env: { OWNER_LABEL: x }', // 13
    '  - just a string',          // 14
    '',
  ].join('\n')), [
    'policy.yaml:1: unmatched: "maybe" is not one of refuse (the default), environment',
    'policy.yaml:2: extra: is not a key of the policy file; use profiles:, listeners: and unmatched:',
    'policy.yaml:5: profiles[0].match.who: is not a match key; use cn, san, source, listener, container',
    'policy.yaml:7: profiles[0].env.POST: POST="ture" is not a boolean; use one of 1/0, true/false, yes/no, on/off (any case)',
    'policy.yaml:8: profiles[0].env.CONTAINER: is not a dockmoat variable; did you mean CONTAINERS?',
    'policy.yaml:9: profiles[0].env.SOCKET_PATH: is where and how dockmoat runs, set once in the environment, not per profile',
    'policy.yaml:10: profiles[0].env.ALLOW_CAPS: must be a single value, such as 1 or /srv/app',
    'policy.yaml:12: profiles[1].match.source: "10.0.0.0/33" is not an address or CIDR such as 10.0.0.0/8 or fd00::/8',
    'policy.yaml:11: profiles[1].env: OWNER_LABEL and OWNER_ADOPT need OWNER; set OWNER to the owner\'s name, such as OWNER=ci-job-1',
    'policy.yaml:11: profiles[1].name: "a" is used twice',
    'policy.yaml:14: profiles[2]: must be a mapping with name:, match: and env:',
    'policy.yaml:12: profiles[1].match.listener: "nope" is not a listener; use plain, tls',
  ], 'each problem once, with its line and key')
  t.same(problems('profiles:\n  - name: a\n    env: {}\nprofiles: []\n').length, 1, 'a duplicate key is a YAML error')
  t.same(problems('listeners:\n  - name: tls\n    port: 1\n  - name: x\n    port: 99999\n  - name: y\n    port: 1\n    socket: /s\nprofiles: []\n'), [
    'policy.yaml:2: listeners[0].name: "tls" is taken (plain and tls are the environment\'s listeners)',
    'policy.yaml:4: listeners[1]: port="99999" is not valid; use a whole number from 0 to 65535',
    'policy.yaml:6: listeners[2]: needs exactly one of port: (TCP) or socket: (a unix socket path)',
  ], 'listener errors')
  t.same(problems('unmatched: environment\n'), ['policy.yaml:1: profiles: missing; list at least one profile'], 'profiles: is required')
  t.same(problems('- a\n'), ['policy.yaml:1: the file must be a mapping with a profiles: list'], 'not a mapping')
})

t.test('image references compare as dockerd resolves them', async (t) => {
  t.same(normalizeImage('busybox'), { repository: 'docker.io/library/busybox', tag: undefined, digest: undefined, id: false }, 'official image')
  t.same(normalizeImage('team/app:1.2'), { repository: 'docker.io/team/app', tag: '1.2', digest: undefined, id: false }, 'user image with tag')
  t.same(normalizeImage('localhost:5000/app@sha256:abc'), { repository: 'localhost:5000/app', tag: undefined, digest: 'sha256:abc', id: false }, 'registry with port and digest')
  t.same(normalizeImage('index.docker.io/library/busybox:latest').repository, 'docker.io/library/busybox', 'index.docker.io is docker.io')
  t.equal(normalizeImage('78fd61820c99').id, true, 'all-hex may be an ID prefix')
  t.equal(normalizeImage('sha256:78fd61820c99').id, true, 'sha256: ID')
  const patterns = ['busybox', 'alpine:3.20', 'registry.example.com/team/*'].map(imagePattern)
  const cases: [string, boolean][] = [
    ['busybox', true], ['busybox:1.36', true], ['docker.io/library/busybox:latest', true], ['library/busybox', true],
    ['busybox@sha256:0123', true], ['alpine:3.20', true], ['alpine', false], ['alpine:latest', false], ['alpine:3.19', false],
    ['registry.example.com/team/app:1', true], ['registry.example.com/team/sub/app', true], ['registry.example.com/other/app', false],
    ['evil/busybox', false], ['busybox2', false], ['registry.example.com.evil.org/team/app', false], ['78fd61820c99', false], ['', false],
    // a pinned tag allows no digest: dockerd resolves `repo:tag@digest` by the digest
    ['alpine:3.20@sha256:2d71', false], ['alpine@sha256:2d71', false],
  ]
  for (const [reference, allowed] of cases) t.equal(imageAllowed(patterns, reference), allowed, `${JSON.stringify(reference)} ${allowed ? 'allowed' : 'refused'}`)
  const pinned = [imagePattern('alpine@sha256:2d71')]
  t.ok(imageAllowed(pinned, 'alpine@sha256:2d71'), 'a pinned digest allows itself')
  t.notOk(imageAllowed(pinned, 'alpine:latest@sha256:ffff'), '... and no other digest')
  t.notOk(imageAllowed(pinned, 'alpine'), '... nor a tag')
})

function judged(method: string, path: string, body: string | undefined, env: Record<string, string>): Decision {
  const config = parseConfig(env)
  const decision = decideRequest(method, path, 'application/json', config)
  if (!decision.allow || decision.readBody !== true) return decision
  return decideBody(method, path, decision, Buffer.from(body ?? ''), config)
}

t.test('ALLOW_NAMES and ALLOW_IMAGES through the policy, as the proxy decides', async (t) => {
  const env = { CONTAINERS: '1', IMAGES: '1', POST: '1', ALLOW_NAMES: 'ci-*', ALLOW_IMAGES: 'busybox,registry.example.com/team/*' }
  const cases: [string, string, string | undefined, RegExp | undefined][] = [
    ['POST', '/v1.41/containers/create?name=ci-1', '{"Image":"busybox:1.36"}', undefined],
    ['POST', '/v1.41/containers/create', '{"Image":"busybox"}', /the container has no name: name it .* ALLOW_NAMES allows \(ci-\*\)/],
    ['POST', '/v1.41/containers/create?name=web', '{"Image":"busybox"}', /the name "web" is not one ALLOW_NAMES allows \(ci-\*\)/],
    ['POST', '/v1.41/containers/create?name=ci-1&name=web', '{"Image":"busybox"}', /"web"/],
    ['POST', '/v1.41/containers/create?name=ci-1', '{"Image":"alpine"}', /Image "alpine" \(docker.io\/library\/alpine\) is not in ALLOW_IMAGES=busybox,registry.example.com\/team\/\*/],
    ['POST', '/v1.41/containers/create?name=ci-1', '{"image":"alpine","Image":"busybox"}', undefined],
    ['POST', '/v1.41/containers/create?name=ci-1', '{"Image":"busybox","image":"alpine"}', /alpine/],
    ['POST', '/v1.41/containers/create?name=ci-1', '{"Cmd":["sh"]}', /Image names no image/],
    ['POST', '/v1.41/containers/x/rename?name=ci-2', undefined, undefined],
    ['POST', '/v1.41/containers/x/rename?name=prod', undefined, /"prod" is not one ALLOW_NAMES allows/],
    ['POST', '/v1.41/images/create?fromImage=busybox&tag=1.36', undefined, undefined],
    ['POST', '/v1.41/images/create?fromImage=registry.example.com/team/app&tag=sha256:0a', undefined, undefined],
    ['POST', '/v1.41/images/create?fromImage=alpine', undefined, /pull fromImage "alpine"/],
    ['POST', '/v1.41/images/create?fromImage=busybox&fromImage=alpine', undefined, /alpine/],
    ['POST', '/v1.41/images/create?fromSrc=-&repo=busybox', undefined, /image import/],
    ['POST', '/v1.41/images/busybox/push?tag=1', undefined, undefined],
    ['POST', '/v1.41/images/alpine/push', undefined, /push "alpine"/],
    ['POST', '/v1.41/images/busybox/tag?repo=registry.example.com/team/bb&tag=1', undefined, undefined],
    ['POST', '/v1.41/images/alpine/tag?repo=busybox&tag=latest', undefined, /tag source "alpine"/],
    ['POST', '/v1.41/images/busybox/tag?repo=alpine', undefined, /tag repo "alpine"/],
    ['POST', '/v1.41/images/load', undefined, /docker load/],
  ]
  for (const [method, path, body, refused] of cases) {
    const decision = judged(method, path, body, env)
    if (refused === undefined) t.ok(decision.allow, `${method} ${path} ${body ?? ''}: allowed${decision.allow ? '' : ` (refused: ${decision.reason})`}`)
    else t.match(!decision.allow && decision.reason, refused, `${method} ${path} ${body ?? ''}: refused`)
  }
  t.ok(judged('POST', '/containers/create', '{"Image":"alpine"}', { CONTAINERS: '1', POST: '1' }).allow, 'without the variables, any name and image')
  const audit = judged('POST', '/containers/create?name=web', '{"Image":"alpine"}', { ...env, MODE: 'audit' })
  t.notOk(audit.allow, 'MODE=audit still enforces ALLOW_NAMES and ALLOW_IMAGES: they restrict, they do not grant')
  const logged = judged('POST', '/containers/create?name=ci-1', '{"Image":"busybox","Entrypoint":"/bin/sh","Cmd":["-c","id"],"Env":["TOKEN=secret"]}', env)
  t.same(logged.allow && logged.subject, { image: 'busybox', cmd: ['/bin/sh', '-c', 'id'] }, 'the image and command are kept for the log, the environment is not')
  const exec = judged('POST', '/containers/x/exec', '{"Cmd":["cat","/etc/passwd"],"Env":["A=b"]}', { CONTAINERS: '1', EXEC: '1', POST: '1' })
  t.same(exec.allow && exec.subject, { cmd: ['cat', '/etc/passwd'] }, 'the exec command is kept for the log')
})

t.test('form bodies cannot replace the query values that were judged', async (t) => {
  const env = { CONTAINERS: '1', IMAGES: '1', COMMIT: '1', POST: '1', ALLOW_NAMES: 'ci-*', ALLOW_IMAGES: 'busybox' }
  const config = parseConfig(env)
  for (const [path, what] of [
    ['/v1.41/containers/ci-1/rename?name=ci-2', 'rename'],
    ['/v1.41/images/busybox/tag?repo=busybox&tag=ok', 'tag'],
    ['/v1.41/images/busybox/push?tag=ok', 'push'],
    ['/v1.41/images/create?fromImage=busybox&tag=ok', 'pull'],
    ['/v1.41/commit?container=x&repo=busybox', 'commit'],
  ] as const) {
    t.ok(decideRequest('POST', path, undefined, config).allow, `${what}: allowed with the values in the query`)
    for (const contentType of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-Urlencoded; charset=utf-8', 'multipart/form-data; boundary=x']) {
      const decision = decideRequest('POST', path, contentType, config)
      t.match(!decision.allow && decision.reason, /body would replace the query's values, which dockmoat judged/, `${what}: refused with Content-Type ${contentType}`)
    }
  }
  t.notOk(decideRequest('POST', '/v1.41/containers/x/rename?name=y', 'application/x-www-form-urlencoded', parseConfig({ CONTAINERS: '1', POST: '1', OWNER: 'a' })).allow, 'also without ALLOW_NAMES: OWNER judges the new name too')
})

t.test('a request keeps the profile it was admitted with across a reload', async (t) => {
  const { Clients } = await import('../../src/clients.ts')
  const before = parsePolicy('profiles:\n  - name: owned\n    match: { listener: plain }\n    env: { CONTAINERS: 1, POST: 1, OWNER: o1 }\n', 'before.yaml')
  const after = parsePolicy('profiles:\n  - name: readonly\n    match: { listener: plain }\n    env: { CONTAINERS: 1 }\n', 'after.yaml')
  const clients = new Clients(parseConfig({}), before)
  const socket = { remoteAddress: '127.0.0.1' }
  clients.arrived(socket, 'plain')
  const slow = { socket } as unknown as import('../../src/http1.ts').Request
  const first = clients.admit(slow)
  t.equal('profile' in first && first.profile, 'owned', 'admitted under the first policy')
  clients.reload(after)
  t.equal(clients.admit(slow), first, 'the same request keeps its admission (and so its OWNER) after SIGHUP')
  t.equal(clients.profileOf(slow), 'owned', 'and logs that profile')
  const next = clients.admit({ socket } as unknown as import('../../src/http1.ts').Request)
  t.equal('profile' in next && next.profile, 'readonly', 'the next request on the connection gets the new policy')
})
