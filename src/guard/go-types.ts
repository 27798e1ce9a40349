// Go types as data: the shape of each struct dockerd decodes a body into, as far as
// the guard judges it. Fields the guard does not judge are left out; Go ignores
// unknown keys, and so does the decoder here, so leaving a field out never changes
// how the fields that are declared get their values.

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
