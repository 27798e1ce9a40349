// deriveTarget and cleanPath: the path dockerd routes on, derived from the raw
// request-target exactly as Go's net/url (ParseRequestURI) and gorilla/mux do it.
import t from 'tap'
import { cleanPath, deriveTarget } from '../../src/target.ts'

// the type of a subtest (the last overload of t.test takes only the callback)
type TestT = Parameters<Parameters<typeof t.test>[0]>[0]

/** Asserts that `raw` is accepted, routed on `path` and forwarded as `forward`. */
function accepts(t: TestT, raw: string, path: string, forward: string = raw): void {
  const target = deriveTarget(raw)
  t.same(target, { ok: true, path, forward }, `${JSON.stringify(raw)} -> path ${JSON.stringify(path)}, forward ${JSON.stringify(forward)}`)
}

/** Asserts that `raw` is refused, with a problem matching `problem`. */
function refuses(t: TestT, raw: string, problem: RegExp): void {
  const target = deriveTarget(raw)
  t.equal(target.ok, false, `${JSON.stringify(raw)} is refused`)
  if (!target.ok) t.match(target.problem, problem, `${JSON.stringify(raw)}: ${target.problem}`)
}

const NOT_CLEAN = /not in clean form/
const BAD_ESCAPE = /invalid percent-escape/

t.test('origin form', async (t) => {
  accepts(t, '/info', '/info')
  accepts(t, '/_ping', '/_ping')
  accepts(t, '/', '/')
  accepts(t, '/v1.41/containers/json', '/v1.41/containers/json')
  accepts(t, '/containers/abc123/json', '/containers/abc123/json')
  accepts(t, '/images/library/alpine:3.20/json', '/images/library/alpine:3.20/json')
  accepts(t, '/containers/x/exec', '/containers/x/exec')
})

t.test('the query starts at the first ?', async (t) => {
  accepts(t, '/v1.41/containers/json?all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D', '/v1.41/containers/json')
  accepts(t, '/info?a?b', '/info')
  accepts(t, '/info?', '/info')
  accepts(t, '/?x=1', '/')
  accepts(t, '/info?x=/../secrets', '/info')
  accepts(t, '/info?x=//', '/info')
  accepts(t, '/info?x=%zz', '/info') // the query is not decoded for routing
  accepts(t, '/a%3Fb?c', '/a?b') // an encoded ? belongs to the path
  accepts(t, '/info?#x', '/info')
})

t.test('# is not special on the server: it stays in the path', async (t) => {
  accepts(t, '/info#frag', '/info#frag')
  accepts(t, '/containers/a#b/json', '/containers/a#b/json')
  accepts(t, '/info#x?y', '/info#x')
  accepts(t, '/info?x#y', '/info')
  accepts(t, '/info%23x', '/info#x')
  refuses(t, '/info#/../secrets', NOT_CLEAN)
})

t.test('percent-decoded exactly once', async (t) => {
  accepts(t, '/%73ecrets', '/secrets')
  accepts(t, '/%69nfo', '/info')
  accepts(t, '/%69%6E%66%6f', '/info')
  accepts(t, '/containers/a%252Fb/json', '/containers/a%2Fb/json')
  accepts(t, '/containers/a%2Fb/json', '/containers/a/b/json')
  accepts(t, '/containers/a%2fb/json', '/containers/a/b/json')
  accepts(t, '/containers/a%25/json', '/containers/a%/json')
  accepts(t, '/containers/%2525/json', '/containers/%25/json')
  accepts(t, '/containers/%25zz/json', '/containers/%zz/json')
  accepts(t, '/v1.41/containers/x%2Flogs/json', '/v1.41/containers/x/logs/json')
  accepts(t, '/containers/a%20b/json', '/containers/a b/json')
  accepts(t, '/v1.41%2Finfo', '/v1.41/info')
  refuses(t, '/%2Fv1.41/info', NOT_CLEAN) // decodes to //v1.41/info
  refuses(t, '/%2F', NOT_CLEAN)
  refuses(t, '/containers/a%2F%2Fb/json', NOT_CLEAN)
})

t.test('invalid percent-escapes are refused', async (t) => {
  for (const raw of ['/%zz', '/info%4', '/info%', '/%g0', '/%0g', '/%%41', '/a%2', '/containers/%/json', '/containers/a%2/json', '/%-1', '/% 1', '/%+1', '/info%?x=1', '/info%4?x']) {
    refuses(t, raw, BAD_ESCAPE)
  }
})

t.test('+ stays +, ; is ordinary', async (t) => {
  accepts(t, '/images/a+b/json', '/images/a+b/json')
  accepts(t, '/a%2Bb', '/a+b')
  accepts(t, '/a%2bb', '/a+b')
  accepts(t, '/info;x', '/info;x')
  accepts(t, '/containers/a;b/json', '/containers/a;b/json')
  accepts(t, '/containers/x/json;', '/containers/x/json;')
  accepts(t, '/a%3Bb', '/a;b')
})

t.test('dot segments, raw and encoded, and // are not clean; a trailing slash is', async (t) => {
  for (const raw of [
    '/./info', '/info/.', '/info/./', '/../info', '/containers/x/..', '/containers/x/../json', '/containers/x/../../secrets',
    '/%2e%2e/info', '/%2E%2E/info', '/containers/%2e%2e/json', '/containers/x/%2e%2e', '/containers/x%2F..%2Fy/json',
    '/%2e/info', '/containers/.%2e/json', '//info', '/containers//json', '/info//', '//', '/.', '/..', '/./',
    '/v1.41//containers/json', '/v1.41/./info',
  ]) {
    refuses(t, raw, NOT_CLEAN)
  }
  // the problem says where dockerd would redirect
  const target = deriveTarget('/containers/x/../json')
  t.match(!target.ok && target.problem, '"/containers/json"', 'names the cleaned path')
  const slashes = deriveTarget('//info')
  t.match(!slashes.ok && slashes.problem, '"/info"', 'names the cleaned path for //')

  accepts(t, '/networks/', '/networks/')
  accepts(t, '/info/', '/info/')
  accepts(t, '/containers/x/json/', '/containers/x/json/')
  // segments that only look like dots are ordinary
  accepts(t, '/containers/.../json', '/containers/.../json')
  accepts(t, '/containers/..x/json', '/containers/..x/json')
  accepts(t, '/containers/x../json', '/containers/x../json')
  accepts(t, '/.hidden', '/.hidden')
  accepts(t, '/containers/%2e%2e%2e/json', '/containers/.../json')
})

t.test('absolute form', async (t) => {
  accepts(t, 'http://docker/v1.41/info', '/v1.41/info', '/v1.41/info')
  accepts(t, 'HTTP://x/info', '/info', '/info')
  accepts(t, 'https://docker:2375/info', '/info', '/info')
  accepts(t, 'unix://docker/_ping', '/_ping', '/_ping')
  accepts(t, 'git+ssh://x/info', '/info', '/info')
  accepts(t, 'http://user:pw@docker/info', '/info', '/info')
  accepts(t, 'http://[::1]:2375/info', '/info', '/info')
  accepts(t, 'http://127.0.0.1:2375/v1.41/containers/json?all=1', '/v1.41/containers/json', '/v1.41/containers/json?all=1')
  accepts(t, 'http://docker/v1.41/secrets', '/v1.41/secrets', '/v1.41/secrets')
  accepts(t, 'http:/info', '/info', '/info') // no authority: path form
  accepts(t, 'http:///info', '/info', '/info') // empty authority
  accepts(t, 'http://docker/info#x', '/info#x', '/info#x')
  accepts(t, 'http://docker/', '/', '/')
  // forward is the raw, still-encoded origin form
  accepts(t, 'http://docker/%73ecrets', '/secrets', '/%73ecrets')
  accepts(t, 'http://docker/containers/a%252Fb/json?x=%2F', '/containers/a%2Fb/json', '/containers/a%252Fb/json?x=%2F')
  accepts(t, 'http://docker/v1.41/containers/x%2Flogs/json', '/v1.41/containers/x/logs/json', '/v1.41/containers/x%2Flogs/json')

  refuses(t, 'http://docker', /no path/)
  refuses(t, 'HTTP://docker', /no path/)
  refuses(t, 'http://docker?x=/info', /no path/)
  refuses(t, 'http:info', /no path/)
  refuses(t, 'http:', /no path/)
  // The host is dropped, never judged: Go accepts hosts RFC 3986 does not (the
  // conformance suite found dockerd running these), and only the path is forwarded.
  for (const host of ['do%25cker', 'caf\xe9', 'a<b>', '"h"', 'u%40x@docker']) {
    const target = deriveTarget(`http://${host}/info?x=1`)
    t.same(target, { ok: true, path: '/info', forward: '/info?x=1' }, `http://${host}/info: the path is /info`)
  }
  refuses(t, 'http://docker//info', NOT_CLEAN)
  refuses(t, 'http://docker/a/../secrets', NOT_CLEAN)
  refuses(t, 'http://docker/%2e%2e/secrets', NOT_CLEAN)
  refuses(t, 'http://docker/%zz', BAD_ESCAPE)
})

t.test('targets that are neither a path nor an absolute URL', async (t) => {
  for (const raw of ['*', 'foo', 'info', 'containers/json', '', '1http://x/info', ':/info', '-x:/info', '%2Finfo', '?x', '#/info', '.', './info', '../info']) {
    refuses(t, raw, /neither a path nor an absolute URL/)
  }
})

t.test('latin1: one character per byte', async (t) => {
  const ff = deriveTarget('/containers/%ff/json')
  t.same(ff, { ok: true, path: '/containers/\u00ff/json', forward: '/containers/%ff/json' }, '%ff is the byte 0xff')
  t.equal(ff.ok && ff.path.length, '/containers/x/json'.length, '%ff is one character')
  accepts(t, '/containers/%0a/json', '/containers/\n/json')
  accepts(t, '/containers/%0d/json', '/containers/\r/json')
  accepts(t, '/containers/a%0D%0Ab/json', '/containers/a\r\nb/json')
  accepts(t, '/containers/%00/json', '/containers/\u0000/json')
  accepts(t, '/containers/%c3%a9/json', '/containers/\u00c3\u00a9/json') // UTF-8 é, as two bytes
  accepts(t, '/containers/\u00e9/json', '/containers/\u00e9/json') // a raw latin1 byte
  accepts(t, '/containers/%E2%80%A8/json', '/containers/\u00e2\u0080\u00a8/json')
})

t.test('cleanPath is gorilla/mux cleanPath (Go path.Clean, trailing slash kept)', async (t) => {
  const cases: [string, string][] = [
    ['', '/'],
    ['/', '/'],
    ['a', '/a'],
    ['a/b/', '/a/b/'],
    ['/info', '/info'],
    ['/a/b/', '/a/b/'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/..', '/a'],
    ['/a/b/../', '/a/'],
    ['/..', '/'],
    ['/../', '/'],
    ['/../..', '/'],
    ['/.', '/'],
    ['/./', '/'],
    ['//', '/'],
    ['//a//b//', '/a/b/'],
    ['/a/...', '/a/...'],
    ['/a/..b', '/a/..b'],
    ['a/../..', '/'],
    ['/containers/x/../../secrets', '/secrets'],
    ['/a/b/c/../../d', '/a/d'],
  ]
  for (const [input, expected] of cases) t.equal(cleanPath(input), expected, `cleanPath(${JSON.stringify(input)})`)
})
