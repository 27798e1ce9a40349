// `npm test`'s runner: runs tap with its output passed through untouched and, when
// something failed, repeats each failing assertion at the end with the subtests it sits in
// and its diagnostics. A CI log is often read from its tail, and tap's TAP output puts a
// failure somewhere among ~28,000 passing lines.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

interface Failure { path: string[]; line: string; diagnostics: string[] }

const tap = spawn('tap', process.argv.slice(2), { stdio: ['inherit', 'pipe', 'inherit'] })
const exited = new Promise<number>((resolve) =>
  tap.on('exit', (exitCode) => resolve(exitCode ?? 1)))
const subtests: string[] = []
const failuresBefore: number[] = [] // failures.length when each open subtest began
const failures: Failure[] = []
// The failure whose YAML diagnostics (`---` … `...`, right after its line) are being read.
let reading: { failure: Failure; started: boolean } | undefined

for await (const line of createInterface({ input: tap.stdout })) {
  process.stdout.write(line + '\n')
  const text = line.trimStart()
  if (reading && !reading.started && text === '---') { reading.started = true; continue }
  if (reading?.started) {
    if (text === '...') reading = undefined
    else if (reading.failure.diagnostics.length < 20) reading.failure.diagnostics.push(text)
    continue
  }
  reading = undefined
  const depth = Math.floor((line.length - text.length) / 4)
  if (text.startsWith('# Subtest: ')) {
    subtests.length = depth
    subtests[depth] = text.slice('# Subtest: '.length)
    failuresBefore[depth] = failures.length
  } else if (text.startsWith('not ok ')) {
    const failure = { path: subtests.slice(0, depth), line: text, diagnostics: [] }
    // A subtest ends with its own `not ok` at the depth its `# Subtest:` line had: when a
    // failure inside it is already kept, that line only repeats it.
    const name = text.replace(/^not ok \d+ - /, '')
    const endsSubtest = subtests[depth] !== undefined && name.startsWith(subtests[depth]!)
    if (!(endsSubtest && failures.length > failuresBefore[depth]!)) failures.push(failure)
    reading = { failure, started: false }
  }
}
const code = await exited

if (failures.length > 0) {
  process.stdout.write(`\n# ${failures.length} failing assertion(s):\n`)
  for (const failure of failures) {
    process.stdout.write(`\n# ${[...failure.path, failure.line].join('\n#   > ')}\n`)
    for (const diagnostic of failure.diagnostics) process.stdout.write(`#   ${diagnostic}\n`)
  }
}
process.exitCode = code
