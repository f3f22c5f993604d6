import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatSysinfo, parseDmidecode, readHostSysinfo } from './sysinfo.js';

// This host has no DMI tables (dmidecode fails), so the parse is checked on dmidecode's text as a
// QEMU guest's SeaBIOS gives it: the one thing faked here is dmidecode's output.
const DMIDECODE = `BIOS Information
\tVendor: SeaBIOS
\tVersion: 1.16.0-debian-1.16.0-5
\tRelease Date: 04/01/2014
\tAddress: 0xE8000
\tRuntime Size: 96 kB
\tROM Size: 64 kB
\tCharacteristics:
\t\tBIOS characteristics not supported
\t\tTargeted content distribution is supported
\tBIOS Revision: 0.0

System Information
\tManufacturer: QEMU
\tProduct Name: Standard PC (i440FX + PIIX, 1996)
\tVersion: pc-i440fx-7.2
\tSerial Number: Not Specified
\tUUID: 3f1e6b6a-4f0b-4f4e-9a51-0d2b0c6f7a10
\tWake-up Type: Power Switch
\tSKU Number: Not Specified
\tFamily: Not Specified

Chassis Information
\tManufacturer: QEMU
\tType: Other
\tLock: Not Present
\tVersion: pc-i440fx-7.2
\tSerial Number: Not Specified
\tAsset Tag: Not Specified
\tBoot-up State: Safe
\tSKU Number: Not Specified

Processor Information
\tSocket Designation: CPU 0
\tType: Central Processor
\tFamily: Other
\tManufacturer: QEMU
\tID: 63 06 00 00 FD FB 8B 07
\tVersion: pc-i440fx-7.2
\tVoltage: Unknown
\tExternal Clock: Unknown
\tMax Speed: 2000 MHz
\tCurrent Speed: 2000 MHz
\tStatus: Populated, Enabled
\tUpgrade: Other

OEM Strings
\tString 1: hello <world>
\tString 2:   

Memory Device
\tArray Handle: 0x1000
\tTotal Width: Unknown
\tSize: 1 GB
\tForm Factor: DIMM
\tLocator: DIMM 0
\tBank Locator: Not Specified
\tType: RAM
\tType Detail: Other
\tSpeed: Unknown
\tManufacturer: QEMU
\tSerial Number: Not Specified
\tPart Number: Not Specified

Memory Device
\tSize: No Module Installed
\tForm Factor: DIMM
`;

describe('the host sysinfo (virSysinfoReadDMI, virSysinfoFormat)', () => {
  it("picks dmidecode's fields the way libvirt does, quirks included", async () => {
    const def = await parseDmidecode(DMIDECODE, async () => {
      throw new Error('no value here has a dot');
    });
    // the processor has no Signature line: libvirt's strstr finds none later either
    expect(def.processor[0]).toMatchObject({ socket_destination: 'CPU 0', max_speed: '2000 MHz' });
    expect(def.processor[0]!.signature).toBeUndefined();
    // a blank OEM string is skipped; the empty memory slot is kept but never printed
    expect(def.oemStrings).toEqual(['hello <world>']);
    expect(def.memory).toHaveLength(2);
    const xml = formatSysinfo(def);
    expect(xml).toMatch(/^<sysinfo type='smbios'>\n {2}<bios>\n {4}<entry name='vendor'>SeaBIOS<\/entry>\n/);
    expect(xml).toContain("    <entry name='release'>0.0</entry>\n  </bios>\n  <system>\n");
    expect(xml).toContain("    <entry name='family'>Not Specified</entry>\n  </system>\n  <chassis>\n");
    expect(xml).toContain(
      '  <oemStrings>\n    <entry>hello &lt;world&gt;</entry>\n  </oemStrings>\n</sysinfo>\n',
    );
    expect(xml.match(/<memory_device>/g)).toHaveLength(1);
    // Memory Device's "Type: " is its own; Chassis' first "Version: " is after its heading
    expect(xml).toContain("<entry name='type'>RAM</entry>");
    expect(xml).not.toContain('<baseBoard>');
  });

  it('reads the OEM strings with a dot again, raw', async () => {
    const def = await parseDmidecode(
      'OEM Strings\n\tString 1: a.b\n\tString 2: c\n',
      async (i) => `raw ${i}\n`,
    );
    expect(def.oemStrings).toEqual(['raw 1\n', 'c']);
    expect(formatSysinfo({ baseBoard: [], processor: [], memory: [] })).toBe("<sysinfo type='smbios'/>\n");
  });

  it("answers this host's own: none when dmidecode cannot read the DMI tables", async () => {
    const dmidecode = spawnSync('dmidecode', ['-q', '-t', '0,1,2,3,4,11,17']);
    const host = await readHostSysinfo();
    expect(host !== undefined).toBe(dmidecode.status === 0);
  });
});
