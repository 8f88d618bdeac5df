// Container events in Docker's shape: every one carries the image as given and the name.
import type { EngineContext } from './types.ts';

export function containerEvent(ctx: EngineContext, c: { id: string; name: string; imageRef: string }, action: string, extra: Record<string, string> = {}): void {
  ctx.events.emit('container', action, c.id, { image: c.imageRef, name: c.name, ...extra });
}
