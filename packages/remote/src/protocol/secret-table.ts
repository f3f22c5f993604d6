/**
 * The secret contract's rows (SecretDriver, libvirt's virSecretDriver): for each method, the
 * REMOTE procedure that carries it. Everything else is derived (dispatch-table.ts): the read-only
 * refusal of define, undefine, set-value and get-value comes from the facts (virCheckReadOnlyGoto).
 */
import type { Secret, SecretDriver } from '@qvirt/core/hypervisor';
import { type ConnectionMethod, type ContractTable, row } from './rows.js';

export const SECRET_TABLE: ContractTable<SecretDriver, ConnectionMethod> = {
  connectNumOfSecrets: row('CONNECT_NUM_OF_SECRETS'),
  connectListSecrets: row('CONNECT_LIST_SECRETS'),
  // virConnectListAllSecrets(conn, &secrets, flags): the wire asks whether the list is wanted
  connectListAllSecrets: row('CONNECT_LIST_ALL_SECRETS', {
    toArgs: (flags) => ({ need_results: 1, flags }),
    fromRet: (r) => r.secrets as Secret[],
    serve: async (d, a) => {
      const secrets = await d.connectListAllSecrets(a.flags as number);
      return { secrets: a.need_results ? secrets : [], ret: secrets.length };
    },
  }),
  secretLookupByUUID: row('SECRET_LOOKUP_BY_UUID'),
  secretLookupByUsage: row('SECRET_LOOKUP_BY_USAGE'),
  secretDefineXML: row('SECRET_DEFINE_XML'),
  secretGetXMLDesc: row('SECRET_GET_XML_DESC'),
  secretSetValue: row('SECRET_SET_VALUE'),
  secretGetValue: row('SECRET_GET_VALUE'),
  secretUndefine: row('SECRET_UNDEFINE'),
};
