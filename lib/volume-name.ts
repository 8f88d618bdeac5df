// Docker's rule for a local volume's name, checked by the CLI (-v, --mount) and the
// daemon (volume create, create's mounts) alike.

export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function volumeNameError(name: string): string {
  return `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`;
}
