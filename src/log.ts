// pino, writing to stdout once per event-loop turn: every line logged during a turn goes
// out in one synchronous write right after it. Lines stay prompt (no timer), the write
// syscall is shared by all requests of a turn, and nothing waits on the thread pool.
import { pino, type Logger } from 'pino'
import type { LogLevel } from './settings.ts'

export function createLogger(level: LogLevel): Logger {
  const stdout = pino.destination({ dest: 1, sync: true })
  let pending: string[] = []
  const flush = (): void => {
    if (pending.length === 0) return
    const text = pending.join('')
    pending = []
    stdout.write(text)
  }
  process.on('exit', flush)
  return pino({ name: 'dockmoat', level }, {
    write(line: string) {
      if (pending.push(line) === 1) setImmediate(flush)
    },
  })
}
