// The authority of an absolute-form target (`GET http://host/_ping`): dockmoat drops it,
// but refuses one Go's url.Parse rejects, as dockerd answers that 400. deriveTarget's
// verdict on each authority is compared with the REAL dockerd's answer, both ways; the
// ones dockerd rejects also go through a running dockmoat, which must refuse them itself.
import t from 'tap'
import { requireDocker, DOCKER_SOCKET } from '../helpers/docker.ts'
import { startProxy } from '../helpers/proxy.ts'
import { exchange, fromDockerd, shown } from '../adversarial/raw.ts'
import { deriveTarget } from '../../src/target.ts'

await requireDocker()

const AUTHORITIES = [
  // hosts and ports
  'docker', 'DOCKER', '', '127.0.0.1:2375', 'docker:', 'docker:x', 'h:0', 'h:65536', 'h:-1', 'a:b', 'a:80:90', ':80',
  '[::1]', '[::1]:2375', '[::1]:', '[::1]:x', '[::1', '[::1]]', '[::1]x', '[v1.x]', 'x[y]', '[', ']',
  // bytes a host may hold raw, and those it may not
  'a<b>', '"h"', "a'b", 'a(b)', 'a*b', 'a+b', 'a,b', 'a;b', 'a=b', 'a!b', 'a$b', 'a&b', 'a~b', 'a_b', 'a-b', 'a.b',
  'caf\xe9', 'a{b', 'a|b', 'a^b', 'a`b', 'a\\b', 'a#b',
  // escapes: only of bytes from 0x80, and %25
  'do%25cker', 'caf%C3%A9', 'do%63ker', '%41', '%7F', '%80', 'a%20b', '%zz', 'a%', 'a%2', 'a%2g',
  // IPv6 zones (RFC 6874): escapes of what a host may hold raw, and a space
  '[::1%25eth0]', '[::1%25%65th0]', '[::1%25%20]', '[::1%25%C3%A9]', '[::1%25%7B]', '[::1%25a{]', '[::1%25%zz]', '[%41::1%25eth0]',
  // userinfo
  'u:p@docker', 'u@docker', '@docker', 'u@', 'a@b@c', 'u%40x@docker', 'u%zz@h', 'u\xe9@h', 'u{@h', 'u:p:q@h', 'u%41@h', 'u|@h', 'u:%@h',
]

/** dockerd's status for `GET http://<authority>/_ping` (200 routed, 400 refused by Go's url.Parse). */
async function dockerdStatus(authority: string): Promise<number | undefined> {
  const x = await exchange({ socketPath: DOCKER_SOCKET }, Buffer.from(`GET http://${authority}/_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`, 'latin1'))
  return x.responses[0]?.status
}

const proxy = await startProxy({ PING: '1' })
t.teardown(() => proxy.stop())

t.test('deriveTarget accepts an authority exactly when dockerd does', async (t) => {
  const seen = { routed: 0, refused: 0 }
  for (const authority of AUTHORITIES) {
    const status = await dockerdStatus(authority)
    t.ok(status === 200 || status === 400, `${JSON.stringify(authority)}: dockerd answers 200 or 400 (${status})`)
    const target = deriveTarget(`http://${authority}/_ping`)
    t.equal(target.ok, status === 200, `${JSON.stringify(authority)}: dockerd ${status}, dockmoat ${target.ok ? 'routes it' : `refuses: ${target.problem}`}`)
    seen[status === 200 ? 'routed' : 'refused']++
  }
  t.ok(seen.routed > 20 && seen.refused > 20, `both answers occur: ${JSON.stringify(seen)}`)
})

t.test('an authority dockerd rejects is refused by dockmoat, not forwarded', async (t) => {
  for (const authority of AUTHORITIES) {
    if (await dockerdStatus(authority) !== 400) continue
    const x = await exchange({ port: proxy.port }, Buffer.from(`GET http://${authority}/_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n`, 'latin1'))
    t.equal(x.responses[0]?.status, 400, `${JSON.stringify(authority)}: 400 (${shown(x)})`)
    t.same(fromDockerd(x), [], `${JSON.stringify(authority)}: nothing came from dockerd`)
  }
})
