// Go's path.Clean (lexical: `..` at the root stays at the root, `//x//` is `/x`), which
// dockerd applies to every bind source, and the by-segment containment test the guard
// uses on top of it.

export function goPathClean(path: string): string {
  if (path === '') return '.'
  const rooted = path.startsWith('/')
  const parts: string[] = []
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop()
      else if (!rooted) parts.push('..')
    } else {
      parts.push(segment)
    }
  }
  const joined = parts.join('/')
  return rooted ? '/' + joined : joined === '' ? '.' : joined
}

/** `/srv/app` holds `/srv/app` and `/srv/app/x`, not `/srv/application`; `/` holds all. */
export function isWithin(root: string, path: string): boolean {
  return root === '/' || path === root || path.startsWith(root + '/')
}
