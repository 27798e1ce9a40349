// Containers and volumes the workloads need, made with the real docker CLI straight against
// dockerd (never through a proxy), named uniquely, labelled with the run, and all removed at
// the end (also the containers a workload made through a target, which carry the label too).
import { cleanup, docker, testImage, uniqueName, DOCKER_DIRECT_HOST } from '../test/helpers/docker.ts'

export const RUN_LABEL = 'org.dockmoat.bench'

export interface Made {
  name: string
  id: string
}

export class Fixtures {
  readonly runId: string
  readonly names: string[] = []
  readonly volumes: string[] = []
  image = ''
  private closing = false
  private readonly inFlight = new Set<Promise<unknown>>()

  constructor(runId: string) {
    this.runId = runId
  }

  async prepare(): Promise<void> {
    this.image = await testImage()
  }

  /** `host`: the DOCKER_HOST the CLI makes it through (a proxy); the name is listed first, so it is removed whatever the answer. */
  private async make(verb: 'run' | 'create', prefix: string, command: string[], extra: string[] = [], host = DOCKER_DIRECT_HOST): Promise<Made> {
    const name = uniqueName(`bench-${prefix}`)
    this.names.push(name)
    const args = verb === 'run' ? ['run', '-d'] : ['create']
    const result = await docker([...args, '--name', name, '--label', `${RUN_LABEL}=${this.runId}`, '--network', 'none', ...extra, this.image, ...command], { host, timeoutMs: 60_000 })
    if (result.code !== 0) throw new Error(`docker ${verb} ${name} failed (exit ${result.code}): ${result.stderr.trim()}`)
    return { name, id: result.stdout.trim().split('\n').pop()!.trim() }
  }

  /** A running container that sleeps for an hour; `host`: made through that DOCKER_HOST instead of directly. */
  running(prefix: string, host?: string): Promise<Made> {
    return this.make('run', prefix, ['sleep', '3600'], [], host)
  }

  /** A created (not started) container. */
  created(prefix: string): Promise<Made> {
    return this.make('create', prefix, ['sleep', '3600'])
  }

  /** Many running containers, a few at a time. */
  async manyRunning(prefix: string, count: number, parallel = 4, host?: string): Promise<Made[]> {
    const made: Made[] = []
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < count && this.open) {
        next++
        made.push(await this.running(prefix, host))
      }
    }
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker))
    return made
  }

  /** A named volume (local driver). */
  async volume(prefix: string): Promise<string> {
    const name = uniqueName(`bench-${prefix}`)
    this.volumes.push(name)
    const result = await docker(['volume', 'create', '--label', `${RUN_LABEL}=${this.runId}`, name], { host: DOCKER_DIRECT_HOST, timeoutMs: 60_000 })
    if (result.code !== 0) throw new Error(`docker volume create ${name} failed (exit ${result.code}): ${result.stderr.trim()}`)
    return name
  }

  async exec(container: string, command: string[], timeoutMs = 120_000): Promise<string> {
    const result = await docker(['exec', container, ...command], { host: DOCKER_DIRECT_HOST, timeoutMs })
    if (result.code !== 0) throw new Error(`docker exec ${container} ${command.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`)
    return result.stdout
  }

  async remove(names: string[]): Promise<void> {
    for (let i = 0; i < names.length; i += 20) await cleanup('container', names.slice(i, i + 20))
  }

  /** False once removeAll has begun (an interrupted run): workloads then make nothing new. */
  get open(): boolean {
    return !this.closing
  }

  /**
   * Work that may make containers outside these lists (a create through a target):
   * removeAll waits for it (up to `settleMs`) before it looks for what is left.
   */
  track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work)
    const forget = (): void => { this.inFlight.delete(work) }
    work.then(forget, forget)
    return work
  }

  /**
   * Removes every container and volume this run made (and only those), also any the lists
   * missed; containers first, since a volume in use cannot be removed.
   */
  async removeAll(settleMs = 30_000): Promise<void> {
    this.closing = true
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => { timer = setTimeout(resolve, settleMs) })])
      clearTimeout(timer)
    }
    await this.remove(this.names)
    const left = await docker(['ps', '-aq', '--filter', `label=${RUN_LABEL}=${this.runId}`], { host: DOCKER_DIRECT_HOST, timeoutMs: 30_000 })
    const ids = left.stdout.split('\n').map((s) => s.trim()).filter(Boolean)
    if (ids.length > 0) await this.remove(ids)
    await cleanup('volume', this.volumes)
    const volumes = await docker(['volume', 'ls', '-q', '--filter', `label=${RUN_LABEL}=${this.runId}`], { host: DOCKER_DIRECT_HOST, timeoutMs: 30_000 })
    const leftVolumes = volumes.stdout.split('\n').map((s) => s.trim()).filter(Boolean)
    if (leftVolumes.length > 0) await cleanup('volume', leftVolumes)
  }
}
