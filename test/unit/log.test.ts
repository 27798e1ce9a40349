// log.ts: the per-request line is written without pino's serialiser, so it must stay the
// line pino writes for the same fields (people and `dockmoat learn` parse it).
import t from 'tap'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

const LOG = path.resolve(import.meta.dirname, '../../src/log.ts')

const FIELDS = [
  { method: 'GET', path: '/_ping', route: 'GET /_ping', decision: 'allow', status: 200, bytes: 2, ms: 0.123, complete: true, client: '127.0.0.1' },
  { method: 'POST', path: '/containers/create?name=%22x%22', route: null, decision: 'allow', status: 201, bytes: 0, ms: 12, client: 'unix', cn: 'ci "runner"', profile: 'ci', subject: { image: 'alpine', cmd: ['sh', '-c', 'echo\t\u2028\\'] }, needs: ['ALLOW_BINDS'] },
  { method: 'GET', path: '/x', status: 0, ms: Number.NaN, skipped: undefined, infinite: Number.POSITIVE_INFINITY, nested: { deeper: [1, null, { a: 'b' }] } },
  {},
]

function lines(level: string): string[] {
  const script = `
    const { createLogger, logRequest } = await import(${JSON.stringify(LOG)})
    const log = createLogger(${JSON.stringify(level)})
    for (const fields of ${JSON.stringify(FIELDS, (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? `@${value}` : value))}) {
      const revived = JSON.parse(JSON.stringify(fields), (_k, v) => (typeof v === 'string' && v.startsWith('@') ? Number(v.slice(1)) : v))
      log.info(revived, 'request')
      logRequest(log, revived)
    }`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  if (run.status !== 0) throw new Error(run.stderr)
  return run.stdout.split('\n').filter((line) => line !== '').map((line) => line.replace(/"time":\d+/, '"time":0'))
}

t.test("logRequest writes pino's own line for the same fields", async (t) => {
  const written = lines('info')
  t.equal(written.length, FIELDS.length * 2, 'one line each way per set of fields')
  for (let i = 0; i < FIELDS.length; i++) {
    t.equal(written[2 * i + 1], written[2 * i], `fields ${i}`)
    t.equal(JSON.parse(written[2 * i]!).msg, 'request')
  }
})

t.test('logRequest writes nothing when LOG_LEVEL is above info', async (t) => {
  t.same(lines('warn'), [])
})
