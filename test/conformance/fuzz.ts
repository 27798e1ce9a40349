// Long-running differential fuzzing of dockmoat's classifier against the real dockerd.
//
//   node test/conformance/fuzz.ts [--seed N] [--count N] [--minutes N] [--concurrency N] [--start N]
//   npm run fuzz -- --minutes 30
//
// With --bodies it runs the body oracle instead (body-oracle.ts): generated container
// create, exec and volume bodies sent to dockerd, what dockerd applied compared with what
// dockmoat's body guard decodes.
//
//   npm run fuzz -- --bodies --minutes 5
//
// With no --seed a random one is chosen. The seed is printed at the start and with every
// failure; `--seed S --start I --count 1` (with --bodies for a body) replays case #I
// alone. Without --count and --minutes it runs 100,000 cases (10,000 bodies). Exit
// status: 0 when dockmoat agreed with dockerd on every case, 1 when any failure was
// found, 2 on bad arguments or no dockerd.

import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { requireDocker } from '../helpers/docker.ts'
import { caseAt, type Case } from './generator.ts'
import { describe, runAll, summary } from './compare.ts'
import { bodyCaseAt, type BodyCase } from './body-generator.ts'
import { BodyOracle, bodySummary, describeBody, runBodies } from './body-oracle.ts'

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: node test/conformance/fuzz.ts [--bodies] [--seed N] [--count N] [--minutes N] [--concurrency N] [--start N]\n`)
  process.exit(2)
}

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value)) usage(`--${name} must be a whole number, not ${JSON.stringify(value)}`)
  return Number(value)
}

let parsed
try {
  parsed = parseArgs({
    options: {
      seed: { type: 'string' },
      count: { type: 'string' },
      minutes: { type: 'string' },
      concurrency: { type: 'string' },
      start: { type: 'string' },
      bodies: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values
} catch (error) {
  usage((error as Error).message)
}
if (parsed.help) usage('Differential fuzzing of dockmoat against the real dockerd.')

const seed = integer('seed', parsed.seed, randomInt(0, 2 ** 32 - 1)) >>> 0
const minutes = parsed.minutes === undefined ? undefined : Number(parsed.minutes)
if (minutes !== undefined && !(minutes > 0)) usage('--minutes must be a positive number')
const bodies = parsed.bodies === true
const count = integer('count', parsed.count, minutes === undefined ? (bodies ? 10_000 : 100_000) : Number.MAX_SAFE_INTEGER)
const start = integer('start', parsed.start, 0)
const concurrency = integer('concurrency', parsed.concurrency, bodies ? 4 : 8)

try {
  await requireDocker()
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`)
  process.exit(2)
}

if (bodies) process.exit(await fuzzBodies())

/** The body oracle with this seed; resolves to the exit status. */
async function fuzzBodies(): Promise<number> {
  const oracle = await BodyOracle.open()
  let stop = false
  const interrupted = (): void => {
    if (stop) process.exit(130)
    stop = true
    process.stdout.write('\ninterrupted: finishing the bodies in flight and removing what the oracle created (again to quit at once)\n')
  }
  process.on('SIGINT', interrupted)
  process.on('SIGTERM', interrupted)
  try {
    process.stdout.write(`dockmoat body oracle fuzz: seed ${seed}, ${minutes !== undefined ? `${minutes} min` : `${count} bodies`} from #${start}, ${concurrency} in flight, objects named ${oracle.names.prefix}*\n`)
    process.stdout.write(`replay one body with: node test/conformance/fuzz.ts --bodies --seed ${seed} --start N --count 1\n`)
    const deadline = minutes === undefined ? Infinity : Date.now() + minutes * 60_000
    function* source(): Generator<BodyCase> {
      for (let i = start; i < start + count && Date.now() < deadline && !stop; i++) yield bodyCaseAt(seed, i, oracle.names)
    }
    let done = 0
    let lastReport = Date.now()
    let printed = 0
    const stats = await runBodies(oracle, source(), {
      concurrency,
      keep: 1000,
      shouldStop: () => stop,
      onOutcome(o) {
        done++
        if (o.kind === 'disagreement' && printed < 50) {
          printed++
          process.stdout.write(`\nDISAGREEMENT (seed ${seed}, body #${o.c.index}):\n${describeBody(o, seed)}\n`)
        }
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now()
          process.stdout.write(`  ... ${done} bodies, seed ${seed}\n`)
        }
      },
    })
    process.stdout.write(`\n${bodySummary(stats)}\n`)
    if (stats.disagreementCount > 0) {
      process.stdout.write(`\n${stats.disagreementCount} DISAGREEMENTS with seed ${seed}: bodies #${stats.disagreements.map((o) => o.c.index).join(', #')}\n`)
      process.stdout.write(`\nseed ${seed}: FAILED\n`)
      return 1
    }
    process.stdout.write(`seed ${seed}: dockerd applied what dockmoat's guard decodes for all ${stats.total} bodies\n`)
    return 0
  } finally {
    await oracle.close()
  }
}

process.stdout.write(`dockmoat conformance fuzz: seed ${seed}, ${minutes !== undefined ? `${minutes} min` : `${count} cases`} from #${start}, ${concurrency} connections\n`)
process.stdout.write(`replay one case with: node test/conformance/fuzz.ts --seed ${seed} --start N --count 1\n`)

const deadline = minutes === undefined ? Infinity : Date.now() + minutes * 60_000
function* source(): Generator<Case> {
  for (let i = start; i < start + count && Date.now() < deadline; i++) yield caseAt(seed, i)
}

let done = 0
let lastReport = Date.now()
let printed = 0
const stats = await runAll(source(), {
  concurrency,
  keep: 1000,
  onOutcome(o) {
    done++
    if (o.judgement.failure && printed < 50) {
      printed++
      process.stdout.write(`\nFAILURE (seed ${seed}, case #${o.c.index}):\n${describe(o, seed)}\n`)
    }
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now()
      process.stdout.write(`  ... ${done} cases, seed ${seed}\n`)
    }
  },
})

process.stdout.write(`\n${summary(stats)}\n`)
if (stats.failureCount > 0) {
  process.stdout.write(`\n${stats.failureCount} FAILURES with seed ${seed}, grouped:\n`)
  for (const [key, { count, example }] of [...stats.groups.entries()].sort((a, b) => b[1].count - a[1].count)) {
    process.stdout.write(`  ${String(count).padStart(6)}  ${key}   e.g. case #${example.c.index}\n`)
  }
  process.stdout.write(`\nseed ${seed}: FAILED\n`)
  process.exit(1)
}
process.stdout.write(`seed ${seed}: dockmoat agreed with dockerd on all ${stats.total} cases\n`)
