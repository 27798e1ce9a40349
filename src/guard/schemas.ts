// The structs dockerd decodes each guarded body into (moby v20.10.24 and current moby),
// reduced to the fields the guard judges. Field names are the JSON names.
import { bool, int, mapOf, pointerTo, sliceOf, string, strslice, struct, structOf, withEmbedded, type GoStruct } from './go-types.ts'

// api/types/mount: Mount, BindOptions, VolumeOptions, Driver
const Driver = struct('Driver', { Name: string, Options: mapOf(string) })
const Mount = struct('Mount', {
  Type: string,
  Source: string,
  Target: string,
  BindOptions: pointerTo(struct('BindOptions', { Propagation: string })),
  VolumeOptions: pointerTo(struct('VolumeOptions', { DriverConfig: pointerTo(Driver) })),
})

// api/types/container: HostConfig with its embedded Resources (a struct value, so its
// fields are simply HostConfig's).
export const HostConfig: GoStruct = struct('HostConfig', {
  Binds: sliceOf(string),
  NetworkMode: string,
  VolumesFrom: sliceOf(string),
  Links: sliceOf(string),
  CapAdd: strslice,
  CapDrop: strslice,
  // API 1.40 only: replaces dockerd's default capability set (20.10 daemon/oci_linux.go).
  Capabilities: sliceOf(string),
  CgroupnsMode: string,
  IpcMode: string,
  PidMode: string,
  Privileged: bool,
  SecurityOpt: sliceOf(string),
  UTSMode: string,
  UsernsMode: string,
  Mounts: sliceOf(structOf(Mount)),
  MaskedPaths: sliceOf(string),
  ReadonlyPaths: sliceOf(string),
  // Resources
  CgroupParent: string,
  Devices: sliceOf(structOf(struct('DeviceMapping', { PathOnHost: string, PathInContainer: string }))),
  DeviceCgroupRules: sliceOf(string),
  DeviceRequests: sliceOf(structOf(struct('DeviceRequest', { Driver: string, Count: int }))),
})

const NetworkingConfig = struct('NetworkingConfig', {
  EndpointsConfig: mapOf(pointerTo(struct('EndpointSettings', {}))),
})

/**
 * `POST /containers/create` (and the start body of API < 1.24) on Engine 20.10 up to
 * 26.x: runconfig.ContainerConfigWrapper embeds `*container.Config` and
 * `*container.HostConfig` next to its own `HostConfig` field, so every HostConfig field
 * is also read at the top level, into the embedded copy (`TopHostConfig` here).
 */
export const ContainerCreateWrapper: GoStruct = withEmbedded(
  'ContainerConfigWrapper',
  // Image, Cmd and Entrypoint are container.Config's, embedded at the same depth: only logged and matched against ALLOW_IMAGES.
  struct('ContainerConfigWrapper', { Image: string, Cmd: strslice, Entrypoint: strslice, HostConfig: pointerTo(HostConfig), NetworkingConfig: pointerTo(NetworkingConfig) }),
  { via: 'TopHostConfig', struct: HostConfig },
)

/** `POST /containers/{id}/exec`: types.ExecConfig (current moby: container.ExecCreateRequest). */
export const ExecConfig: GoStruct = struct('ExecConfig', { Privileged: bool, User: string, Cmd: sliceOf(string) })

/** `POST /volumes/create`: volume.VolumeCreateBody (current moby: volume.CreateRequest). */
export const VolumeCreate: GoStruct = struct('VolumeCreateBody', { Name: string, Driver: string, DriverOpts: mapOf(string) })

// api/types/swarm
const NetworkAttachment = struct('NetworkAttachmentConfig', { Target: string })
const ContainerSpec = struct('ContainerSpec', {
  Image: string,
  Command: sliceOf(string),
  Args: sliceOf(string),
  Mounts: sliceOf(structOf(Mount)),
  CapabilityAdd: sliceOf(string),
  Privileges: pointerTo(struct('Privileges', {
    SELinuxContext: pointerTo(struct('SELinuxContext', { Disable: bool, User: string, Role: string, Type: string, Level: string })),
    // current moby, API >= 1.44
    Seccomp: pointerTo(struct('SeccompOpts', { Mode: string })),
    AppArmor: pointerTo(struct('AppArmorOpts', { Mode: string })),
  })),
})
// runtime.PluginSpec is a protobuf type: its JSON names are lowercase.
const PluginSpec = struct('PluginSpec', { name: string, remote: string })

/** `POST /services/create` and `/services/{id}/update`: swarm.ServiceSpec. */
export const ServiceSpec: GoStruct = struct('ServiceSpec', {
  TaskTemplate: structOf(struct('TaskSpec', {
    ContainerSpec: pointerTo(ContainerSpec),
    PluginSpec: pointerTo(PluginSpec),
    Networks: sliceOf(structOf(NetworkAttachment)),
    Runtime: string,
  })),
  // Deprecated service-level networks: 20.10 passes them to swarmkit too.
  Networks: sliceOf(structOf(NetworkAttachment)),
})

/** Bodies the guard reads only to stamp the owner label (OWNER): nothing in them is judged. */
export const LabelledCreate: GoStruct = struct('CreateRequest', { Name: string })

/** `POST /networks/{id}/connect` and `/disconnect`: the container named in the body. */
export const NetworkConnect: GoStruct = struct('NetworkConnect', { Container: string, Name: string })
