/** virStoragePoolCapsFormat: `pool-capabilities`, from the pool type table (./formats.ts). */
import { POOL_TYPE_INFO, POOL_TYPES, type PoolType } from './formats.js';

const enumXml = (pad: string, kind: string, def: string, values: readonly string[]) =>
  `${pad}<defaultFormat type='${def}'/>\n${pad}<enum name='${kind}'>\n${values
    .map((v) => `${pad}  <value>${v}</value>\n`)
    .join('')}${pad}</enum>\n`;

export function poolCapabilitiesXml(supported: (t: PoolType) => boolean): string {
  let out = '<storagepoolCapabilities>\n';
  for (const t of POOL_TYPES) {
    const info = POOL_TYPE_INFO[t];
    out += `  <pool type='${t}' supported='${supported(t) ? 'yes' : 'no'}'>\n`;
    if (info.sourceFormats) {
      out += `    <poolOptions>\n${enumXml('      ', 'sourceFormatType', info.defaultSourceFormat!, info.sourceFormats)}    </poolOptions>\n`;
    }
    if (info.volFormats) {
      out += `    <volOptions>\n${enumXml('      ', 'targetFormatType', info.defaultVolFormat!, info.volFormats)}    </volOptions>\n`;
    }
    out += '  </pool>\n';
  }
  return `${out}</storagepoolCapabilities>\n`;
}
