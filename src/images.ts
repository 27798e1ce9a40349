// ALLOW_IMAGES and ALLOW_NAMES patterns: which image references a client may pull, run,
// push, tag, commit or build to, and which names it may give containers. Image references are
// compared in the form dockerd resolves them to (distribution/reference
// ParseNormalizedNamed): `busybox` is `docker.io/library/busybox`, `team/app:1` is
// `docker.io/team/app` with tag `1`.

/** A reference split as dockerd reads it; `id` when it could name an image by its ID. */
export interface ImageName { repository: string; tag: string | undefined; digest: string | undefined; id: boolean }

export function normalizeImage(reference: string): ImageName {
  const at = reference.indexOf('@')
  const digest = at === -1 ? undefined : reference.slice(at + 1)
  const named = at === -1 ? reference : reference.slice(0, at)
  const slash = named.lastIndexOf('/')
  const colon = named.lastIndexOf(':')
  const tag = colon > slash ? named.slice(colon + 1) : undefined
  const path = colon > slash ? named.slice(0, colon) : named
  const first = path.split('/')[0]!
  const hasDomain = path.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
  const repository = hasDomain ? path : path.includes('/') ? `docker.io/${path}` : `docker.io/library/${path}`
  // daemon/images GetImage: a reference that is not found by name is tried as an ID
  // prefix, so any all-hex reference may name another image than the one it spells.
  const id = /^(sha256:)?[0-9a-f]+$/.test(reference)
  return { repository: repository.replace(/^index\.docker\.io\//, 'docker.io/'), tag, digest, id }
}

export interface ImagePattern { repository: RegExp; tag: string | undefined; digest: string | undefined; text: string }

/** `registry.example.com/team/*` (any repository below, any tag), `busybox` (any tag), `busybox:1.36`, `busybox@sha256:...`. */
export function imagePattern(text: string): ImagePattern {
  const name = normalizeImage(text)
  return { repository: globToRegExp(name.repository), tag: name.tag, digest: name.digest, text }
}

export function imageAllowed(patterns: readonly ImagePattern[], reference: string): boolean {
  const name = normalizeImage(reference)
  if (name.id) return false
  return patterns.some((p) => p.repository.test(name.repository) && versionAllowed(p, name))
}

/**
 * dockerd resolves `repo:tag@digest` by the digest alone, so a pinned tag allows no
 * digest (which can name any manifest of the repository); a pinned digest allows only itself.
 */
function versionAllowed(pattern: ImagePattern, name: ImageName): boolean {
  if (pattern.digest !== undefined) return name.digest === pattern.digest
  if (pattern.tag === undefined) return true
  return name.digest === undefined && pattern.tag === (name.tag ?? 'latest')
}

/** `*` any run of characters (`/` included), `?` one; everything else literal. */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$')
}
