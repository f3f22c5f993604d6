/**
 * libvirt's virErrorNumber and virErrorDomain tables: the one copy lives in @qvirt/core. Typed as
 * records here so the RPC layer can look up any name it reads off the wire.
 */
import { ERROR_CODES as CODES, ERROR_DOMAINS as DOMAINS } from '@qvirt/core/errors';

/** libvirt's virErrorNumber (include/libvirt/virterror.h), by name without VIR_ERR_ (VIR_WAR_X as WAR_X). */
export const ERROR_CODES: Readonly<Record<string, number>> = CODES;

/** libvirt's virErrorDomain, by name without VIR_FROM_, lower-case as @qvirt/core names them. */
export const ERROR_DOMAINS: Readonly<Record<string, number>> = DOMAINS;
