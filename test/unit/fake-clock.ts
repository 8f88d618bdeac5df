// A clock for the restart policies' back-off that only moves when a test says so:
// timers fire in order as it passes them (daemon/containers/restart-policy.ts RestartTimer).
import type { RestartTimer } from '../../daemon/containers/restart-policy.ts';

export class FakeClock implements RestartTimer {
  now = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;

  set(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.push({ at: this.now + ms, fn, id });
    return id;
  }

  clear(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number { return this.timers.length; }

  /** The delays (from now) of the pending timers. */
  get delays(): number[] { return this.timers.map((t) => t.at - this.now).sort((a, b) => a - b); }

  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > until) break;
      this.timers.shift();
      this.now = t.at;
      t.fn();
    }
    this.now = until;
  }
}
