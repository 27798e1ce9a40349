// The README's env table, its benchmark table and its `dockmoat check` example come from
// the code and the committed results; this fails when any drifts (`npm run readme`
// regenerates the tables).
import t from 'tap'
import fs from 'node:fs'
import { withGeneratedBlocks } from '../../scripts/readme.ts'
import { parseConfig, SETTINGS, TOGGLES } from '../../src/settings.ts'
import { decide } from '../../src/policy.ts'
import { parsePolicy } from '../../src/policy-file.ts'
import { profileConfig, selectProfile } from '../../src/profiles.ts'

const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('the env and benchmark tables are the ones generated from their sources', async (t) => {
  t.equal(readme, withGeneratedBlocks(readme), 'README.md is out of date: run `npm run readme`')
  for (const name of [...TOGGLES.map((x) => x.name), ...SETTINGS.map((x) => x.name)]) {
    t.match(readme, `| \`${name}\` |`, `${name} has a row`)
  }
})

t.test('the check example prints what dockmoat check prints', async (t) => {
  const example = /\$ (\S+=\S+) dockmoat check (\S+) (\S+)\n(.+)\n/.exec(readme)
  t.ok(example, 'README has a `dockmoat check` example')
  const [, assignment, method, path, printed] = example!
  const [name, value] = assignment!.split('=')
  const decision = decide(method!, path!, parseConfig({ [name!]: value }).grants)
  t.equal(printed, `${decision.allow ? 'allowed' : 'refused'}: ${decision.reason}`)
})

t.test('the policy file example is one dockmoat accepts, and means what the text says', async (t) => {
  const example = /```yaml\n(# \/etc\/dockmoat\/policy\.yaml[\s\S]*?)```/.exec(readme)
  t.ok(example, 'the README has the policy file example')
  const policy = parsePolicy(example?.[1] ?? '', 'README.md')
  t.same(policy.profiles.map((p) => p.name), ['admins', 'developers', 'traefik', 'everyone-else'], 'its profiles')
  const environment = parseConfig({})
  const configFor = (cn: string) => {
    const who = { listener: 'tls', address: '192.0.2.1', cn }
    const profile = selectProfile(policy, who)
    const config = profile === undefined ? 'no profile' : profileConfig(profile, who, environment)
    if (typeof config === 'string') throw new Error(config)
    return { profile: profile!.name, config }
  }
  const bob = configFor('dev-bob')
  t.equal(bob.profile, 'developers', 'dev-bob is a developer')
  t.same(bob.config.allowBind, ['/home/dev-bob'], 'binding only from his home directory')
  t.equal(bob.config.owner?.id, 'dev-bob', 'owning what he creates')
  t.equal(configFor('root-ops').profile, 'admins', 'root-ops is an admin')
  const carol = configFor('carol')
  t.equal(carol.profile, 'everyone-else', 'any other verified client')
  t.notOk(decide('POST', '/containers/create', carol.config.grants).allow, 'is read-only')
})
