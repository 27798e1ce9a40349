// The README's env table, its benchmark table and its `dockmoat check` example come from
// the code and the committed results; this fails when any drifts (`npm run readme`
// regenerates the tables).
import t from 'tap'
import fs from 'node:fs'
import { withGeneratedBlocks } from '../../scripts/readme.ts'
import { parseConfig, SETTINGS, TOGGLES } from '../../src/settings.ts'
import { decide } from '../../src/policy.ts'

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
