/** One case's outcome. `family` groups failures (e.g. the device family) in reports. */
export interface CaseResult {
  name: string;
  pass: boolean;
  reason?: string;
  family?: string;
}

/**
 * A conformance set reads one folder of a corpus laid out like `../shared/conformance`.
 * Sets never look at case names to decide an outcome: the manifest and the files decide.
 */
export interface ConformanceSet {
  /** The name printed in `NAME: N passed, M failed`. */
  name: string;
  /** True when `dir` (the corpus root) holds what this set reads. */
  applies(dir: string): boolean;
  run(dir: string): Promise<CaseResult[]>;
}
