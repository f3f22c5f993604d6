/**
 * `<video>`: one `-device` per adapter (qemuBuildVideoCommandLine, qemuBuildDeviceVideoCmd). The
 * primary adapter gets the model with VGA compatibility (`VGA`, `qxl-vga`, `virtio-vga`, …),
 * secondary ones the plain model (`qxl`, `virtio-gpu-pci`).
 */
import { hasFlag } from '../../caps/qemu-caps.js';
import type { QemuContext } from '../../context.js';
import { add, type Build } from '../build.js';
import { deviceAddressProps } from '../device-address.js';
import { jsonProps, type PropObject } from '../props.js';
import { virtioDevProps } from '../storage-virtio-props.js';
import type { VideoDef } from './av-util.js';
import { hostDrmRenderNode, internalError, tristate, unsupported } from './av-util.js';

interface VideoModel {
  /** QEMU's device name. */
  name: string;
  /** Built like the other virtio devices (driver name, virtio options). */
  virtio: boolean;
  /** For virtio: the `-pci` suffix is appended to `name`. */
  busSuffix: boolean;
}

/** qemuDomainSupportsVideoVga. */
function supportsVga(ctx: QemuContext, video: VideoDef, vhostUser: boolean): boolean {
  if (video.model?.type !== 'virtio') return true;
  return hasFlag(ctx.caps, vhostUser ? 'vhost-user-vga' : 'virtio-vga');
}

/** qemuDeviceVideoGetModel. */
export function videoModel(ctx: QemuContext, video: VideoDef): VideoModel {
  const type = video.model?.type ?? 'default';
  const vhostUser = video.driver?.name === 'vhostuser';
  const accel3d = video.model?.acceleration?.accel3d === 'yes';
  const primaryVga = video.model?.primary === 'yes' && supportsVga(ctx, video, vhostUser);
  let model: VideoModel | undefined;
  if (vhostUser) {
    model = primaryVga
      ? { name: 'vhost-user-vga', virtio: false, busSuffix: false }
      : { name: 'vhost-user-gpu', virtio: true, busSuffix: true };
  } else if (primaryVga) {
    const plain: Record<string, string> = {
      vga: 'VGA',
      cirrus: 'cirrus-vga',
      vmvga: 'vmware-svga',
      qxl: 'qxl-vga',
      bochs: 'bochs-display',
      ramfb: 'ramfb',
    };
    if (plain[type]) model = { name: plain[type], virtio: false, busSuffix: false };
    else if (type === 'virtio') {
      const gl = hasFlag(ctx.caps, 'virtio-vga-gl') && accel3d;
      model = { name: gl ? 'virtio-vga-gl' : 'virtio-vga', virtio: true, busSuffix: false };
    }
  } else if (type === 'qxl') {
    model = { name: 'qxl', virtio: false, busSuffix: false };
  } else if (type === 'virtio') {
    const gl = hasFlag(ctx.caps, 'virtio-gpu-gl-pci') && accel3d;
    model = { name: gl ? 'virtio-gpu-gl' : 'virtio-gpu', virtio: true, busSuffix: true };
  }
  if (!model) throw internalError(`invalid model for video type '${type}'`);
  return model;
}

/** `p:` of virJSONValueObjectAdd: a positive number, or left out. */
const positive = (n: number | undefined): number | undefined => (n ? n : undefined);

function videoProps(b: Build, video: VideoDef): PropObject {
  const ctx = b.ctx;
  const m = videoModel(ctx, video);
  const type = video.model?.type;
  const vhostUser = video.driver?.name === 'vhostuser';
  const props: PropObject = m.virtio
    ? virtioDevProps(
        ctx,
        m.name,
        { address: video.address, driver: video.driver },
        { useBusSuffix: m.busSuffix },
      )
    : { driver: m.name };
  let virgl: boolean | undefined;
  if (!vhostUser && type === 'virtio' && video.model?.acceleration && hasFlag(ctx.caps, 'virtio-gpu.virgl')) {
    virgl = tristate(video.model.acceleration.accel3d);
  }
  const maxOutputs = type === 'qxl' || type === 'virtio' ? positive(video.model?.heads) : undefined;
  Object.assign(props, { id: video.alias?.name, virgl, max_outputs: maxOutputs });
  const model = video.model ?? {};
  if (type === 'qxl') {
    props.ram_size = positive((model.ram ?? 0) * 1024);
    props.vram_size = positive((model.vram ?? 0) * 1024);
    if (hasFlag(ctx.caps, 'qxl.vram64_size_mb'))
      props.vram64_size_mb = Math.floor((model.vram64 ?? 0) / 1024);
    if (hasFlag(ctx.caps, 'qxl.vgamem_mb')) props.vgamem_mb = Math.floor((model.vgamem ?? 0) / 1024);
  } else if (vhostUser) {
    props.chardev = `chr-vu-${video.alias?.name ?? ''}`;
  } else if (
    (type === 'vga' && hasFlag(ctx.caps, 'VGA.vgamem_mb')) ||
    (type === 'vmvga' && hasFlag(ctx.caps, 'vmware-svga.vgamem_mb'))
  ) {
    props.vgamem_mb = positive(Math.floor((model.vram ?? 0) / 1024));
  } else if (type === 'bochs') {
    props.vgamem = positive((model.vram ?? 0) * 1024);
  }
  if (model.resolution) {
    props.xres = positive(model.resolution.x);
    props.yres = positive(model.resolution.y);
  }
  Object.assign(props, deviceAddressProps(b.def, video));
  return props;
}

export function video(b: Build): void {
  for (const v of b.def.devices?.video ?? []) {
    if (v.model?.type === 'none') continue;
    if (v.driver?.name === 'vhostuser') {
      // The external vhost-user-gpu helper is started first (qemuExtDevicesPrepareDomain); it
      // needs a render node.
      if (!v.model?.acceleration?.rendernode) hostDrmRenderNode();
      throw unsupported('vhost-user video devices are not supported');
    }
    add(b, '-device', jsonProps(videoProps(b, v)));
  }
}
