import { parseDomainXML } from '@qvirt/core';
import { describe, expect, it } from 'vitest';
import { referenceContext } from '../../context.js';
import { buildCommandLine } from '../index.js';

const pci = (slot: number) =>
  `<address type='pci' domain='0x0000' bus='0x00' slot='${slot}' function='0x0'/>`;

/** A canonical (post-parse) definition with the given devices. */
const domain = (devices: string) =>
  `<domain type='qemu'><name>av</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>` +
  `<memory unit='KiB'>219136</memory><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type></os><devices>` +
  `<emulator>/usr/bin/qemu-system-x86_64</emulator>` +
  `<controller type='usb' index='0' model='piix3-uhci'>${pci(1).replace("function='0x0'", "function='0x2'")}</controller>` +
  `<controller type='pci' index='0' model='pci-root'/>${devices}<memballoon model='none'/></devices></domain>`;

function build(devices: string, ctx = referenceContext()) {
  return buildCommandLine(parseDomainXML(domain(devices)), ctx);
}

function args(devices: string, ctx = referenceContext()): string[] {
  return build(devices, ctx).args;
}

/** The values following each occurrence of `option`. */
function values(words: string[], option: string): string[] {
  return words.flatMap((w, i) => (w === option ? [words[i + 1]!] : []));
}

/** The JSON values of `option`, without the USB controller every test domain has. */
const json = (words: string[], option: string) =>
  values(words, option)
    .map((v) => JSON.parse(v))
    .filter((v) => v.driver !== 'piix3-usb-uhci');

describe('audio backends', () => {
  it('names QEMU drivers and keeps libvirt key order', () => {
    const words = args(
      `<audio id='1' type='pulseaudio' timerPeriod='50' serverName='srv'>` +
        `<input mixingEngine='yes' fixedSettings='yes' voices='1' name='fish'><settings frequency='44100' channels='2' format='s16'/></input>` +
        `<output fixedSettings='no' bufferLength='200'><settings frequency='22050'/></output></audio>` +
        `<audio id='2' type='file' path='a,b.wav'/>`,
    );
    expect(values(words, '-audiodev')).toEqual([
      '{"id":"audio1","driver":"pa","timer-period":50,"server":"srv",' +
        '"in":{"mixing-engine":true,"fixed-settings":true,"voices":1,"frequency":44100,"channels":2,"format":"s16","name":"fish"},' +
        '"out":{"fixed-settings":false,"buffer-length":200}}',
      '{"id":"audio2","driver":"wav","path":"a,b.wav"}',
    ]);
  });

  it('puts OSS settings on the backend and SDL driver in the environment', () => {
    const cl = build(
      `<audio id='1' type='oss' tryMMap='yes' exclusive='no' dspPolicy='3'><input dev='/dev/dsp0' tryPoll='yes'/></audio>` +
        `<audio id='2' type='sdl' driver='pulseaudio'/>`,
    );
    expect(json(cl.args, '-audiodev')[0]).toEqual({
      id: 'audio1',
      driver: 'oss',
      'try-mmap': true,
      exclusive: false,
      'dsp-policy': 3,
      in: { dev: '/dev/dsp0', 'try-poll': true },
    });
    expect(cl.env).toContainEqual(['SDL_AUDIODRIVER', 'pulseaudio']);
  });
});

describe('graphics', () => {
  const audio = `<audio id='1' type='none'/>`;

  it('prints VNC auto ports as display 0 and the listen from qemu.conf', () => {
    const words = args(
      `<graphics type='vnc' port='-1' autoport='yes'><listen type='address'/></graphics>${audio}`,
    );
    expect(values(words, '-vnc')).toEqual(['127.0.0.1:0,audiodev=audio1']);
  });

  it('brackets IPv6, adds websocket, share, power control and keymap', () => {
    const words = args(
      `<graphics type='vnc' port='5903' autoport='no' websocket='5700' keymap='de' sharePolicy='force-shared' powerControl='yes'>` +
        `<listen type='address' address='::1'/></graphics>${audio}`,
    );
    expect(values(words, '-vnc')).toEqual([
      '[::1]:3,websocket=5700,share=force-shared,power-control=on,audiodev=audio1',
    ]);
    expect(values(words, '-k')).toEqual(['de']);
  });

  it('escapes commas of a VNC socket and generates one in the private dir', () => {
    expect(
      values(
        args(`<graphics type='vnc'><listen type='socket' socket='/tmp/a,b.sock'/></graphics>${audio}`),
        '-vnc',
      ),
    ).toEqual(['vnc=unix:/tmp/a,,b.sock,audiodev=audio1']);
    expect(values(args(`<graphics type='vnc'><listen type='socket'/></graphics>${audio}`), '-vnc')).toEqual([
      'vnc=unix:/var/lib/libvirt/qemu/domain--1-av/vnc.sock,audiodev=audio1',
    ]);
  });

  it('follows qemu.conf for VNC passwords, SASL and TLS', () => {
    const ctx = referenceContext();
    ctx.conf = {
      ...ctx.conf,
      vncSasl: true,
      vncSaslDir: '/etc/sasl2',
      vncTls: true,
      vncTlsX509CertDir: '/pki',
    };
    const cl = build(
      `<graphics type='vnc' port='5900' autoport='no' passwd='secret'><listen type='address' address='0.0.0.0'/></graphics>${audio}`,
      ctx,
    );
    expect(values(cl.args, '-vnc')).toEqual([
      '0.0.0.0:0,password=on,tls-creds=vnc-tls-creds0,sasl=on,audiodev=audio1',
    ]);
    expect(json(cl.args, '-object')).toContainEqual({
      'qom-type': 'tls-creds-x509',
      id: 'vnc-tls-creds0',
      dir: '/pki',
      endpoint: 'server',
      'verify-peer': false,
    });
    expect(cl.env).toContainEqual(['SASL_CONF_PATH', '/etc/sasl2']);
  });

  it('refuses a VNC port out of range and several listens', () => {
    expect(() =>
      args(
        `<graphics type='vnc' port='5000' autoport='no'><listen type='address' address='127.0.0.1'/></graphics>${audio}`,
      ),
    ).toThrow('vnc port must be in range [5900,65535]');
    expect(() =>
      args(
        `<graphics type='vnc'><listen type='address' address='127.0.0.1'/><listen type='address' address='::1'/></graphics>${audio}`,
      ),
    ).toThrow('QEMU does not support multiple listens for one graphics device.');
  });

  it('builds SPICE options in libvirt order', () => {
    const words = args(
      `<graphics type='spice' port='5903' autoport='no' keymap='en-us'><listen type='address' address='127.0.0.1'/>` +
        `<channel name='inputs' mode='insecure'/><channel name='main' mode='insecure'/>` +
        `<image compression='auto_glz'/><jpeg compression='auto'/><zlib compression='auto'/><playback compression='on'/>` +
        `<streaming mode='filter'/><mouse mode='client'/><clipboard copypaste='no'/><filetransfer enable='no'/>` +
        `</graphics><audio id='1' type='spice'/>`,
    );
    expect(values(words, '-spice')).toEqual([
      'port=5903,addr=127.0.0.1,agent-mouse=on,disable-ticketing=on,plaintext-channel=main,plaintext-channel=inputs,' +
        'image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,playback-compression=on,' +
        'streaming-video=filter,disable-copy-paste=on,disable-agent-file-xfer=on,seamless-migration=on',
    ]);
    expect(values(words, '-k')).toEqual(['en-us']);
  });

  it('gives SPICE placeholder ports, port=0 without listen, and a unix socket', () => {
    const spice = (inner: string, attrs = '') =>
      values(
        args(`<graphics type='spice'${attrs}>${inner}</graphics><audio id='1' type='spice'/>`),
        '-spice',
      );
    expect(spice(`<listen type='address'/>`, ` autoport='yes'`)).toEqual([
      'port=5901,addr=127.0.0.1,disable-ticketing=on,seamless-migration=on',
    ]);
    expect(spice(`<listen type='none'/>`)).toEqual(['port=0,disable-ticketing=on,seamless-migration=on']);
    expect(spice(`<listen type='socket' socket='/tmp/s,p.sock'/>`)).toEqual([
      'unix,addr=/tmp/s,,p.sock,disable-ticketing=on,seamless-migration=on',
    ]);
    expect(spice(`<listen type='none'/><gl enable='yes' rendernode='/dev/dri/foo'/>`)).toEqual([
      'port=0,disable-ticketing=on,gl=on,rendernode=/dev/dri/foo,seamless-migration=on',
    ]);
  });

  it('refuses secure SPICE channels without TLS', () => {
    expect(() =>
      args(
        `<graphics type='spice'><listen type='none'/><channel name='main' mode='secure'/></graphics><audio id='1' type='spice'/>`,
      ),
    ).toThrow('spice secure channels set in XML configuration, but TLS connection is not available');
  });

  it('builds SDL, egl-headless and D-Bus displays', () => {
    const cl = build(
      `<graphics type='sdl' display=':0.1' xauth='/root/.Xauthority' fullscreen='yes'><gl enable='yes'/></graphics>`,
    );
    expect(cl.env).toEqual(
      expect.arrayContaining([
        ['XAUTHORITY', '/root/.Xauthority'],
        ['DISPLAY', ':0.1'],
      ]),
    );
    expect(cl.args.join(' ')).toContain('-full-screen -display sdl,gl=on');
    expect(
      values(args(`<graphics type='egl-headless'><gl rendernode='/dev/dri/a,b'/></graphics>`), '-display'),
    ).toContain('egl-headless,rendernode=/dev/dri/a,,b');
    expect(values(args(`<graphics type='dbus'/>`), '-display')).toContain(
      'dbus,addr=unix:path=/run/libvirt/qemu/dbus/-1-av-dbus.sock',
    );
    expect(
      values(
        args(`<graphics type='dbus' p2p='yes'><audio id='1'/></graphics><audio id='1' type='dbus'/>`),
        '-display',
      ),
    ).toContain('dbus,p2p=on,audiodev=audio1');
  });
});

describe('inputs', () => {
  it('builds USB and virtio inputs and ignores PS/2 ones', () => {
    const words = args(
      `<input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>` +
        `<input type='mouse' bus='virtio'><driver ats='on'/>${pci(3)}</input>` +
        `<input type='passthrough' bus='virtio'><source evdev='/dev/input/event1'/>${pci(4)}</input>` +
        `<input type='mouse' bus='ps2'/>`,
    );
    expect(json(words, '-device')).toEqual([
      { driver: 'usb-tablet', id: 'input0', bus: 'usb.0', port: '1' },
      { driver: 'virtio-mouse-pci', ats: true, id: 'input1', bus: 'pci.0', addr: '0x3' },
      {
        driver: 'virtio-input-host-pci',
        id: 'input2',
        evdev: '/dev/input/event1',
        bus: 'pci.0',
        addr: '0x4',
      },
    ]);
  });

  it('makes an evdev input an input-linux object', () => {
    const words = args(
      `<input type='evdev'><source dev='/dev/input/event1234' grab='all' grabToggle='alt-alt' repeat='on'/></input>`,
    );
    expect(values(words, '-object')).toContain(
      '{"qom-type":"input-linux","id":"input0","evdev":"/dev/input/event1234","repeat":true,"grab_all":true,"grab-toggle":"alt-alt"}',
    );
  });
});

describe('video', () => {
  it('picks VGA-compatible models for the primary adapter', () => {
    const words = args(
      `<video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1' primary='yes'/>${pci(2)}</video>` +
        `<video><model type='qxl' ram='65536' vram='32768' vram64='131072' vgamem='8192' heads='2'/>${pci(3)}</video>` +
        `<video><model type='virtio' heads='1'><acceleration accel3d='yes'/><resolution x='800' y='600'/></model>${pci(4)}</video>`,
    );
    expect(json(words, '-device')).toEqual([
      {
        driver: 'qxl-vga',
        id: 'video0',
        max_outputs: 1,
        ram_size: 67108864,
        vram_size: 67108864,
        vram64_size_mb: 0,
        vgamem_mb: 16,
        bus: 'pci.0',
        addr: '0x2',
      },
      {
        driver: 'qxl',
        id: 'video1',
        max_outputs: 2,
        ram_size: 67108864,
        vram_size: 33554432,
        vram64_size_mb: 128,
        vgamem_mb: 8,
        bus: 'pci.0',
        addr: '0x3',
      },
      {
        driver: 'virtio-gpu-gl-pci',
        id: 'video2',
        max_outputs: 1,
        xres: 800,
        yres: 600,
        bus: 'pci.0',
        addr: '0x4',
      },
    ]);
  });

  it('sizes VGA and bochs memory, skips type none', () => {
    expect(
      json(
        args(`<video><model type='vga' vram='16384' heads='1' primary='yes'/>${pci(2)}</video>`),
        '-device',
      ),
    ).toEqual([{ driver: 'VGA', id: 'video0', vgamem_mb: 16, bus: 'pci.0', addr: '0x2' }]);
    expect(
      json(
        args(`<video><model type='bochs' vram='16384' heads='1' primary='yes'/>${pci(2)}</video>`),
        '-device',
      ),
    ).toEqual([{ driver: 'bochs-display', id: 'video0', vgamem: 16777216, bus: 'pci.0', addr: '0x2' }]);
    expect(json(args(`<video><model type='none'/></video>`), '-device')).toEqual([]);
  });
});

describe('sound and watchdog', () => {
  it('adds codecs to HDA controllers (a duplex one by default) and audiodev elsewhere', () => {
    const words = args(
      `<sound model='ich6'>${pci(3)}</sound><sound model='ich9'><codec type='micro'/><codec type='output'/>${pci(4)}</sound>` +
        `<sound model='ac97'><audio id='1'/>${pci(5)}</sound><sound model='pcspk'/><audio id='1' type='none'/>`,
    );
    expect(json(words, '-device')).toEqual([
      { driver: 'intel-hda', id: 'sound0', bus: 'pci.0', addr: '0x3' },
      { driver: 'hda-duplex', id: 'sound0-codec0', bus: 'sound0.0', cad: 0, audiodev: 'audio1' },
      { driver: 'ich9-intel-hda', id: 'sound1', bus: 'pci.0', addr: '0x4' },
      { driver: 'hda-micro', id: 'sound1-codec0', bus: 'sound1.0', cad: 0, audiodev: 'audio1' },
      { driver: 'hda-output', id: 'sound1-codec1', bus: 'sound1.0', cad: 1, audiodev: 'audio1' },
      { driver: 'AC97', id: 'sound2', audiodev: 'audio1', bus: 'pci.0', addr: '0x5' },
    ]);
    expect(values(words, '-soundhw')).toEqual(['pcspk']);
  });

  it('refuses a sound device without an audio backend', () => {
    expect(() => args(`<sound model='es1370'>${pci(3)}</sound>`)).toThrow(
      'internal error: unable to find audio backend for sound device',
    );
  });

  it('turns the dump action into pause', () => {
    const words = args(`<watchdog model='i6300esb' action='dump'>${pci(5)}</watchdog>`);
    expect(json(words, '-device')).toEqual([
      { driver: 'i6300esb', id: 'watchdog0', bus: 'pci.0', addr: '0x5' },
    ]);
    expect(values(words, '-watchdog-action')).toEqual(['pause']);
  });
});
