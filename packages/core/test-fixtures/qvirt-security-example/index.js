// A minimal third-party security driver: records the hooks it sees in the domain's
// <seclabel model='qvirt-security-example'><label>, and adds an environment variable to QEMU's
// launch spec. It proves that a name in security_driver is resolved as an npm package.
export const DRIVER_NAME = 'qvirt-security-example';

export default function exampleSecurityDriver(options, host) {
  const calls = [];
  return {
    name: DRIVER_NAME,
    calls,
    options,
    host,
    probe: () => 'enable',
    getModel: () => DRIVER_NAME,
    getDOI: () => '0',
    async getBaseLabel(virtType) {
      return `example-${virtType}`;
    },
    async domainGenSecurityLabel(def) {
      calls.push('gen');
      const label = def.seclabel?.find((l) => l.model === DRIVER_NAME);
      if (label && label.type !== 'none') label.label = `example:${def.name}`;
    },
    async domainSetSecurityChildProcessLabel(_def, spec) {
      calls.push('child');
      spec.env.push(['QVIRT_SECURITY_EXAMPLE', '1']);
    },
    async domainSetSecurityAllLabel() {
      calls.push('setAll');
    },
    async domainRestoreSecurityAllLabel() {
      calls.push('restoreAll');
    },
  };
}
