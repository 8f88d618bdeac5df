// A container's input from its attached clients (stdin bytes, end of input, terminal
// size), delivered to its monitor in the order it came whatever the timing: input
// that arrives before the monitor's connection exists (a `run -i` whose container is
// still starting) waits here, and everything after it waits behind it. Nothing is
// ever dropped: when the connection is behind, push() says so and the caller stops
// reading its client (gRPC flow control then reaches the CLI, which stops reading
// its stdin) until onDrain().

/** The monitor connection that input goes to (MonitorConnection). */
export interface InputTarget {
  stdin(data: Buffer): boolean;
  closeStdin(): boolean;
  resize(rows: number, cols: number): boolean;
  once(event: 'drain', fn: () => void): unknown;
  removeListener(event: 'drain', fn: () => void): unknown;
}

export type InputItem =
  | { kind: 'stdin'; data: Buffer }
  | { kind: 'close' }
  | { kind: 'resize'; rows: number; cols: number };

/** Bytes kept here (no connection yet, or it is behind) before a client is paused. */
export const INPUT_HIGH = 1 << 20;

export class InputQueue {
  private items: InputItem[] = [];
  private head = 0;
  private queued = 0;
  private target?: InputTarget;
  /** the target's socket said "no more for now": wait for its 'drain' */
  private waiting = false;
  private drainWaiters: (() => void)[] = [];
  private readonly onTargetDrain = () => {
    this.waiting = false;
    this.flush();
  };

  /** Queues or delivers one item; false when the caller should pause its client. */
  push(item: InputItem): boolean {
    if (this.target && !this.waiting && this.head === this.items.length) this.deliver(item);
    else {
      this.items.push(item);
      this.queued += item.kind === 'stdin' ? item.data.length : 0;
    }
    return !this.behind;
  }

  get behind(): boolean {
    return this.waiting || this.queued > INPUT_HIGH;
  }

  /** Calls fn once nothing is behind any more (at once if nothing is). */
  onDrain(fn: () => void): void {
    if (!this.behind) fn();
    else this.drainWaiters.push(fn);
  }

  /** The monitor connection is there: what waited goes first, in order. */
  open(target: InputTarget): void {
    this.close();
    this.target = target;
    this.flush();
  }

  /** The connection is gone: input waits for the next one. */
  close(): void {
    this.target?.removeListener('drain', this.onTargetDrain);
    this.target = undefined;
    this.waiting = false;
    this.wake();
  }

  /** Input for a run that will not happen (its start failed, the container is gone). */
  discard(): void {
    this.items = [];
    this.head = 0;
    this.queued = 0;
    this.wake();
  }

  private deliver(item: InputItem): void {
    const t = this.target!;
    const more =
      item.kind === 'stdin' ? t.stdin(item.data) : item.kind === 'close' ? t.closeStdin() : t.resize(item.rows, item.cols);
    if (!more) {
      this.waiting = true;
      t.once('drain', this.onTargetDrain);
    }
  }

  private flush(): void {
    while (this.target && !this.waiting && this.head < this.items.length) {
      const item = this.items[this.head]!;
      this.items[this.head++] = { kind: 'close' }; // let the bytes go
      if (item.kind === 'stdin') this.queued -= item.data.length;
      this.deliver(item);
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    }
    this.wake();
  }

  private wake(): void {
    if (this.behind) return;
    for (const fn of this.drainWaiters.splice(0)) fn();
  }
}
