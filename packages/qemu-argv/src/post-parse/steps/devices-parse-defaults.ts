/**
 * Device values libvirt's parsers settle while reading (domain_conf.c): a watchdog without an
 * action resets the guest and says so (virDomainWatchdogDefParseXML); a controller IOThread of 0
 * is no IOThread and is not written back (virDomainControllerDefParseXML reads it without
 * VIR_XML_PROP_NONZERO); a memory balloon's statistics period of 0 is no period and is not
 * written (virDomainMemballoonDefFormat prints it only when set).
 */
import type { DomainDef } from '@qvirt/core';

export function deviceParseDefaults(def: DomainDef): void {
  for (const w of def.devices?.watchdog ?? []) w.action ??= 'reset';
  const balloon = def.devices?.memballoon as { stats?: { period?: number } } | undefined;
  if (balloon?.stats && (balloon.stats.period ?? 0) <= 0) delete balloon.stats;
  for (const c of def.devices?.controller ?? []) {
    const driver = c.driver as { iothread?: number } | undefined;
    if (driver?.iothread === 0) {
      delete driver.iothread;
      if (Object.keys(driver).length === 0) delete c.driver;
    }
  }
}
