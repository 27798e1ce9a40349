// What dockmoat can see of the ALLOW_BIND paths. dockerd follows symlinks in a bind
// source when it mounts it, and shows the unresolved path in inspect (body-facts §8), so
// a symlink inside an allowed path can lead anywhere. When the allowed paths are in
// dockmoat's own filesystem as the host has them (dockmoat runs on the host, or the
// operator mounts them into its container at the same paths), dockmoat resolves each
// source itself and refuses one that leaves the allowed tree.
import fs from './node-fs.ts'
import { posix } from 'node:path'
import { isWithin } from './go-path.ts'

export interface BindView {
  /** Roots resolved through symlinks: sources under them are resolved too. */
  visible: string[]
  /** Roots dockmoat cannot see as the host does: judged by their path only. */
  hidden: string[]
  /** What a resolved source must lie in: the visible roots resolved, the hidden as given. */
  roots: string[]
}

export function bindView(allowBind: readonly string[]): BindView {
  const view: BindView = { visible: [], hidden: [], roots: [] }
  // `/` allows every source, wherever its symlinks lead.
  if (allowBind.includes('/')) return view
  // dockerd's filesystem is ours when we run beside it (same mount namespace), or on a
  // host outside any container; inside a container, only what was mounted in.
  const sameAsDockerd = sharesDockerdMountNamespace()
  const inContainer = fs.existsSync('/.dockerenv') || fs.existsSync('/run/.containerenv')
  const mounted = sameAsDockerd || !inContainer ? [] : mountPoints()
  for (const root of allowBind) {
    let real: string | undefined
    try {
      const seen = sameAsDockerd || !inContainer || mounted.some((point) => isWithin(point, root))
      if (seen && fs.statSync(root).isDirectory()) real = fs.realpathSync(root)
    } catch {
      real = undefined
    }
    if (real === undefined) {
      view.hidden.push(root)
      view.roots.push(root)
    } else {
      view.visible.push(root)
      view.roots.push(real)
    }
  }
  return view
}

/** True when a `dockerd` process we can see has our mount namespace. */
function sharesDockerdMountNamespace(): boolean {
  try {
    const ours = fs.readlinkSync('/proc/self/ns/mnt')
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(pid)) continue
      try {
        if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'dockerd' && fs.readlinkSync(`/proc/${pid}/ns/mnt`) === ours) return true
      } catch {
        // gone, or not ours to read
      }
    }
  } catch {
    // no /proc
  }
  return false
}

/** Mount points of this mount namespace, other than `/` (so: what was mounted in). */
function mountPoints(): string[] {
  try {
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
      .map((line) => line.split(' ')[4])
      .filter((point): point is string => point !== undefined && point !== '/')
      .map((point) => point.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))))
  } catch {
    return []
  }
}

/** Each host path resolved, when it lies under a visible root; as it is otherwise. */
export function resolveHostPaths(view: BindView, paths: readonly string[]): Promise<(string | undefined)[]> {
  return Promise.all(paths.map((path) => (view.visible.some((root) => isWithin(root, path)) ? resolveHostPath(path) : path)))
}

/**
 * The path with every symlink resolved. Parts that do not exist yet (dockerd creates a
 * missing `Binds` source) are kept as written; a dangling symlink or an unreadable
 * directory gives undefined, as the path's target cannot be known.
 */
export async function resolveHostPath(path: string): Promise<string | undefined> {
  const rest: string[] = []
  let existing = path
  for (;;) {
    try {
      return posix.join(await fs.promises.realpath(existing), ...rest)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined
      // realpath's ENOENT may come from a symlink whose target is missing.
      const dangling = await fs.promises.lstat(existing).then(() => true, () => false)
      if (dangling || existing === '/') return undefined
      rest.unshift(posix.basename(existing))
      existing = posix.dirname(existing)
    }
  }
}
