// Readers for /proc: CPU time, resident memory and command line of a process, the process
// that listens on a TCP port, the dockerd process, and a description of the machine.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'

let clockTicks: number | undefined
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** User + system CPU seconds of a process (from /proc/<pid>/stat), or undefined when it is gone. */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return (utime + stime) / ticksPerSecond()
  } catch {
    return undefined
  }
}

/** A process's command line as the kernel has it (/proc/<pid>/cmdline), or undefined when it is gone. */
export function commandLine(pid: number | undefined): string[] | undefined {
  if (pid === undefined) return undefined
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((arg) => arg !== '')
  } catch {
    return undefined
  }
}

/** Resident set size in MiB (VmRSS from /proc/<pid>/status), or undefined when it is gone. */
export function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1')
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return match === null ? undefined : Number(match[1]) / 1024
  } catch {
    return undefined
  }
}

/** CPU seconds this process (the load generator) has used so far. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

export function dockerdPid(): number | undefined {
  for (const file of ['/var/run/docker.pid', '/run/docker.pid']) {
    try {
      const pid = Number(fs.readFileSync(file, 'utf8').trim())
      if (pid > 0 && fs.existsSync(`/proc/${pid}`)) return pid
    } catch {
      // try the next one
    }
  }
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'dockerd') return Number(entry)
    } catch {
      // process ended while we looked
    }
  }
  return undefined
}

/** The process holding a listening TCP socket on this port (any address), via socket inodes. */
export function listeningPid(port: number): number | undefined {
  const inodes = new Set<string>()
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = fs.readFileSync(table, 'latin1')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      const local = fields[1]!
      if (fields[3] === '0A' && local.endsWith(':' + hexPort)) inodes.add(fields[9]!)
    }
  }
  if (inodes.size === 0) return undefined
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let fds: string[]
    try {
      fds = fs.readdirSync(`/proc/${entry}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        const link = fs.readlinkSync(`/proc/${entry}/fd/${fd}`)
        const match = /^socket:\[(\d+)\]$/.exec(link)
        if (match !== null && inodes.has(match[1]!)) return Number(entry)
      } catch {
        // fd closed while we looked
      }
    }
  }
  return undefined
}

function firstLine(file: string, pattern: RegExp): string | undefined {
  try {
    const match = pattern.exec(fs.readFileSync(file, 'utf8'))
    return match?.[1]?.trim()
  } catch {
    return undefined
  }
}

export interface Machine {
  cpuModel: string
  cores: number
  memoryGiB: number
  kernel: string
  os: string
  node: string
  loadAverageAtStart: number[]
}

export function machine(): Machine {
  return {
    cpuModel: firstLine('/proc/cpuinfo', /^model name\s*:\s*(.+)$/m) ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    os: firstLine('/etc/os-release', /^PRETTY_NAME="?([^"\n]+)"?$/m) ?? os.type(),
    node: process.version,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
  }
}
