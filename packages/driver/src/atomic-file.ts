/** Moved to @qvirt/core (the secret and storage drivers write files the same way); kept as a re-export. */
export {
  type AtomicWriteOptions,
  isTempFile,
  removeStaleTempFiles,
  TEMP_MARK,
  writeFileAtomic,
} from '@qvirt/core';
