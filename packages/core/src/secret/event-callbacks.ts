/** The secret's event callbacks (virConnectSecretEventRegisterAny), libvirt's rules as the domain's. */
import { ObjectEventCallbacks } from '../hypervisor/event-callbacks.js';
import { VIR_SECRET_EVENT_ID_LAST } from './constants.js';
import type { SecretEvent } from './contract.js';

export class SecretEventCallbacks extends ObjectEventCallbacks<SecretEvent> {
  constructor() {
    super({
      api: 'virConnectSecretEventRegisterAny',
      idLast: VIR_SECRET_EVENT_ID_LAST,
      uuidOf: (e) => e.secret.uuid,
    });
  }
}
