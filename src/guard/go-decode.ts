// Go's encoding/json, as far as dockerd's bodies need it, over a syntax tree that kept
// every duplicate key (json.ts). The rules mirrored, all from go1.19 decode.go/fold.go:
// - a key matches a field by exact name, else case-insensitively with Go's fold: ASCII
//   letters, plus `ſ` (U+017F) = s and `K` (U+212A, Kelvin) = k, and nothing else;
// - keys are applied in document order, so the last one wins;
// - an object decoded into a struct or a non-nil struct pointer merges into it; into a
//   map it keeps the entries already there;
// - an array decoded into a slice writes into the elements already in its backing
//   array (a second `Mounts` merges into the first one's structs), as reflect does;
// - `null` leaves a bool, string, number or struct as it was, and sets a slice, map
//   or pointer to nil;
// - a value of the wrong type is an error (dockerd then fails the request), and
//   decoding goes on; unknown keys are ignored.
import type { JsonNode } from './json.ts'
import { lookup, type GoStruct, type GoType } from './go-types.ts'

/** A decoded Go value, in the shape the guard reads: slices as arrays, maps as Maps. */
export type GoValue = boolean | string | number | GoValue[] | Map<string, GoValue> | GoObject | null
export interface GoObject { [field: string]: GoValue | undefined }

/** A slice while it is decoded: reflect keeps a backing array longer than the slice. */
class Slice {
  backing: Working[]
  length: number
  constructor(backing: Working[], length: number) {
    this.backing = backing
    this.length = length
  }
}
type Working = boolean | string | number | Slice | Map<string, Working> | WorkingObject | null
interface WorkingObject { [field: string]: Working | undefined }

export interface Decoded { value: GoObject; error?: string }

/** Decodes a whole body into `root` as `json.NewDecoder(body).Decode(&root)` would. */
export function decodeGo(root: GoStruct, node: JsonNode): Decoded {
  const errors: string[] = []
  const value: WorkingObject = {}
  if (node.kind === 'object') decodeStruct(root, node, value, root.name, errors)
  else if (node.kind !== 'null') errors.push(`the body is ${article(node.kind)}, not an object`)
  const decoded: Decoded = { value: plain(value) as GoObject }
  if (errors.length > 0) decoded.error = errors[0]!
  return decoded
}

function decodeStruct(struct: GoStruct, node: JsonNode & { kind: 'object' }, into: WorkingObject, path: string, errors: string[]): void {
  for (const { key, value } of node.members) {
    const field = lookup(struct, key)
    if (field === undefined) continue
    let holder = into
    if (field.via !== undefined) {
      // An embedded struct pointer is allocated as soon as a key reaches into it.
      holder = (into[field.via] ??= {}) as WorkingObject
    }
    holder[field.name] = decode(field.type, value, holder[field.name] ?? zero(field.type), `${path}.${field.name}`, errors)
  }
}

function decode(type: GoType, node: JsonNode, current: Working, path: string, errors: string[]): Working {
  const mismatch = (): Working => {
    errors.push(`${path} must be ${expected(type)}, not ${article(node.kind)}`)
    return current
  }
  switch (type.kind) {
    case 'bool':
      if (node.kind === 'null') return current
      return node.kind === 'bool' ? node.value : mismatch()
    case 'string':
      if (node.kind === 'null') return current
      return node.kind === 'string' ? node.value : mismatch()
    case 'int': {
      if (node.kind === 'null') return current
      if (node.kind !== 'number') return mismatch()
      // strconv.ParseInt(raw, 10, 64): no fraction, no exponent, no overflow.
      if (!/^-?(0|[1-9][0-9]*)$/.test(node.raw) || BigInt(node.raw) > 2n ** 63n - 1n || BigInt(node.raw) < -(2n ** 63n)) {
        errors.push(`${path} must be a 64-bit integer, not ${node.raw}`)
        return current
      }
      return Number(node.raw)
    }
    case 'strslice': {
      // strslice.StrSlice.UnmarshalJSON decodes a fresh []string, or else one string.
      if (node.kind === 'null') return null
      if (node.kind === 'string') return new Slice([node.value], 1)
      if (node.kind !== 'array') return mismatch()
      const items: Working[] = []
      for (const item of node.items) {
        if (item.kind === 'string') items.push(item.value)
        else if (item.kind === 'null') items.push('')
        else return mismatch()
      }
      return new Slice(items, items.length)
    }
    case 'slice': {
      if (node.kind === 'null') return null
      if (node.kind !== 'array') return mismatch()
      let slice = current instanceof Slice ? current : new Slice([], 0)
      let i = 0
      for (const item of node.items) {
        if (i >= slice.backing.length) {
          // reflect.MakeSlice(len, cap+cap/2 or 4) + reflect.Copy: new elements are zero.
          const capacity = Math.max(4, slice.backing.length + Math.floor(slice.backing.length / 2))
          const backing = slice.backing.slice(0, slice.length)
          while (backing.length < capacity) backing.push(zero(type.of))
          slice = new Slice(backing, slice.length)
        }
        if (i >= slice.length) slice.length = i + 1
        slice.backing[i] = decode(type.of, item, slice.backing[i]!, `${path}[${i}]`, errors)
        i++
      }
      if (i < slice.length) slice.length = i
      return i === 0 ? new Slice([], 0) : slice
    }
    case 'map': {
      if (node.kind === 'null') return null
      if (node.kind !== 'object') return mismatch()
      const map = current instanceof Map ? current : new Map<string, Working>()
      for (const { key, value } of node.members) map.set(key, decode(type.of, value, zero(type.of), `${path}[${JSON.stringify(key)}]`, errors))
      return map
    }
    case 'pointer': {
      if (node.kind === 'null') return null
      if (node.kind !== 'object') return mismatch()
      const object = (current ?? {}) as WorkingObject
      decodeStruct(type.to, node, object, path, errors)
      return object
    }
    case 'struct':
      if (node.kind === 'null') return current
      if (node.kind !== 'object') return mismatch()
      decodeStruct(type.struct, node, current as WorkingObject, path, errors)
      return current
  }
}

function zero(type: GoType): Working {
  switch (type.kind) {
    case 'bool': return false
    case 'string': return ''
    case 'int': return 0
    case 'struct': return {}
    default: return null
  }
}

function plain(value: Working): GoValue {
  if (value instanceof Slice) return value.backing.slice(0, value.length).map(plain)
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, plain(v)]))
  if (value !== null && typeof value === 'object') {
    const out: GoObject = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = plain(v)
    return out
  }
  return value
}

function expected(type: GoType): string {
  switch (type.kind) {
    case 'bool': return 'true or false'
    case 'string': return 'a string'
    case 'int': return 'an integer'
    case 'strslice': return 'a string or an array of strings'
    case 'slice': return 'an array'
    case 'map': case 'pointer': case 'struct': return 'an object'
  }
}

function article(kind: JsonNode['kind']): string {
  return { object: 'an object', array: 'an array', string: 'a string', number: 'a number', bool: 'a boolean', null: 'null' }[kind]
}

// Reading a decoded value: what is not of the kind asked for reads as absent or empty.
export const object = (value: GoValue | undefined): GoObject | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Map) ? value : undefined
export const objects = (value: GoValue | undefined): GoObject[] => (Array.isArray(value) ? value.map((v) => object(v) ?? {}) : [])
export const strings = (value: GoValue | undefined): string[] => (Array.isArray(value) ? value.map(text) : [])
export const text = (value: GoValue | undefined): string => (typeof value === 'string' ? value : '')
