// Stopped containers whose overlay the file verbs (cp, export) hold mounted in a
// namespace of their own: a start waits until the hold ends, so two overlays never
// share one upper dir (overlayfs leaves that undefined).
const holds = new Map<string, Promise<void>>();

/** The end of the current hold on container `id`, if any (Lifecycle.start awaits it). */
export function heldUntil(id: string): Promise<void> | undefined {
  return holds.get(id);
}

/** Marks `id` held until the returned release() is called. Synchronous: call it in the same tick as the state check. */
export function hold(id: string): () => void {
  let release!: () => void;
  const prev = holds.get(id);
  const p = new Promise<void>((r) => (release = r)).then(() => prev);
  holds.set(id, p);
  return () => {
    if (holds.get(id) === p) holds.delete(id);
    release();
  };
}
