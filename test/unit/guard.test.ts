// The request-body guard as pure functions, no I/O: the strict JSON reader (json.ts), Go's
// encoding/json struct semantics (go-decode.ts, one rule per test, each with the Go source
// that says so), and every rule of inspect.ts through policy.ts with a configuration from
// parseConfig, as the proxy calls them. Bodies are written as raw text, never through
// JSON.stringify, because duplicate keys, escapes and key order are what is tested.
import t, { type Test } from 'tap'
import { parseJson, type JsonNode } from '../../src/guard/json.ts'
import { decodeGo, type GoObject, type GoValue } from '../../src/guard/go-decode.ts'
import { bool, goFold, string, struct, type GoStruct } from '../../src/guard/go-types.ts'
import { ContainerCreateWrapper, ExecConfig, HostConfig, ServiceSpec, VolumeCreate } from '../../src/guard/schemas.ts'
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, appendMembers, decodeBody, inspectBody, inspectorFor } from '../../src/guard/inspect.ts'
import { queryValues } from '../../src/query.ts'
import { decideBody, decideRequest, type Decision } from '../../src/policy.ts'
import { ROUTES } from '../../src/routes.ts'
import { parseConfig } from '../../src/settings.ts'
import { goPathClean, isWithin } from '../../src/go-path.ts'
import { normalizeCapability } from '../../src/capabilities.ts'

const bytes = (body: string | Buffer): Buffer => (typeof body === 'string' ? Buffer.from(body, 'utf8') : body)

// ---------------------------------------------------------------------------------------
// json.ts: what Go's scanner refuses is refused; what it keeps, the tree keeps.

function parsed(t: Test, body: string | Buffer, what: string): JsonNode | undefined {
  const result = parseJson(bytes(body))
  t.ok(result.ok, `${what}: accepted${result.ok ? '' : ` (refused: ${result.problem})`}`)
  return result.ok ? result.node : undefined
}

function refusedJson(t: Test, body: string | Buffer, what: string, problem?: RegExp): void {
  let result
  try {
    result = parseJson(bytes(body))
  } catch (error) {
    t.fail(`${what}: parseJson threw ${(error as Error).name}: ${(error as Error).message} instead of answering`)
    return
  }
  t.notOk(result.ok, `${what}: refused`)
  if (!result.ok && problem !== undefined) t.match(result.problem, problem, `${what}: says why (${result.problem})`)
}

t.test('json: a byte-order mark is refused (Go: invalid character \'ï\' looking for beginning of value)', async (t) => {
  refusedJson(t, '\ufeff{}', 'BOM then {}')
  refusedJson(t, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"Image":"x"}')]), 'BOM bytes then an object')
  parsed(t, '{}', 'the same object without the BOM')
})

t.test('json: trailing commas are refused', async (t) => {
  refusedJson(t, '{"a":1,}', 'object')
  refusedJson(t, '{"a":[1,]}', 'array')
  refusedJson(t, '[1,]', 'top-level array')
})

t.test('json: comments are refused', async (t) => {
  refusedJson(t, '{/* x */"a":1}', 'block comment')
  refusedJson(t, '{"a":1}// x', 'line comment after the value')
  refusedJson(t, '{"a":1 // x\n}', 'line comment inside')
})

t.test('json: trailing data after the first value is refused (20.10 would ignore it)', async (t) => {
  refusedJson(t, '{} x', 'garbage')
  refusedJson(t, '{"Image":"x"}{"HostConfig":{"Privileged":true}}', 'a second object')
  refusedJson(t, '{"Image":"x"} {"HostConfig":{"Privileged":true}}', 'a second object after a space')
  refusedJson(t, '{"Image":"x"}]', 'a stray ] (Decoder.More() lets it through)')
  refusedJson(t, '{"Image":"x"}}}', 'stray }}')
  parsed(t, ' \t\r\n{"Image":"x"} \t\r\n', 'JSON whitespace around the value')
})

t.test('json: only JSON whitespace separates tokens', async (t) => {
  for (const [name, ws] of [['NBSP', '\u00a0'], ['vertical tab', '\u000b'], ['form feed', '\u000c'], ['U+2028', '\u2028'], ['NUL', '\u0000']] as const) {
    refusedJson(t, `{${ws}"a":1}`, `${name} between tokens`)
  }
})

t.test('json: raw control characters inside strings are refused, escaped ones accepted', async (t) => {
  for (let code = 0; code < 0x20; code++) {
    const c = String.fromCharCode(code)
    refusedJson(t, `{"a":"x${c}y"}`, `raw U+${code.toString(16).padStart(4, '0')} in a value`, /control character/)
  }
  refusedJson(t, '{"Privi\nleged":true}', 'raw newline in a key', /control character/)
  refusedJson(t, '{"a":"x\\\ny"}', 'a backslash before a raw newline')
  const escaped = parsed(t, '{"a":"\\t\\n\\u0000\\u001f"}', 'escaped control characters')
  t.same(escaped, { kind: 'object', members: [{ key: 'a', value: { kind: 'string', value: '\t\n\u0000\u001f' } }] }, 'decoded as the characters they name')
  parsed(t, '{"a":"\u007f\u0085\u2028\u2029"}', 'DEL, NEL, U+2028 and U+2029 raw (Go accepts them)')
})

t.test('json: lone surrogate escapes are refused, pairs accepted', async (t) => {
  refusedJson(t, '{"a":"\\ud800"}', 'lone high surrogate', /surrogate/)
  refusedJson(t, '{"a":"\\udc00"}', 'lone low surrogate', /surrogate/)
  refusedJson(t, '{"a":"\\ud800\\u0041"}', 'high surrogate then A', /surrogate/)
  refusedJson(t, '{"\\ud800rivileged":true}', 'lone surrogate in a key', /surrogate/)
  const pair = parsed(t, '{"a":"\\ud83d\\ude00"}', 'a surrogate pair')
  t.same(pair, { kind: 'object', members: [{ key: 'a', value: { kind: 'string', value: '\u{1f600}' } }] }, 'one code point')
})

t.test('json: invalid UTF-8 is refused (Go would substitute U+FFFD per byte)', async (t) => {
  const wrap = (...inner: number[]): Buffer => Buffer.concat([Buffer.from('{"a":"'), Buffer.from(inner), Buffer.from('"}')])
  refusedJson(t, wrap(0xff), 'byte 0xFF', /UTF-8/)
  refusedJson(t, wrap(0xc0, 0xaf), 'overlong "/"', /UTF-8/)
  refusedJson(t, wrap(0xed, 0xa0, 0x80), 'an encoded surrogate', /UTF-8/)
  refusedJson(t, wrap(0x78, 0xf0, 0x9f, 0x98, 0x79), 'a truncated 4-byte sequence', /UTF-8/)
  refusedJson(t, wrap(0x80), 'a lone continuation byte', /UTF-8/)
  refusedJson(t, Buffer.concat([Buffer.from('{"Privileged'), Buffer.from([0xff]), Buffer.from('":true}')]), 'invalid UTF-8 in a key', /UTF-8/)
  parsed(t, wrap(0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80), 'valid 2- and 4-byte sequences')
})

t.test('json: numbers are kept as their raw text', async (t) => {
  for (const raw of ['123456789012345678901234567890', '9223372036854775808', '-9223372036854775809', '-0', '1e400', '1.5e-3', '0.1000000000000000055511151231257827']) {
    const node = parsed(t, `{"a":${raw}}`, raw)
    t.same(node, { kind: 'object', members: [{ key: 'a', value: { kind: 'number', raw } }] }, `${raw} kept exactly`)
  }
  for (const bad of ['01', '+1', '1.', '.5', '0x10', 'NaN', 'Infinity', '-', '1e', '--1']) refusedJson(t, `{"a":${bad}}`, `not a JSON number: ${bad}`)
})

t.test('json: other non-JSON syntax is refused', async (t) => {
  for (const [name, body] of [
    ['tRue', '{"a":tRue}'], ['single quotes', "{'a':1}"], ['unquoted key', '{a:1}'], ['\\a escape', '{"a":"\\a"}'],
    ['\\x escape', '{"a":"\\x41"}'], ['\\0 escape', '{"a":"\\0"}'], ['\\v escape', '{"a":"\\v"}'], ['short \\u', '{"a":"\\u00"}'],
    ['empty body', ''], ['whitespace only', '   '], ['unterminated', '{"a":1'], ['missing colon', '{"a" 1}'],
  ] as const) refusedJson(t, body, name)
})

t.test('json: duplicate keys are all kept, in document order; key escapes are decoded', async (t) => {
  const node = parsed(t, '{"Privileged":true,"privileged":false,"Privileged":null,"\\u0050rivileged":1}', 'duplicates')
  t.same(node, {
    kind: 'object',
    members: [
      { key: 'Privileged', value: { kind: 'bool', value: true } },
      { key: 'privileged', value: { kind: 'bool', value: false } },
      { key: 'Privileged', value: { kind: 'null' } },
      { key: 'Privileged', value: { kind: 'number', raw: '1' } },
    ],
  }, 'four members')
})

t.test('json and inspect: deep nesting gets an answer, never an exception', async (t) => {
  // Go's decoder accepts nesting up to 10000 levels; the guard may refuse less, but it must
  // answer. A RangeError escaping parseJson is thrown out of the proxy's 'end' handler, so
  // the request is never answered (the process-wide handler only logs it).
  const exec = inspectorFor(ROUTES.find((r) => r.display === 'POST /containers/{name}/exec')!)!
  const policy = parseConfig({})
  for (const [name, open, close] of [['arrays', '[', ']'], ['objects', '{"a":', '}'], ['arrays of objects', '[{"a":', '}]']] as const) {
    const threw: number[] = []
    for (let depth = 500; depth <= 6000; depth += 20) {
      const body = bytes(`{"Cmd":["true"],"X":${open.repeat(depth)}1${close.repeat(depth)}}`)
      try {
        parseJson(body)
        inspectBody(exec, body, policy)
      } catch {
        threw.push(depth)
      }
    }
    t.same(threw, [], `${name}: no depth from 500 to 6000 throws (threw at ${threw.length === 0 ? 'none' : `${threw.length} depths, ${threw[0]} to ${threw.at(-1)}`})`)
  }
})

// ---------------------------------------------------------------------------------------
// go-decode.ts: one rule of go1.19 encoding/json per test.

function decoded(t: Test, schema: GoStruct, body: string, what = body): GoObject {
  const node = parsed(t, body, what)
  const result = decodeGo(schema, node ?? { kind: 'null' })
  t.equal(result.error, undefined, `${what}: decodes without error${result.error === undefined ? '' : ` (${result.error})`}`)
  return result.value
}

function decodeError(t: Test, schema: GoStruct, body: string, what = body): { value: GoObject; error?: string } {
  const node = parsed(t, body, what)
  const result = decodeGo(schema, node ?? { kind: 'null' })
  t.ok(result.error !== undefined, `${what}: is a decoding error (${result.error})`)
  return result
}

const hc = (body: GoObject): GoObject => body.HostConfig as GoObject
const top = (body: GoObject): GoObject | undefined => body.TopHostConfig as GoObject | undefined
const opts = (map: GoValue | undefined): Record<string, GoValue> => (map instanceof Map ? Object.fromEntries(map) : { notAMap: String(map) })

t.test('fold: Go folds ASCII letters plus ſ (U+017F) = s and K (U+212A) = k', async (t) => {
  t.equal(goFold('NetworKMode'), 'networkmode', 'Kelvin sign folds to k')
  t.equal(goFold('Bindſ'), 'binds', 'long s folds to s')
  t.equal(goFold('PRIVILEGED'), 'privileged', 'ASCII upper case')
  t.equal(goFold('Prıvileged'), 'prıvileged', 'dotless ı is not i')
  t.equal(goFold('Prİvileged'), 'prİvileged', 'dotted İ is not i')
  t.equal(goFold('ﬆ'), 'ﬆ', 'the st ligature stays')
  t.equal(goFold('Ｐrivileged'), 'Ｐrivileged', 'fullwidth P stays')
  const value = decoded(t, HostConfig, '{"Networ\u212aMode":"host","Bind\u017f":["/:/h"],"privileged":true,"CAPADD":["X"]}')
  t.equal(value.NetworkMode, 'host', 'Networ\u212aMode is NetworkMode')
  t.same(value.Binds, ['/:/h'], 'Bind\u017f is Binds')
  t.equal(value.Privileged, true, 'privileged is Privileged')
  t.same(value.CapAdd, ['X'], 'CAPADD is CapAdd')
})

t.test('fold: nothing else folds (dotless ı, İ, K/ſ standing for other letters, non-letters)', async (t) => {
  const value = decoded(t, HostConfig, '{"Pr\u0131vileged":true,"Pr\u0130vIleged":true,"PrivilegeD\\u0000":true,"Network\u212aode":"host","\u017fecurityOpt":["x"],"Bind\u212a":["/:/h"]}')
  t.equal(value.Privileged, undefined, 'Prıvileged and PrİvIleged set nothing')
  t.equal(value.NetworkMode, undefined, 'K for M sets nothing')
  t.same(value.SecurityOpt, ['x'], 'ſecurityOpt is SecurityOpt (ſ for S)')
  t.equal(value.Binds, undefined, 'K for s sets nothing')
  // asciiEqualFold compares non-letters exactly: '_' (0x5F) and DEL (0x7F) differ by 0x20
  const T = struct('T', { Foo_Bar: bool })
  t.equal(decoded(t, T, '{"foo_bar":true}').Foo_Bar, true, 'foo_bar is Foo_Bar')
  t.equal(decoded(t, T, '{"Foo\u007fBar":true}').Foo_Bar, undefined, 'DEL is not _ (case bit on a non-letter)')
  t.equal(decoded(t, struct('N', { Name: string }), '{"\u212aame":"x"}').Name, undefined, 'K is not N')
})

t.test('fold: a key matches exactly or folded; a struct whose fields fold alike is refused as a schema', async (t) => {
  // go1.19 object(): fields.nameIndex[key] (exact), else the first field whose equalFold matches.
  const T = struct('T', { Image: string })
  t.equal(decoded(t, T, '{"Image":"a"}').Image, 'a', 'exact')
  t.equal(decoded(t, T, '{"IMAGE":"b"}').Image, 'b', 'folded')
  t.equal(decoded(t, T, '{"image":"c","Image":"d"}').Image, 'd', 'folded then exact: document order')
  t.equal(decoded(t, T, '{"Image":"d","image":"c"}').Image, 'c', 'exact then folded: document order')
  t.throws(() => decodeGo(struct('Twin', { Foo: bool, FOO: bool }), { kind: 'object', members: [{ key: 'foo', value: { kind: 'bool', value: true } }] }), /fold alike/, 'two fields with one fold are a schema error')
})

t.test('last key wins, whatever its case', async (t) => {
  t.equal(decoded(t, HostConfig, '{"Privileged":true,"privileged":false}').Privileged, false, 'true then false')
  t.equal(decoded(t, HostConfig, '{"privileged":false,"PRIVILEGED":true}').Privileged, true, 'false then true')
  t.equal(decoded(t, HostConfig, '{"NetworkMode":"host","networkmode":"bridge"}').NetworkMode, 'bridge', 'strings too')
})

t.test('null is a no-op on bool, string, int and struct', async (t) => {
  t.equal(decoded(t, HostConfig, '{"Privileged":true,"privileged":null}').Privileged, true, 'bool stays true')
  t.equal(decoded(t, HostConfig, '{"NetworkMode":"host","networkmode":null}').NetworkMode, 'host', 'string stays')
  const requests = decoded(t, HostConfig, '{"DeviceRequests":[{"Count":2,"count":null}]}').DeviceRequests as GoObject[]
  t.equal(requests[0]?.Count, 2, 'int stays')
  const spec = decoded(t, ServiceSpec, '{"TaskTemplate":{"Runtime":"plugin"},"tasktemplate":null}')
  t.equal((spec.TaskTemplate as GoObject).Runtime, 'plugin', 'struct value stays')
  t.equal(decoded(t, HostConfig, '{"Privileged":null}').Privileged, false, 'null on an unset bool leaves it false')
})

t.test('null sets a slice, map or pointer to nil', async (t) => {
  t.equal(decoded(t, HostConfig, '{"Binds":["/:/h"],"binds":null}').Binds, null, 'slice')
  t.equal(decoded(t, VolumeCreate, '{"DriverOpts":{"device":"/"},"driveropts":null}').DriverOpts, null, 'map')
  t.equal(decoded(t, ContainerCreateWrapper, '{"HostConfig":{"Privileged":true},"hostconfig":null}').HostConfig, null, 'pointer')
  t.equal(decoded(t, HostConfig, '{"CapAdd":["SYS_ADMIN"],"capadd":null}').CapAdd, null, 'strslice')
})

t.test('an object merges into an existing struct pointer, struct value and map', async (t) => {
  const body = decoded(t, ContainerCreateWrapper, '{"HostConfig":{"Binds":["/:/h"]},"hostconfig":{"Privileged":true}}')
  t.same(hc(body), { Binds: ['/:/h'], Privileged: true }, 'pointer: both objects\' fields')
  const spec = decoded(t, ServiceSpec, '{"TaskTemplate":{"Runtime":"plugin"},"TASKTEMPLATE":{"Networks":[{"Target":"x"}]}}')
  t.same(spec.TaskTemplate, { Runtime: 'plugin', Networks: [{ Target: 'x' }] }, 'struct value: both')
  const volume = decoded(t, VolumeCreate, '{"DriverOpts":{"type":"none","o":"bind"},"driveropts":{"device":"/"}}')
  t.same(opts(volume.DriverOpts), { type: 'none', o: 'bind', device: '/' }, 'map: all three options')
  const nested = decoded(t, HostConfig, '{"Mounts":[{"Type":"volume","VolumeOptions":{"DriverConfig":{"Options":{"type":"none"}}}}],"mounts":[{"volumeoptions":{"driverconfig":{"options":{"device":"/"}}}}]}')
  const driver = ((nested.Mounts as GoObject[])[0]?.VolumeOptions as GoObject).DriverConfig as GoObject
  t.same(opts(driver.Options), { type: 'none', device: '/' }, 'pointers and maps inside a re-decoded slice element merge too')
})

t.test('map keys are exact (case-sensitive) and a duplicate exact key replaces', async (t) => {
  const volume = decoded(t, VolumeCreate, '{"DriverOpts":{"Device":"/","device":"/a","device":"/b"}}')
  t.same(opts(volume.DriverOpts), { Device: '/', device: '/b' }, 'Device and device are two keys; the last device wins')
  const endpoints = decoded(t, ContainerCreateWrapper, '{"NetworkingConfig":{"EndpointsConfig":{"host":null}}}')
  t.ok(((endpoints.NetworkingConfig as GoObject).EndpointsConfig as Map<string, GoValue>).has('host'), 'a null map value is still stored under its key')
})

t.test('arrays decode into the slice\'s existing backing array (reflect semantics)', async (t) => {
  // Mounts [A,B], then mounts [C], then MOUNTS [D,E]: [C] decodes into A and shortens the
  // slice to 1; [D,E] decodes D into that element and re-extends into B's old slot.
  const value = decoded(t, HostConfig, `{
    "Mounts": [{"Type":"bind","Source":"/a","Target":"/ta"}, {"Type":"bind","Source":"/b","Target":"/tb"}],
    "mounts": [{"Source":"/c"}],
    "MOUNTS": [{"Target":"/td"}, {"Type":"volume"}]
  }`, 'Mounts [A,B], mounts [C], MOUNTS [D,E]')
  t.same(value.Mounts, [{ Type: 'bind', Source: '/c', Target: '/td' }, { Type: 'volume', Source: '/b', Target: '/tb' }], '[A+C+D, B+E]')
})

t.test('a null element re-exposes a stale string from the backing array', async (t) => {
  const value = decoded(t, HostConfig, '{"Binds":["a:/a","/etc:/e"],"binds":["a:/a"],"BINDS":["a:/a",null]}')
  t.same(value.Binds, ['a:/a', '/etc:/e'], 'the null second element keeps the first array\'s second element')
})

t.test('slice growth copies only the length: new elements past the old capacity are zero', async (t) => {
  // 5 elements: cap 4 then 4 + 4/2 = 6. Shortened to 1, then 7 nulls: slots 1-4 are stale,
  // slot 5 was never written (zero), slot 6 is beyond the capacity (grown: zero).
  const value = decoded(t, HostConfig, '{"Binds":["1","2","3","4","5"],"binds":["x"],"BINDS":[null,null,null,null,null,null,null]}')
  t.same(value.Binds, ['x', '2', '3', '4', '5', '', ''], 'stale up to the capacity, zero after')
  const first = decoded(t, HostConfig, '{"Binds":["1","2","3"],"binds":[null,null,null,null,null]}')
  t.same(first.Binds, ['1', '2', '3', '', ''], 'cap 4: slot 3 zero, slot 4 grown zero')
})

t.test('an empty array resets the slice (go1.19 array(): i == 0 makes a new empty slice)', async (t) => {
  const value = decoded(t, HostConfig, '{"Binds":["/a:/a","/b:/b"],"binds":[],"BINDS":[null,null]}')
  t.same(value.Binds, ['', ''], 'nothing stale survives []')
  const mounts = decoded(t, HostConfig, '{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}],"mounts":[],"MOUNTS":[{}]}')
  t.same(mounts.Mounts, [{}], 'a struct element after [] is zero')
  t.same(decoded(t, HostConfig, '{"Binds":["/a:/a"],"binds":[]}').Binds, [], '[] is an empty slice, not nil')
})

t.test('strslice: a string, an array of strings or null, always a fresh slice', async (t) => {
  t.same(decoded(t, HostConfig, '{"CapAdd":"SYS_ADMIN"}').CapAdd, ['SYS_ADMIN'], 'a string is one element')
  t.same(decoded(t, HostConfig, '{"CapAdd":["A","B"]}').CapAdd, ['A', 'B'], 'an array')
  t.equal(decoded(t, HostConfig, '{"CapAdd":null}').CapAdd, null, 'null is nil')
  t.same(decoded(t, HostConfig, '{"CapAdd":[]}').CapAdd, [], '[] is empty')
  t.same(decoded(t, HostConfig, '{"CapAdd":["A",null]}').CapAdd, ['A', ''], 'a null element is ""')
  // StrSlice.UnmarshalJSON: p := make([]string, 0, 1); json.Unmarshal(b, &p); *e = p
  t.same(decoded(t, HostConfig, '{"CapAdd":["SYS_ADMIN","NET_ADMIN"],"capadd":[null]}').CapAdd, [''], 'no backing array survives (unlike []string)')
  for (const bad of ['5', 'true', '{"a":"b"}', '[1]', '[["A"]]', '[{}]']) decodeError(t, HostConfig, `{"CapAdd":${bad}}`)
})

t.test('int64: the full range, no fraction, no exponent, no overflow', async (t) => {
  const count = (raw: string): GoValue | undefined => (decoded(t, HostConfig, `{"DeviceRequests":[{"Count":${raw}}]}`).DeviceRequests as GoObject[])[0]?.Count
  t.equal(count('-1'), -1, '-1')
  t.equal(count('-0'), 0, '-0')
  t.ok(typeof count('9223372036854775807') === 'number', 'max int64')
  t.ok(typeof count('-9223372036854775808') === 'number', 'min int64')
  for (const bad of ['9223372036854775808', '-9223372036854775809', '1.5', '1.0', '1e3', '1E0', '"1"', 'true']) {
    decodeError(t, HostConfig, `{"DeviceRequests":[{"Count":${bad}}]}`, `Count ${bad}`)
  }
})

t.test('a type mismatch is an error, and decoding goes on (go1.19 saveError)', async (t) => {
  for (const [field, bad] of [['Privileged', '"true"'], ['Privileged', '1'], ['Binds', '"/:/h"'], ['NetworkMode', 'true'], ['Mounts', '{}'], ['SecurityOpt', '[1]']] as const) {
    decodeError(t, HostConfig, `{"${field}":${bad}}`, `${field}: ${bad}`)
  }
  decodeError(t, ContainerCreateWrapper, '{"HostConfig":[]}', 'HostConfig: []')
  decodeError(t, ContainerCreateWrapper, '{"HostConfig":"x"}', 'HostConfig: "x"')
  const result = decodeError(t, HostConfig, '{"Privileged":"yes","Binds":["/:/h"]}', 'a bad field then a good one')
  t.same(result.value.Binds, ['/:/h'], 'the field after the mismatch is still decoded')
  decodeError(t, HostConfig, '[]', 'a top-level array')
  decodeError(t, HostConfig, '"x"', 'a top-level string')
  t.same(decoded(t, HostConfig, 'null'), {}, 'a top-level null decodes nothing, without error')
  t.same(decoded(t, HostConfig, '{"Unknown":{"deep":[1,2,{"x":null}]},"privileged":true}'), { Privileged: true }, 'unknown keys are skipped')
})

t.test('20.10 wrapper: a top-level HostConfig key allocates the embedded *HostConfig (TopHostConfig)', async (t) => {
  t.equal(top(decoded(t, ContainerCreateWrapper, '{"Image":"x","Cmd":["true"]}')), undefined, 'Config keys only: no TopHostConfig')
  t.same(top(decoded(t, ContainerCreateWrapper, '{"Privileged":null}')), { Privileged: false }, 'even a null value allocates it (with the field at its zero value)')
  t.same(top(decoded(t, ContainerCreateWrapper, '{"privileged":true,"Binds":["/:/h"]}')), { Privileged: true, Binds: ['/:/h'] }, 'top-level fields land there, folded too')
  const both = decoded(t, ContainerCreateWrapper, '{"Privileged":true,"HostConfig":{"NetworkMode":"none"}}')
  t.same(hc(both), { NetworkMode: 'none' }, 'the inner HostConfig is separate')
  t.same(top(both), { Privileged: true }, 'and so is the top-level copy')
  t.same(hc(decoded(t, ContainerCreateWrapper, '{"Ho\u017ftConfig":{"Privileged":true}}')), { Privileged: true }, 'Ho\u017ftConfig is the HostConfig key')
})

t.test('"HostConfig":null between two HostConfigs drops the first', async (t) => {
  const value = decoded(t, ContainerCreateWrapper, '{"HostConfig":{"Privileged":true},"HostConfig":null,"HostConfig":{"Binds":["/x:/x"]}}')
  t.same(hc(value), { Binds: ['/x:/x'] }, 'only the third object\'s fields')
})

t.test('decodeBody reports what the guard decoded and why it would not', async (t) => {
  t.same(decodeBody(ExecConfig, bytes('{"privileged":true,"user":"0"}')), { value: { Privileged: true, User: '0' } }, 'exec')
  t.match(decodeBody(ExecConfig, bytes('{"Privileged":1}')).problem, /Privileged/, 'mismatch named')
  t.match(decodeBody(ExecConfig, bytes('{"Privileged":true,}')).problem, /not valid JSON/, 'syntax named')
})

// ---------------------------------------------------------------------------------------
// go-path.ts and capabilities.ts

t.test('goPathClean is Go\'s path.Clean; isWithin is by segment', async (t) => {
  for (const [input, output] of [['//etc', '/etc'], ['/x/../', '/'], ['//x//', '/x'], ['/x/./.', '/x'], ['/x/', '/x'], ['/../..', '/'], ['', '.'], ['a/../..', '..'], ['./a', 'a'], ['/srv/app/../application', '/srv/application']] as const) {
    t.equal(goPathClean(input), output, `${JSON.stringify(input)} -> ${JSON.stringify(output)}`)
  }
  t.ok(isWithin('/srv/app', '/srv/app'), 'the root itself')
  t.ok(isWithin('/srv/app', '/srv/app/x'), 'below it')
  t.notOk(isWithin('/srv/app', '/srv/application'), 'not a sibling with the same prefix')
  t.notOk(isWithin('/srv/app', '/srv'), 'not the parent')
  t.ok(isWithin('/', '/anything'), '/ holds all')
})

t.test('normalizeCapability is Go\'s strings.ToUpper without CAP_', async (t) => {
  for (const [input, output] of [['sys_admin', 'SYS_ADMIN'], ['cap_sys_admin', 'SYS_ADMIN'], ['CAP_NET_ADMIN', 'NET_ADMIN'], ['\u017fys_admin', 'SYS_ADMIN'], ['\u017fY\u017f_ADM\u0131N', 'SYS_ADMIN'], ['all', 'ALL'], ['ß', 'ß']] as const) {
    t.equal(normalizeCapability(input), output, `${input} -> ${output}`)
  }
})

// ---------------------------------------------------------------------------------------
// inspect.ts through policy.ts, as the proxy calls them

/** Every section a guarded route needs; the guard's own grants stay off unless given. */
const SECTIONS = { CONTAINERS: '1', POST: '1', EXEC: '1', VOLUMES: '1', SERVICES: '1', BUILD: '1', SESSION: '1', GRPC: '1', SWARM: '1', PLUGINS: '1' }

function judge(method: string, target: string, body: string | Buffer | undefined, env: Record<string, string> = {}, contentType: string | undefined = 'application/json'): Decision {
  const config = parseConfig({ ...SECTIONS, ...env })
  const first = decideRequest(method, target, contentType, config)
  if (!first.allow || first.readBody !== true) return first
  return decideBody(method, target, first, bytes(body ?? ''), config)
}

interface Escalation {
  what: string
  method?: string
  target?: string
  body?: string
  contentType?: string
  /** The variable (and value) the refusal must name, as `set X=v`. */
  variable: string
  /** The environment that allows it. */
  grant: Record<string, string>
  /** Text the reason must also contain (the field). */
  field?: string | RegExp
  /** Extra environment for both runs (e.g. an ALLOW_BIND that does not cover it). */
  env?: Record<string, string>
}

function escalation(t: Test, e: Escalation): void {
  const method = e.method ?? 'POST'
  const target = e.target ?? '/containers/create'
  const no = judge(method, target, e.body, e.env, e.contentType)
  t.equal(no.allow, false, `${e.what}: refused (${no.reason})`)
  if (!no.allow) {
    t.equal(no.status, 403, `${e.what}: 403`)
    t.ok(no.reason.includes(`set ${e.variable}`), `${e.what}: names ${e.variable}: ${no.reason}`)
    if (typeof e.field === 'string') t.ok(no.reason.includes(e.field), `${e.what}: names ${e.field}`)
    else if (e.field !== undefined) t.match(no.reason, e.field, `${e.what}: names the field`)
  }
  const yes = judge(method, target, e.body, { ...e.env, ...e.grant }, e.contentType)
  t.equal(yes.allow, true, `${e.what}: allowed with ${Object.entries(e.grant).map(([k, v]) => `${k}=${v}`).join(' ')} (${yes.reason})`)
}

function allowed(t: Test, what: string, body: string, target = '/containers/create', env: Record<string, string> = {}, method = 'POST', contentType: string | undefined = 'application/json'): void {
  const d = judge(method, target, body, env, contentType)
  t.equal(d.allow, true, `${what}: allowed (${d.reason})`)
}

function refused(t: Test, what: string, body: string | undefined, variable: string, target = '/containers/create', env: Record<string, string> = {}, method = 'POST', contentType: string | undefined = 'application/json'): void {
  const d = judge(method, target, body, env, contentType)
  t.equal(d.allow, false, `${what}: refused (${d.reason})`)
  if (!d.allow) t.ok(d.reason.includes(variable), `${what}: names ${variable}: ${d.reason}`)
}

const create = (hostConfig: string): string => `{"Image":"busybox","Cmd":["true"],"HostConfig":${hostConfig}}`
const PRIV = { ALLOW_PRIVILEGED: '1' }
const NS = { ALLOW_HOST_NAMESPACES: '1' }
const UNCONFINED = { ALLOW_UNCONFINED: '1' }
const DEVICES = { ALLOW_DEVICES: '1' }

t.test('guarded routes: every inspector key is a real route of routes.ts', async (t) => {
  const guarded = ROUTES.filter((route) => inspectorFor(route) !== undefined).map((route) => route.display).sort()
  const expected = [
    'POST /build', 'POST /containers/create', 'POST /containers/{name}/exec', 'POST /containers/{name}/start', 'POST /grpc',
    'POST /plugins/create', 'POST /plugins/pull', 'POST /plugins/{name}/set', 'POST /plugins/{name}/upgrade',
    'POST /services/create', 'POST /services/{id}/update', 'POST /session', 'POST /swarm/join', 'POST /volumes/create',
    // read for OWNER: the owner label is stamped, or the container named in the body checked
    'POST /networks/create', 'POST /secrets/create', 'POST /configs/create', 'POST /commit',
    'POST /networks/{id}/connect', 'POST /networks/{id}/disconnect',
    // ALLOW_NAMES and ALLOW_IMAGES: names and image references in the path and query
    'POST /containers/{name}/rename', 'POST /images/create', 'POST /images/{name}/push', 'POST /images/{name}/tag', 'POST /images/load',
  ].sort()
  t.same(guarded, expected, 'exactly these displays have an inspector')
  for (const display of expected) t.ok(ROUTES.some((route) => route.display === display), `${display} is in ROUTES`)
  const config = parseConfig({ ...SECTIONS, ALLOW_PRIVILEGED: '1', ALLOW_HOST_NAMESPACES: '1' })
  const readsBody = ROUTES.filter((route) => {
    const d = decideRequest(route.method, route.template.replace(/\{[^}]+\}/g, 'x'), 'application/json', config)
    return d.allow && d.readBody === true
  }).map((route) => route.display).sort()
  t.same(readsBody, ['POST /containers/create', 'POST /containers/{name}/exec', 'POST /containers/{name}/start', 'POST /services/create', 'POST /services/{id}/update', 'POST /volumes/create'], 'these read the whole body first')
})

t.test('create: Privileged', async (t) => {
  escalation(t, { what: 'HostConfig.Privileged', body: create('{"Privileged":true}'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV, field: 'HostConfig.Privileged' })
  allowed(t, 'Privileged false', create('{"Privileged":false}'))
  allowed(t, 'no HostConfig at all', '{"Image":"busybox"}')
  allowed(t, 'an empty body (dockerd answers EOF itself)', '')
  escalation(t, { what: 'versioned path', target: '/v1.41/containers/create?name=x', body: create('{"Privileged":true}'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV })
})

t.test('create: Binds', async (t) => {
  escalation(t, { what: 'Binds /etc', body: create('{"Binds":["/etc:/h:ro"]}'), variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' }, field: 'host path "/etc"' })
  escalation(t, { what: 'Binds //etc (Go path.Clean makes it /etc)', body: create('{"Binds":["//etc:/h"]}'), variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' }, field: 'host path "/etc"' })
  escalation(t, { what: 'Binds /x/../ (the host root)', body: create('{"Binds":["/x/../:/h"]}'), variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' }, field: 'host path "/"' })
  escalation(t, { what: 'Binds /', body: create('{"Binds":["/:/host"]}'), variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' } })
  escalation(t, { what: 'the second bind of two', body: create('{"Binds":["data:/data","/var/run/docker.sock:/s"]}'), variable: 'ALLOW_BIND=/var/run/docker.sock', grant: { ALLOW_BIND: '/var/run' }, field: 'Binds[1]' })
  allowed(t, 'a named volume', create('{"Binds":["data:/data"]}'))
  allowed(t, 'a named volume with a mode', create('{"Binds":["data:/data:ro"]}'))
  allowed(t, 'an anonymous volume (one part)', create('{"Binds":["/data"]}'))
  allowed(t, 'relative names (volumes, or refused by dockerd)', create('{"Binds":["./x:/x","a/b:/y"]}'))
})

t.test('create: ALLOW_BIND is by segment, / allows all', async (t) => {
  const env = { ALLOW_BIND: '/srv/app' }
  allowed(t, '/srv/app itself', create('{"Binds":["/srv/app:/a"]}'), undefined, env)
  allowed(t, '/srv/app/x', create('{"Binds":["/srv/app/x:/a"]}'), undefined, env)
  allowed(t, '/srv/app/x/../y', create('{"Binds":["/srv/app/x/../y:/a"]}'), undefined, env)
  refused(t, '/srv/application', create('{"Binds":["/srv/application:/a"]}'), 'ALLOW_BIND=/srv/app,/srv/application', undefined, env)
  refused(t, '/srv/app/../application', create('{"Binds":["/srv/app/../application:/a"]}'), 'ALLOW_BIND=/srv/app,/srv/application', undefined, env)
  refused(t, '/srv', create('{"Binds":["/srv:/a"]}'), '(ALLOW_BIND is /srv/app)', undefined, env)
  allowed(t, 'a trailing slash in ALLOW_BIND is cleaned', create('{"Binds":["/srv/app/x:/a"]}'), undefined, { ALLOW_BIND: '/srv/app/' })
  allowed(t, 'one of several roots', create('{"Binds":["/home/ci/w:/a","/srv/app:/b"]}'), undefined, { ALLOW_BIND: '/srv/app,/home/ci' })
  const all = { ALLOW_BIND: '/' }
  allowed(t, '/ allows /', create('{"Binds":["/:/h"]}'), undefined, all)
  allowed(t, '/ allows VolumesFrom', create('{"VolumesFrom":["other"]}'), undefined, all)
  allowed(t, '/ allows a bind Mount', create('{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}'), undefined, all)
  allowed(t, '/ allows device volumes', '{"Name":"v","DriverOpts":{"type":"ext4","device":"/dev/sda1"}}', '/volumes/create', all)
})

t.test('create: Mounts', async (t) => {
  escalation(t, { what: 'bind Mount', body: create('{"Mounts":[{"Type":"bind","Source":"/var/run","Target":"/r"}]}'), variable: 'ALLOW_BIND=/var/run', grant: { ALLOW_BIND: '/var/run' }, field: 'HostConfig.Mounts[0]' })
  escalation(t, { what: 'bind Mount with folded keys', body: create('{"mounts":[{"type":"bind","source":"/etc","target":"/e"}]}'), variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' } })
  escalation(t, {
    what: 'volume Mount with local device options',
    body: create('{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/etc"}}}}]}'),
    variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' }, field: 'VolumeOptions.DriverConfig.Options',
  })
  escalation(t, {
    what: 'volume Mount with a block device',
    body: create('{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"ext4","device":"/dev/sda1"}}}}]}'),
    variable: 'ALLOW_BIND=/dev/sda1', grant: { ALLOW_BIND: '/dev' },
  })
  allowed(t, 'volume Mount without options', create('{"Mounts":[{"Type":"volume","Source":"data","Target":"/v"}]}'))
  allowed(t, 'volume Mount with tmpfs options', create('{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"tmpfs","device":"tmpfs","o":"size=1m"}}}}]}'))
  allowed(t, 'tmpfs Mount', create('{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}'))
})

t.test('create: Mounts decoded into the backing array', async (t) => {
  escalation(t, {
    what: 'a volume Mount turned into a bind by a second mounts',
    body: create('{"Mounts":[{"Type":"volume","Source":"/etc","Target":"/a"}],"mounts":[{"Type":"bind"}]}'),
    variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' },
  })
  escalation(t, {
    what: 'a stale bind re-exposed past a shortened slice',
    body: create('{"Mounts":[{"Type":"tmpfs","Target":"/t"},{"Type":"bind","Source":"/etc","Target":"/e"}],"mounts":[{"Type":"tmpfs","Target":"/t"}],"MOUNTS":[{"Type":"tmpfs","Target":"/t"},{}]}'),
    variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' }, field: 'Mounts[1]',
  })
  escalation(t, {
    what: 'a stale bind string re-exposed by a null',
    body: create('{"Binds":["a:/a","/etc:/e"],"binds":["a:/a"],"BINDS":["a:/a",null]}'),
    variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' },
  })
  allowed(t, 'a bind Mount replaced after [] resets the slice', create('{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}],"mounts":[],"MOUNTS":[{"Type":"tmpfs","Target":"/t"}]}'))
})

t.test('create: VolumesFrom', async (t) => {
  escalation(t, { what: 'VolumesFrom', body: create('{"VolumesFrom":["other:ro"]}'), variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' }, field: 'VolumesFrom' })
  refused(t, 'VolumesFrom with a narrower ALLOW_BIND', create('{"VolumesFrom":["other"]}'), 'ALLOW_BIND=/srv,/', undefined, { ALLOW_BIND: '/srv' })
  allowed(t, 'VolumesFrom []', create('{"VolumesFrom":[]}'))
})

t.test('create: host namespaces', async (t) => {
  for (const field of ['NetworkMode', 'PidMode', 'IpcMode']) {
    escalation(t, { what: `${field} host`, body: create(`{"${field}":"host"}`), variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: `HostConfig.${field}` })
    escalation(t, { what: `${field} container:`, body: create(`{"${field}":"container:abc"}`), variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: 'container:abc' })
  }
  for (const field of ['UTSMode', 'UsernsMode', 'CgroupnsMode']) {
    escalation(t, { what: `${field} host`, body: create(`{"${field}":"host"}`), variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: `HostConfig.${field}` })
  }
  escalation(t, { what: 'EndpointsConfig "host"', body: '{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"host":{}}}}', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: 'EndpointsConfig' })
  escalation(t, { what: 'EndpointsConfig "host": null', body: '{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"host":null}}}', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS })
  escalation(t, { what: 'EndpointsConfig via folded keys', body: '{"Image":"busybox","networkingconfig":{"endpointsconfig":{"host":{}}}}', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS })
  allowed(t, 'ordinary modes', create('{"NetworkMode":"bridge","PidMode":"","IpcMode":"private","UTSMode":"","UsernsMode":"","CgroupnsMode":"private"}'))
  allowed(t, 'a user network', create('{"NetworkMode":"mynet"}'))
  allowed(t, 'EndpointsConfig of another network', '{"Image":"busybox","NetworkingConfig":{"EndpointsConfig":{"bridge":{}}}}')
})

t.test('create: capabilities', async (t) => {
  for (const name of ['SYS_ADMIN', 'sys_admin', 'cap_sys_admin', 'CAP_SYS_ADMIN', '\u017fys_admin', 'Cap_\u017fy\u017f_adm\u0131n']) {
    escalation(t, { what: `CapAdd ${name}`, body: create(`{"CapAdd":["${name}"]}`), variable: 'ALLOW_CAPS=SYS_ADMIN', grant: { ALLOW_CAPS: 'SYS_ADMIN' }, field: 'HostConfig.CapAdd' })
  }
  escalation(t, { what: 'CapAdd as a string', body: create('{"CapAdd":"NET_ADMIN"}'), variable: 'ALLOW_CAPS=NET_ADMIN', grant: { ALLOW_CAPS: 'cap_net_admin' } })
  escalation(t, { what: 'CapAdd ALL', body: create('{"CapAdd":["ALL"]}'), variable: 'ALLOW_CAPS=ALL', grant: { ALLOW_CAPS: 'ALL' } })
  escalation(t, { what: 'CapAdd all', body: create('{"CapAdd":["all"]}'), variable: 'ALLOW_CAPS=ALL', grant: { ALLOW_CAPS: 'ALL' } })
  escalation(t, { what: 'Capabilities (API 1.40 field)', body: create('{"Capabilities":["CAP_SYS_ADMIN"]}'), variable: 'ALLOW_CAPS=SYS_ADMIN', grant: { ALLOW_CAPS: 'SYS_ADMIN' }, field: 'HostConfig.Capabilities' })
  escalation(t, { what: 'capadd folded key', body: create('{"capadd":["SYS_PTRACE"]}'), variable: 'ALLOW_CAPS=SYS_PTRACE', grant: { ALLOW_CAPS: 'SYS_PTRACE' } })
  refused(t, 'SYS_ADMIN with ALLOW_CAPS=NET_ADMIN', create('{"CapAdd":["SYS_ADMIN"]}'), 'set ALLOW_CAPS=NET_ADMIN,SYS_ADMIN', undefined, { ALLOW_CAPS: 'NET_ADMIN' })
  allowed(t, 'ALLOW_CAPS=ALL allows SYS_ADMIN', create('{"CapAdd":["SYS_ADMIN","NET_ADMIN"]}'), undefined, { ALLOW_CAPS: 'ALL' })
  allowed(t, 'dockerd\'s default set', create('{"CapAdd":["CHOWN","net_raw","cap_kill","SETPCAP","AUDIT_WRITE"]}'))
  allowed(t, 'CapDrop ALL', create('{"CapDrop":["ALL"],"CapAdd":["NET_BIND_SERVICE"]}'))
})

t.test('create: SecurityOpt', async (t) => {
  for (const option of ['seccomp:unconfined', 'seccomp=unconfined', 'seccomp={\\"defaultAction\\":\\"SCMP_ACT_ALLOW\\"}', 'apparmor=unconfined', 'apparmor:docker-default', 'label=disable', 'label:type:spc_t', 'disable']) {
    escalation(t, { what: `SecurityOpt ${option}`, body: create(`{"SecurityOpt":["${option}"]}`), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: 'HostConfig.SecurityOpt' })
  }
  escalation(t, { what: 'the second option of two', body: create('{"SecurityOpt":["no-new-privileges","seccomp=unconfined"]}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED })
  allowed(t, 'no-new-privileges', create('{"SecurityOpt":["no-new-privileges"]}'))
  allowed(t, 'no-new-privileges=true and :true', create('{"SecurityOpt":["no-new-privileges=true","no-new-privileges:true"]}'))
})

t.test('create: MaskedPaths and ReadonlyPaths', async (t) => {
  escalation(t, { what: 'MaskedPaths []', body: create('{"MaskedPaths":[]}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: '/proc/kcore' })
  escalation(t, { what: 'ReadonlyPaths []', body: create('{"ReadonlyPaths":[]}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: '/proc/sys' })
  escalation(t, { what: 'MaskedPaths missing one', body: create(`{"MaskedPaths":${JSON.stringify(DEFAULT_MASKED_PATHS.filter((p) => p !== '/proc/keys'))}}`), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: 'leaves out /proc/keys' })
  allowed(t, 'the default lists', create(`{"MaskedPaths":${JSON.stringify(DEFAULT_MASKED_PATHS)},"ReadonlyPaths":${JSON.stringify(DEFAULT_READONLY_PATHS)}}`))
  allowed(t, 'a superset', create(`{"MaskedPaths":${JSON.stringify([...DEFAULT_MASKED_PATHS, '/proc/extra'])}}`))
  allowed(t, 'null (dockerd uses its defaults)', create('{"MaskedPaths":null,"ReadonlyPaths":null}'))
  t.same(DEFAULT_MASKED_PATHS, ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'], '20.10 oci/defaults.go MaskedPaths')
  t.same(DEFAULT_READONLY_PATHS, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'], '20.10 oci/defaults.go ReadonlyPaths')
})

t.test('create: devices', async (t) => {
  escalation(t, { what: 'Devices', body: create('{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}'), variable: 'ALLOW_DEVICES=1', grant: DEVICES, field: 'HostConfig.Devices' })
  escalation(t, { what: 'DeviceCgroupRules', body: create('{"DeviceCgroupRules":["b 8:* rwm"]}'), variable: 'ALLOW_DEVICES=1', grant: DEVICES, field: 'HostConfig.DeviceCgroupRules' })
  escalation(t, { what: 'DeviceRequests', body: create('{"DeviceRequests":[{"Driver":"nvidia","Count":-1}]}'), variable: 'ALLOW_DEVICES=1', grant: DEVICES, field: 'HostConfig.DeviceRequests' })
  allowed(t, 'empty device lists', create('{"Devices":[],"DeviceCgroupRules":[],"DeviceRequests":null}'))
})

t.test('create: 20.10 top-level HostConfig fields', async (t) => {
  const body = (rest: string): string => `{"Image":"busybox",${rest}}`
  escalation(t, { what: 'top-level Privileged, no HostConfig key', body: body('"Privileged":true'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV, field: 'Privileged (top level' })
  escalation(t, { what: 'top-level privileged with "HostConfig":null', body: body('"privileged":true,"HostConfig":null'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV })
  escalation(t, { what: '"HostConfig":null before the top-level field', body: body('"HostConfig":null,"Privileged":true'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV })
  escalation(t, { what: 'top-level Binds', body: body('"Binds":["/:/h"]'), variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' }, field: 'Binds (top level' })
  escalation(t, { what: 'top-level NetworkMode', body: body('"NetworkMode":"host"'), variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS })
  escalation(t, { what: 'top-level CapAdd', body: body('"CapAdd":["SYS_ADMIN"]'), variable: 'ALLOW_CAPS=SYS_ADMIN', grant: { ALLOW_CAPS: 'SYS_ADMIN' } })
  escalation(t, { what: 'top-level SecurityOpt', body: body('"SecurityOpt":["seccomp=unconfined"]'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED })
  escalation(t, { what: 'top-level Devices', body: body('"Devices":[{"PathOnHost":"/dev/mem"}]'), variable: 'ALLOW_DEVICES=1', grant: DEVICES })
  escalation(t, { what: 'a HostConfig nulled after it, then a top-level field', body: body('"HostConfig":{"NetworkMode":"none"},"HostConfig":null,"Privileged":true'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV })
  // getHostConfig: with a non-nil inner HostConfig, the top-level copy is ignored (but for
  // Memory, MemorySwap, CpuShares, Cpuset and VolumeDriver)
  allowed(t, 'top-level Privileged beside an inner HostConfig', body('"Privileged":true,"Binds":["/:/h"],"HostConfig":{}'))
  allowed(t, 'an inner privileged HostConfig nulled, nothing at the top', body('"HostConfig":{"Privileged":true},"HostConfig":null'))
})

t.test('create: case-variant and duplicate-key bypass attempts', async (t) => {
  const cases: [string, string, string][] = [
    ['hostconfig/privileged', '{"Image":"busybox","hostconfig":{"privileged":true}}', 'ALLOW_PRIVILEGED=1'],
    ['HOSTCONFIG/PRIVILEGED', '{"Image":"busybox","HOSTCONFIG":{"PRIVILEGED":true}}', 'ALLOW_PRIVILEGED=1'],
    ['Privileged false then privileged true', create('{"Privileged":false,"privileged":true}'), 'ALLOW_PRIVILEGED=1'],
    ['\\u0050rivileged', create('{"\\u0050rivileged":true}'), 'ALLOW_PRIVILEGED=1'],
    ['Privileged true then privileged null', create('{"Privileged":true,"privileged":null}'), 'ALLOW_PRIVILEGED=1'],
    ['Bind\u017f', create('{"Bind\u017f":["/:/h"]}'), 'ALLOW_BIND=/'],
    ['Bind\\u017f escaped', create('{"Bind\\u017f":["/:/h"]}'), 'ALLOW_BIND=/'],
    ['Kelvin NetworKMode', create('{"Networ\u212aMode":"host"}'), 'ALLOW_HOST_NAMESPACES=1'],
    ['Ho\u017ftConfig', '{"Image":"busybox","Ho\u017ftConfig":{"Privileged":true}}', 'ALLOW_PRIVILEGED=1'],
    ['two HostConfig objects merge', '{"Image":"busybox","HostConfig":{"Binds":["/:/h"]},"hostconfig":{"NetworkMode":"none"}}', 'ALLOW_BIND=/'],
    ['the second HostConfig object adds Privileged', '{"Image":"busybox","HostConfig":{"NetworkMode":"none"},"hostconfig":{"Privileged":true}}', 'ALLOW_PRIVILEGED=1'],
    ['CapAdd then capadd', create('{"CapAdd":["CHOWN"],"capadd":["SYS_ADMIN"]}'), 'ALLOW_CAPS=SYS_ADMIN'],
    ['SecurityOpt via \\u escapes', create('{"\\u0053ecurityOpt":["seccomp=unconfined"]}'), 'ALLOW_UNCONFINED=1'],
  ]
  for (const [what, body, variable] of cases) refused(t, what, body, `set ${variable}`)
  const both = judge('POST', '/containers/create', '{"Image":"busybox","HostConfig":{"Binds":["/:/h"]},"hostconfig":{"Privileged":true}}')
  t.ok(!both.allow && both.reason.includes('ALLOW_BIND=/') && both.reason.includes('ALLOW_PRIVILEGED=1'), `merged objects: both findings named (${both.reason})`)
  allowed(t, 'Privileged true then PRIVILEGED false', create('{"Privileged":true,"PRIVILEGED":false}'))
  allowed(t, 'dotless ı is another key', create('{"Pr\u0131vileged":true}'))
})

t.test('create: bodies dockerd would not decode are 400', async (t) => {
  for (const [what, body] of [
    ['Privileged "true"', create('{"Privileged":"true"}')], ['Privileged 1', create('{"Privileged":1}')],
    ['trailing comma', create('{"Privileged":true,}')], ['trailing data', '{"Image":"x"} {"HostConfig":{"Privileged":true}}'],
    ['a top-level array', '[]'], ['a BOM', '\ufeff{"Image":"x"}'],
  ] as const) {
    const d = judge('POST', '/containers/create', body)
    t.equal(d.allow, false, `${what}: refused`)
    t.equal(!d.allow && d.status, 400, `${what}: 400 (${d.reason})`)
  }
  const invalid = judge('POST', '/containers/create', Buffer.concat([Buffer.from('{"Image":"x","HostConfig":{"Privileged":true,"x":"'), Buffer.from([0xff]), Buffer.from('"}}')]))
  t.equal(!invalid.allow && invalid.status, 400, `invalid UTF-8: 400 (${invalid.reason})`)
})

t.test('start: the old-API start body is judged like a create', async (t) => {
  escalation(t, { what: 'v1.23 start with Privileged', target: '/v1.23/containers/abc/start', body: '{"Privileged":true}', variable: 'ALLOW_PRIVILEGED=1', grant: PRIV })
  escalation(t, { what: 'v1.23 start with Binds', target: '/v1.23/containers/abc/start', body: '{"Binds":["/:/h"]}', variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' } })
  escalation(t, { what: 'v1.23 start with a HostConfig key', target: '/v1.23/containers/abc/start', body: '{"hostconfig":{"NetworkMode":"host"}}', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS })
  const config = parseConfig({ ALLOW_START: '1' })
  const first = decideRequest('POST', '/v1.23/containers/abc/start', 'application/json', config)
  t.ok(first.allow && first.readBody === true, 'ALLOW_START alone still has the body read')
  const second = first.allow ? decideBody('POST', '/v1.23/containers/abc/start', first, bytes('{"Privileged":true}'), config) : first
  t.equal(second.allow, false, 'and refused with ALLOW_START alone')
  allowed(t, 'a start without a body', '', '/containers/abc/start')
})

t.test('exec: Privileged', async (t) => {
  for (const body of ['{"Cmd":["sh"],"Privileged":true}', '{"Cmd":["sh"],"privileged":true}', '{"Cmd":["sh"],"Privileged":false,"PRIVILEGED":true}', '{"Cmd":["sh"],"\\u0050rivileged":true}', '{"Cmd":["sh"],"Privileged":true,"privileged":null}']) {
    escalation(t, { what: `exec ${body}`, target: '/containers/abc/exec', body, variable: 'ALLOW_PRIVILEGED=1', grant: PRIV, field: 'every capability' })
  }
  allowed(t, 'exec without Privileged', '{"Cmd":["sh"],"User":"0"}', '/containers/abc/exec')
  allowed(t, 'exec Privileged false', '{"Cmd":["sh"],"Privileged":false}', '/containers/abc/exec')
})

t.test('volumes: DriverOpts', async (t) => {
  const volume = (opts: string): string => `{"Name":"v","Driver":"local","DriverOpts":${opts}}`
  escalation(t, { what: 'o=bind', target: '/volumes/create', body: volume('{"type":"none","o":"bind","device":"/srv"}'), variable: 'ALLOW_BIND=/srv', grant: { ALLOW_BIND: '/srv' }, field: 'DriverOpts mounts device="/srv"' })
  escalation(t, { what: 'o=rbind,ro', target: '/volumes/create', body: volume('{"type":"none","o":"rbind,ro","device":"/etc"}'), variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' } })
  escalation(t, { what: 'tmpfs with o=bind binds the device', target: '/volumes/create', body: volume('{"type":"tmpfs","o":"bind","device":"/etc"}'), variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' } })
  escalation(t, { what: 'a block device', target: '/volumes/create', body: volume('{"type":"ext4","device":"/dev/sda1"}'), variable: 'ALLOW_BIND=/dev/sda1', grant: { ALLOW_BIND: '/dev/sda1' } })
  escalation(t, { what: 'nfs', target: '/volumes/create', body: volume('{"type":"nfs","o":"addr=10.0.0.1,rw","device":":/export"}'), variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' } })
  escalation(t, { what: 'options merged from a second driveropts', target: '/volumes/create', body: '{"Name":"v","DriverOpts":{"type":"none","o":"bind"},"driveropts":{"device":"/"}}', variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' } })
  escalation(t, { what: 'any driver with a device and no type', target: '/volumes/create', body: '{"Name":"v","Driver":"someplugin","DriverOpts":{"device":"/var"}}', variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' } }) // no type: nothing says what the device is
  allowed(t, 'tmpfs', volume('{"type":"tmpfs","device":"tmpfs","o":"size=1m,uid=1000"}'), '/volumes/create')
  allowed(t, 'no options', '{"Name":"v"}', '/volumes/create')
  allowed(t, 'size only', volume('{"size":"1G"}'), '/volumes/create')
  allowed(t, 'Device with a capital D (dockerd: invalid option)', volume('{"type":"none","o":"bind","Device":"/"}'), '/volumes/create')
  allowed(t, 'null body (dockerd: an anonymous volume)', 'null', '/volumes/create')
})

t.test('volumes: under ALLOW_BIND, a device inside the root must not mount host paths named elsewhere', async (t) => {
  // For overlay (and other types whose source is not `device`), the host paths are in `o`.
  // dockerd runs mount("/srv/app", path, "overlay", "lowerdir=/etc:/srv/app") at first use:
  // the volume shows the host's /etc (reproduced with dockerd 20.10 by the adversarial suite).
  const env = { ALLOW_BIND: '/srv/app' }
  refused(t, 'overlay with lowerdir=/etc', '{"Name":"v","DriverOpts":{"type":"overlay","device":"/srv/app","o":"lowerdir=/etc:/srv/app"}}', 'ALLOW_BIND', '/volumes/create', env)
  // Kernel filesystems ignore the device too: dockerd mounts them in its own namespaces, so
  // `proc` is the host's procfs (every host process; /sys/kernel/core_pattern) and `sysfs`
  // the host's (reproduced with dockerd 20.10 by reading /v/1/cmdline and /v/class/net).
  for (const type of ['proc', 'sysfs', 'cgroup', 'cgroup2', 'devtmpfs', 'debugfs']) {
    refused(t, `type=${type} with a device inside the root`, `{"Name":"v","DriverOpts":{"type":"${type}","device":"/srv/app"}}`, 'ALLOW_BIND', '/volumes/create', env)
  }
  refused(t, 'a volume Mount with overlay options', create('{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"type":"overlay","device":"/srv/app","o":"lowerdir=/etc:/srv/app"}}}}]}'), 'ALLOW_BIND', undefined, env)
  allowed(t, 'a bind of a path inside the root', '{"Name":"v","DriverOpts":{"type":"none","device":"/srv/app/data","o":"bind"}}', '/volumes/create', env)
})

t.test('services', async (t) => {
  const service = (task: string): string => `{"Name":"s","TaskTemplate":${task}}`
  for (const target of ['/services/create', '/services/abc/update?version=3']) {
    escalation(t, { what: `${target}: ContainerSpec.Mounts bind`, target, body: service('{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}}'), variable: 'ALLOW_BIND=/etc', grant: { ALLOW_BIND: '/etc' }, field: 'TaskTemplate.ContainerSpec.Mounts[0]' })
    escalation(t, { what: `${target}: ContainerSpec.Mounts volume with device`, target, body: service('{"ContainerSpec":{"Mounts":[{"Type":"volume","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/"}}}}]}}'), variable: 'ALLOW_BIND=/', grant: { ALLOW_BIND: '/' } })
    escalation(t, { what: `${target}: CapabilityAdd`, target, body: service('{"ContainerSpec":{"CapabilityAdd":["CAP_SYS_ADMIN"]}}'), variable: 'ALLOW_CAPS=SYS_ADMIN', grant: { ALLOW_CAPS: 'SYS_ADMIN' }, field: 'CapabilityAdd' })
    escalation(t, { what: `${target}: SELinux disable`, target, body: service('{"ContainerSpec":{"Privileges":{"SELinuxContext":{"Disable":true}}}}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: 'SELinuxContext' })
    escalation(t, { what: `${target}: SELinux type`, target, body: service('{"ContainerSpec":{"Privileges":{"SELinuxContext":{"Type":"spc_t"}}}}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED })
    escalation(t, { what: `${target}: Seccomp unconfined`, target, body: service('{"ContainerSpec":{"Privileges":{"Seccomp":{"Mode":"unconfined"}}}}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: 'Seccomp.Mode' })
    escalation(t, { what: `${target}: Seccomp custom`, target, body: service('{"ContainerSpec":{"Privileges":{"Seccomp":{"Mode":"custom"}}}}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED })
    escalation(t, { what: `${target}: AppArmor disabled`, target, body: service('{"ContainerSpec":{"Privileges":{"AppArmor":{"Mode":"disabled"}}}}'), variable: 'ALLOW_UNCONFINED=1', grant: UNCONFINED, field: 'AppArmor.Mode' })
    escalation(t, { what: `${target}: PluginSpec`, target, body: service('{"Runtime":"plugin","PluginSpec":{"name":"evil","remote":"evil/plugin"}}'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV, field: 'plugin' })
    escalation(t, { what: `${target}: Runtime plugin alone`, target, body: service('{"Runtime":"plugin"}'), variable: 'ALLOW_PRIVILEGED=1', grant: PRIV })
    escalation(t, { what: `${target}: TaskTemplate.Networks host`, target, body: service('{"ContainerSpec":{"Image":"x"},"Networks":[{"Target":"host"}]}'), variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: 'TaskTemplate.Networks[0].Target' })
    escalation(t, { what: `${target}: legacy top-level Networks host`, target, body: '{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"x"}},"Networks":[{"Target":"host"}]}', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: 'Networks[0].Target' })
  }
  escalation(t, { what: 'folded keys all the way down', target: '/services/create', body: '{"tasktemplate":{"containerspec":{"capabilityadd":["sys_admin"]}}}', variable: 'ALLOW_CAPS=SYS_ADMIN', grant: { ALLOW_CAPS: 'SYS_ADMIN' } })
  escalation(t, { what: 'Networks merged from a second TaskTemplate', target: '/services/create', body: '{"TaskTemplate":{"ContainerSpec":{"Image":"x"}},"tasktemplate":{"networks":[{"target":"host"}]}}', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS })
  allowed(t, 'an ordinary service', service('{"ContainerSpec":{"Image":"x","Mounts":[{"Type":"volume","Source":"data","Target":"/d"}],"CapabilityAdd":["CHOWN"],"Privileges":{"Seccomp":{"Mode":"default"},"AppArmor":{"Mode":"default"}}},"Networks":[{"Target":"mynet"}]}'), '/services/create')
})

t.test('build: query options', async (t) => {
  const build = (query: string): Escalation => ({ what: `/build?${query}`, target: `/build?${query}`, body: '', contentType: 'application/x-tar', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS })
  for (const query of ['networkmode=host', 'networkmode=HOST', 'networkmode=container:abc', 'network%6Dode=host', 'network%6dode=ho%73t', 't=x&networkmode=host', 'networkmode=host&networkmode=bridge', 'version=2', 'version=%32', 'networkmode=host&x=1;y=2', 'x=1#&networkmode=host']) {
    escalation(t, build(query))
  }
  for (const query of ['networkmode=bridge', 'networkmode=host+', 'network+mode=host', 'networkmode=none', 'version=1', 'NetworkMode=host', 'network%6mode=host', 'networkmode=host;x=1', '']) {
    allowed(t, `/build?${query}`, '', `/build?${query}`, {}, 'POST', 'application/x-tar')
  }
  t.same(queryValues('a=b+c&a=%41&b=1&a=%zz&a', 'a'), ['b c', 'A', ''], 'queryValues: + is a space, %XX decoded, a bad escape drops the pair, a bare key is ""')
  t.same(queryValues('name=x;y&name=z&name;=w&a=1;name=v', 'name'), ['z'], 'queryValues: a pair with a ; anywhere is dropped, as Go 1.17+ drops it')
})

t.test('build: a form Content-Type is refused whatever the grants', async (t) => {
  const every = { ...NS, ...PRIV, ...UNCONFINED, ...DEVICES, ALLOW_BIND: '/', ALLOW_CAPS: 'ALL' }
  for (const contentType of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-Urlencoded; charset=utf-8', 'multipart/form-data; boundary=x', ' multipart/form-data ;boundary=y']) {
    const d = judge('POST', '/build?t=x', '', every, contentType)
    t.equal(d.allow, false, `${contentType}: refused (${d.reason})`)
    t.equal(!d.allow && d.status, 403, `${contentType}: 403`)
    t.match(!d.allow && d.reason, /Content-Type/, `${contentType}: says why`)
  }
  for (const contentType of ['application/x-tar', 'application/octet-stream', undefined, 'multipart/mixed; boundary=x']) {
    allowed(t, `Content-Type ${contentType}`, '', '/build?t=x', {}, 'POST', contentType)
  }
})

t.test('BuildKit, swarm join and plugins need their grant', async (t) => {
  for (const target of ['/session', '/v1.41/session', '/grpc']) {
    escalation(t, { what: target, target, body: '', variable: 'ALLOW_HOST_NAMESPACES=1', grant: NS, field: 'BuildKit' })
  }
  escalation(t, { what: '/swarm/join', target: '/swarm/join', body: '{"RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"x"}', variable: 'ALLOW_PRIVILEGED=1', grant: PRIV, field: 'swarm' })
  for (const target of ['/plugins/pull?remote=x', '/v1.41/plugins/pull?remote=x', '/plugins/create?name=x', '/plugins/x/upgrade?remote=y', '/plugins/x:latest/set', '/plugins/org/x/set']) {
    escalation(t, { what: target, target, body: '[]', variable: 'ALLOW_PRIVILEGED=1', grant: PRIV, field: 'plugin' })
  }
  allowed(t, 'plugin enable (an installed plugin)', '', '/plugins/x/enable')
  allowed(t, 'swarm init', '{}', '/swarm/init')
})

t.test('json.ts accepts exactly what JSON.parse accepts (seeded mutations), lone surrogates aside', async (t) => {
  // A small deterministic generator: valid documents, then single-character edits.
  let seed = 20261201
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed % n
  }
  const atoms = ['0', '-1', '1.5', '2e10', '-0.0E-3', 'true', 'false', 'null', '""', '"a\\"b"', '"\\u0041\\n"', '"ſ"', '{}', '[]']
  const value = (depth: number): string => {
    if (depth > 3 || random(3) === 0) return atoms[random(atoms.length)]!
    if (random(2) === 0) return `[${Array.from({ length: random(4) }, () => value(depth + 1)).join(',')}]`
    return `{${Array.from({ length: random(4) }, () => `"k${random(3)}":${value(depth + 1)}`).join(',')}}`
  }
  const noise = [' ', '\t', '\n', ',', ':', '[', ']', '{', '}', '"', '\\', '0', '-', '.', 'e', '+', 'x', '\u0001', '\u00a0', '/', '*', '\ufeff']
  let disagreements = 0
  let cases = 0
  for (let i = 0; i < 4000; i++) {
    let text = value(0)
    const edits = random(3)
    for (let e = 0; e < edits; e++) {
      const at = random(text.length + 1)
      const kind = random(3)
      const ch = noise[random(noise.length)]!
      text = kind === 0 ? text.slice(0, at) + ch + text.slice(at) : kind === 1 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + ch + text.slice(at + 1)
    }
    let expected: boolean
    try {
      JSON.parse(text)
      expected = true
    } catch {
      expected = false
    }
    const got = parseJson(Buffer.from(text)).ok
    cases++
    if (got !== expected) {
      disagreements++
      t.fail(`${JSON.stringify(text)}: JSON.parse ${expected ? 'accepts' : 'refuses'}, parseJson ${got ? 'accepts' : 'refuses'}`)
    }
  }
  t.equal(disagreements, 0, `${cases} documents, no disagreement`)
})

t.test('CGROUP_PARENT: containers get the forced parent appended, another one is refused', async (t) => {
  const env = { CGROUP_PARENT: '/ci-a' }
  const forced = (body: string): GoObject | undefined => {
    const d = judge('POST', '/v1.41/containers/create', body, env)
    if (!d.allow) return undefined
    t.equal(d.appendToBody, '"HostConfig":{"CgroupParent":"/ci-a"}', 'the rewrite appends HostConfig.CgroupParent')
    const rewritten = appendMembers(bytes(body), d.appendToBody!)
    const decoded = decodeBody(ContainerCreateWrapper, rewritten)
    t.equal(decoded.problem, undefined, `the rewritten body still decodes: ${rewritten.toString()}`)
    return decoded.value
  }
  const plain = forced('{"Image":"x","HostConfig":{"Privileged":false,"Binds":["v:/data"]}}')
  t.equal((plain?.HostConfig as GoObject).CgroupParent, '/ci-a', 'forced on a body that named none')
  t.same((plain?.HostConfig as GoObject).Binds, ['v:/data'], 'the rest of HostConfig is kept (Go merges the appended object)')
  t.equal((forced('{"Image":"x","HostConfig":{"CgroupParent":"/ci-a"}}')?.HostConfig as GoObject).CgroupParent, '/ci-a', 'the forced one itself is fine')
  t.equal((forced('{"Image":"x"}')?.HostConfig as GoObject).CgroupParent, '/ci-a', 'no HostConfig at all: one is added')
  t.equal((forced('{"Image":"x","HostConfig":null}')?.HostConfig as GoObject).CgroupParent, '/ci-a', 'HostConfig null: one is added')
  t.equal((forced('{}')?.HostConfig as GoObject).CgroupParent, '/ci-a', 'an empty object')
  t.equal(appendMembers(bytes('{ \n}'), '"a":1').toString(), '{ \n"a":1}', 'an empty object with whitespace gets no comma')
  t.equal(appendMembers(bytes('{"x":{}}\n'), '"a":1').toString(), '{"x":{},"a":1}\n', 'after the last member, before the closing brace')
  t.equal(appendMembers(bytes('null'), '"a":1').toString(), '{"a":1}', 'null becomes an object of the members')

  for (const [label, body] of [
    ['another parent', '{"Image":"x","HostConfig":{"CgroupParent":"/other"}}'],
    ['a case variant', '{"Image":"x","HostConfig":{"CgroupParent":"/ci-a","cgroupparent":"/other"}}'],
    ['a second HostConfig merging', '{"Image":"x","HostConfig":{},"hostconfig":{"CgroupParent":"/other"}}'],
    ['top-level fields without HostConfig (20.10 reads them)', '{"Image":"x","CgroupParent":"/other"}'],
  ] as const) {
    const d = judge('POST', '/v1.41/containers/create', body, env)
    t.equal(d.allow, false, `${label}: refused`)
    if (!d.allow) t.match(d.reason, /CGROUP_PARENT/, `${label}: names CGROUP_PARENT: ${d.reason}`)
  }
  const owned = judge('POST', '/v1.41/containers/create', '{"Image":"x","VolumesFrom":["c"]}', { OWNER: 'a' })
  t.equal(owned.allow, false, 'with OWNER too, top-level HostConfig fields are refused (an appended HostConfig would hide them)')
  if (!owned.allow) t.match(owned.reason, /top level.*OWNER/, `names OWNER: ${owned.reason}`)
  const start = judge('POST', '/v1.23/containers/c/start', '{"CapAdd":["CHOWN"]}', { ...env, ALLOW_START: '1' })
  t.equal(start.allow, false, 'a start body (which replaces the HostConfig) is refused')
  t.equal(judge('POST', '/v1.23/containers/c/start', '{}', { ...env, ALLOW_START: '1' }).allow, true, 'an empty start body is fine')
  t.equal(judge('POST', '/v1.41/containers/create', '{"Image":"x","HostConfig":{"CgroupParent":"/other"}}', {}).allow, true, 'without CGROUP_PARENT any parent passes')
})

t.test('CGROUP_PARENT: classic builds get cgroupparent in the query, BuildKit is refused', async (t) => {
  const env = { CGROUP_PARENT: '/ci-a', BUILD: '1' }
  const none = judge('POST', '/v1.41/build?t=x', undefined, env, 'application/x-tar')
  t.equal(none.allow && none.forward, '/v1.41/build?t=x&cgroupparent=%2Fci-a', 'appended to the query')
  const bare = judge('POST', '/build', undefined, env, 'application/x-tar')
  t.equal(bare.allow && bare.forward, '/build?cgroupparent=%2Fci-a', 'a query is started when there is none')
  const same = judge('POST', '/build?cgroupparent=%2Fci-a', undefined, env, 'application/x-tar')
  t.equal(same.allow && same.forward, '/build?cgroupparent=%2Fci-a', 'the forced one is not added twice')
  for (const [label, target] of [
    ['another parent', '/build?cgroupparent=/other'],
    ['an empty one first (FormValue takes the first)', '/build?cgroupparent=&cgroupparent=%2Fci-a'],
    ['a percent-encoded key', '/build?cgroup%70arent=/other'],
    ['BuildKit', '/build?version=2'],
  ] as const) {
    const d = judge('POST', target, undefined, { ...env, ALLOW_HOST_NAMESPACES: '1' }, 'application/x-tar')
    t.equal(d.allow, false, `${label}: refused`)
    if (!d.allow) t.match(d.reason, /CGROUP_PARENT/, `${label}: names CGROUP_PARENT: ${d.reason}`)
  }
  for (const path of ['/session', '/grpc']) {
    const d = judge('POST', path, undefined, { ...env, SESSION: '1', GRPC: '1', ALLOW_HOST_NAMESPACES: '1' })
    t.equal(d.allow, false, `${path}: refused under CGROUP_PARENT even with ALLOW_HOST_NAMESPACES`)
  }
})
