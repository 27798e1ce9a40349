// Linux capability names as dockerd accepts them (oci/caps), without the CAP_ prefix.

/** dockerd's default set (20.10 and current moby oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: ReadonlySet<string> = new Set([
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID',
  'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
])

export const KNOWN_CAPABILITIES: ReadonlySet<string> = new Set([
  ...DEFAULT_CAPABILITIES,
  'DAC_READ_SEARCH', 'LINUX_IMMUTABLE', 'NET_BROADCAST', 'NET_ADMIN', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'LEASE', 'AUDIT_CONTROL', 'MAC_OVERRIDE',
  'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
])

/**
 * How dockerd reads a capability name (oci/caps NormalizeLegacyCapabilities): Go's
 * strings.ToUpper, then without `CAP_`. Go upper-cases each character by its simple
 * mapping (`ſ` becomes `S`); JavaScript's one-to-many mappings (`ß` to `SS`) are not
 * Go's, so such characters stay as they are.
 */
export function normalizeCapability(name: string): string {
  let upper = ''
  for (const char of name) {
    const mapped = char.toUpperCase()
    upper += [...mapped].length === 1 ? mapped : char
  }
  return upper.startsWith('CAP_') ? upper.slice(4) : upper
}
