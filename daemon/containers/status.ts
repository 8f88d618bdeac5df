// Docker's human status strings ("Up 3 seconds", "Exited (0) 2 minutes ago").
import { humanDuration } from '../../lib/duration.ts';

export interface StatusInput {
  state: string;
  exitCode: number;
  started: number;
  finished: number;
}

export function statusText(c: StatusInput, now = Date.now()): string {
  switch (c.state) {
    case 'running':
      return `Up ${humanDuration(now - c.started)}`;
    case 'exited':
      return c.finished ? `Exited (${c.exitCode}) ${humanDuration(now - c.finished)} ago` : `Exited (${c.exitCode})`;
    case 'restarting':
      // Docker's: the last exit code, and how long ago it was.
      return `Restarting (${c.exitCode}) ${humanDuration(now - c.finished)} ago`;
    case 'created':
      return 'Created';
    case 'dead':
      return 'Dead';
    default:
      return c.state.charAt(0).toUpperCase() + c.state.slice(1);
  }
}
