// A request body as a JSON syntax tree: every member of an object in document order,
// duplicates kept, numbers as their raw text. Go's encoding/json acts on exactly that
// (last key wins, duplicate objects merge); JSON.parse would already have thrown it away.
//
// Hand-written because the libraries that keep duplicates are far too slow for a proxy:
// momoa took 6.8 s and 1.9 GB for a 4 MiB array (found by the adversarial suite). Given
// the Go type the body decodes into, only what that type declares is built; the rest is
// checked for syntax and dropped (Go ignores unknown keys too), so a body padded with
// megabytes under a key dockerd ignores costs no memory. Strict RFC 8259, as Go's scanner
// is: no BOM, no comments, no trailing commas, no raw control characters in strings,
// only space/tab/LF/CR as whitespace, nothing but whitespace after the value.
import { lookup, type GoType } from './go-types.ts'

export type JsonNode =
  | { kind: 'object'; members: { key: string; value: JsonNode }[] }
  | { kind: 'array'; items: JsonNode[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; raw: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }

export type Parsed = { ok: true; node: JsonNode } | { ok: false; problem: string }

/** Deeper than anything dockerd's structs hold; Go's own limit is 10000. */
export const MAX_DEPTH = 1000

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y
const PLAIN = /[^"\\\u0000-\u001f]*/y
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }
const TRUE: JsonNode = { kind: 'bool', value: true }
const FALSE: JsonNode = { kind: 'bool', value: false }
const NULL: JsonNode = { kind: 'null' }

class JsonError extends Error {}

// What to build of a value: everything, nothing (syntax only), or what a Go type declares.
type Want = GoType | typeof WHOLE | typeof NOTHING
const WHOLE = Symbol('whole')
const NOTHING = Symbol('nothing')
/** Stands for a value that was checked and not built. */
const SKIPPED: JsonNode = { kind: 'null' }

function elementWant(want: Want, container: 'object' | 'array'): Want {
  if (typeof want === 'symbol') return want
  if (container === 'array') return want.kind === 'slice' ? want.of : want.kind === 'strslice' ? { kind: 'string' } : NOTHING
  return want.kind === 'map' ? want.of : NOTHING
}

/**
 * With `shape`, members and elements the Go type does not declare are left out of the
 * tree (still checked); a value of the wrong kind keeps only its kind, for the decoder's
 * type error. Without it, the whole tree.
 */
export function parseJson(bytes: Uint8Array, shape?: GoType): Parsed {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    // Go would replace each bad byte with U+FFFD; nothing a client needs sends them.
    return { ok: false, problem: 'the body is not valid UTF-8' }
  }
  try {
    const parser = new Parser(text)
    const node = parser.value(0, shape === undefined ? WHOLE : shape)
    parser.whitespace()
    if (parser.at < text.length) parser.fail('data after the JSON value')
    return { ok: true, node }
  } catch (error) {
    if (!(error instanceof JsonError)) throw error
    return { ok: false, problem: `the body is not valid JSON: ${error.message}` }
  }
}

class Parser {
  at = 0
  readonly text: string
  constructor(text: string) {
    this.text = text
  }

  fail(what: string): never {
    throw new JsonError(`${what} at offset ${this.at}`)
  }

  whitespace(): void {
    const text = this.text
    let at = this.at
    for (;;) {
      const c = text.charCodeAt(at)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) at++
      else break
    }
    this.at = at
  }

  value(depth: number, want: Want): JsonNode {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`)
    this.whitespace()
    const c = this.text[this.at]
    switch (c) {
      case '{': return this.object(depth, want)
      case '[': return this.array(depth, want)
      case '"': {
        const value = this.string()
        return want === NOTHING ? SKIPPED : { kind: 'string', value }
      }
      case 't': return this.literal('true', TRUE)
      case 'f': return this.literal('false', FALSE)
      case 'n': return this.literal('null', NULL)
      default: {
        NUMBER.lastIndex = this.at
        const match = NUMBER.exec(this.text)
        if (match === null) this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`)
        this.at += match[0].length
        return want === NOTHING ? SKIPPED : { kind: 'number', raw: match[0] }
      }
    }
  }

  literal(word: string, node: JsonNode): JsonNode {
    if (!this.text.startsWith(word, this.at)) this.fail('unexpected literal')
    this.at += word.length
    return node
  }

  object(depth: number, want: Want): JsonNode {
    this.at++
    const members: { key: string; value: JsonNode }[] = []
    const struct = typeof want === 'symbol' ? undefined : want.kind === 'struct' ? want.struct : want.kind === 'pointer' ? want.to : undefined
    const each = elementWant(want, 'object')
    this.whitespace()
    if (this.text[this.at] === '}') {
      this.at++
      return { kind: 'object', members }
    }
    for (;;) {
      this.whitespace()
      if (this.text[this.at] !== '"') this.fail('expected a string key')
      const key = this.string()
      this.whitespace()
      if (this.text[this.at] !== ':') this.fail('expected ":"')
      this.at++
      if (struct !== undefined) {
        const field = lookup(struct, key)
        const value = this.value(depth + 1, field === undefined ? NOTHING : field.type)
        if (field !== undefined) members.push({ key, value })
      } else {
        const value = this.value(depth + 1, each)
        if (each !== NOTHING) members.push({ key, value })
      }
      this.whitespace()
      const next = this.text[this.at++]
      if (next === '}') return { kind: 'object', members }
      if (next !== ',') this.fail('expected "," or "}"')
    }
  }

  array(depth: number, want: Want): JsonNode {
    this.at++
    const items: JsonNode[] = []
    const each = elementWant(want, 'array')
    this.whitespace()
    if (this.text[this.at] === ']') {
      this.at++
      return { kind: 'array', items }
    }
    for (;;) {
      const item = this.value(depth + 1, each)
      if (each !== NOTHING) items.push(item)
      this.whitespace()
      const next = this.text[this.at++]
      if (next === ']') return { kind: 'array', items }
      if (next !== ',') this.fail('expected "," or "]"')
    }
  }

  string(): string {
    const text = this.text
    this.at++
    let out = ''
    for (;;) {
      PLAIN.lastIndex = this.at
      const run = PLAIN.exec(text)![0]
      out += run
      this.at += run.length
      const c = text[this.at]
      if (c === '"') {
        this.at++
        // `\ud800` alone: Go decodes it to U+FFFD, JavaScript keeps half a character.
        // Refused rather than guessed at.
        if (!out.isWellFormed()) this.fail('a lone surrogate escape in a string')
        return out
      }
      if (c === undefined) this.fail('unterminated string')
      if (c !== '\\') this.fail('a raw control character in a string')
      const e = text[this.at + 1]
      if (e === 'u') {
        const hex = text.slice(this.at + 2, this.at + 6)
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('a bad \\u escape')
        out += String.fromCharCode(Number.parseInt(hex, 16))
        this.at += 6
      } else {
        const escaped = e === undefined ? undefined : ESCAPES[e]
        if (escaped === undefined) this.fail('a bad escape')
        out += escaped
        this.at += 2
      }
    }
  }
}
