// Go types as data: the shape of each struct dockerd decodes a body into, as far as
// the guard judges it, and how a JSON key finds its field. Fields the guard does not
// judge are left out; Go ignores unknown keys, and so does the decoder here, so leaving
// a field out never changes how the fields that are declared get their values.

export type GoType =
  | { kind: 'bool' }
  | { kind: 'string' }
  | { kind: 'int' }
  | { kind: 'slice'; of: GoType }
  | { kind: 'map'; of: GoType }
  | { kind: 'pointer'; to: GoStruct }
  | { kind: 'struct'; struct: GoStruct }
  /** docker's strslice.StrSlice: a string or an array of strings (its own UnmarshalJSON). */
  | { kind: 'strslice' }

export interface GoField {
  /** The JSON name: the `json:"..."` tag, or the Go field name. */
  name: string
  type: GoType
  /**
   * Set for a field promoted from an embedded struct pointer (`*container.HostConfig` in
   * 20.10's create wrapper): the value lands in that struct, allocated on first use.
   */
  via?: string
}

export interface GoStruct {
  name: string
  fields: readonly GoField[]
}

export const bool: GoType = { kind: 'bool' }
export const string: GoType = { kind: 'string' }
export const int: GoType = { kind: 'int' }
export const strslice: GoType = { kind: 'strslice' }
export const sliceOf = (of: GoType): GoType => ({ kind: 'slice', of })
export const mapOf = (of: GoType): GoType => ({ kind: 'map', of })
export const pointerTo = (to: GoStruct): GoType => ({ kind: 'pointer', to })
export const structOf = (struct: GoStruct): GoType => ({ kind: 'struct', struct })

export function struct(name: string, fields: Record<string, GoType>, via?: string): GoStruct {
  return { name, fields: Object.entries(fields).map(([field, type]) => (via === undefined ? { name: field, type } : { name: field, type, via })) }
}

/** A struct whose fields are those of `own` plus the fields of embedded pointers. */
export function withEmbedded(name: string, own: GoStruct, ...embedded: { via: string; struct: GoStruct }[]): GoStruct {
  return {
    name,
    fields: [...own.fields, ...embedded.flatMap((e) => e.struct.fields.map((f) => ({ ...f, via: e.via })))],
  }
}

/** Go's field-name fold for ASCII names (go1.19 fold.go; newer Go's foldName agrees). */
export function goFold(key: string): string {
  return key.replace(/[A-Z\u017f\u212a]/g, (c) => (c === '\u017f' ? 's' : c === '\u212a' ? 'k' : c.toLowerCase()))
}

interface FieldIndex { exact: Map<string, GoField>; folded: Map<string, GoField> }
const indexes = new WeakMap<GoStruct, FieldIndex>()

function fieldIndex(struct: GoStruct): FieldIndex {
  let index = indexes.get(struct)
  if (index === undefined) {
    index = { exact: new Map(), folded: new Map() }
    for (const field of struct.fields) {
      const fold = goFold(field.name)
      // Two fields with one fold would make Go's choice depend on field order.
      if (index.folded.has(fold)) throw new Error(`${struct.name}: fields ${index.folded.get(fold)!.name} and ${field.name} fold alike`)
      index.exact.set(field.name, field)
      index.folded.set(fold, field)
    }
    indexes.set(struct, index)
  }
  return index
}

export function lookup(struct: GoStruct, key: string): GoField | undefined {
  const index = fieldIndex(struct)
  return index.exact.get(key) ?? index.folded.get(goFold(key))
}

