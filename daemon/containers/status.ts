// Docker's human status strings ("Up 3 seconds", "Exited (0) 2 minutes ago").

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.round(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.round(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.round(h / 24 / 30)} months`;
  return `${Math.round(h / 24 / 365)} years`;
}

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
    case 'created':
      return 'Created';
    case 'dead':
      return 'Dead';
    default:
      return c.state.charAt(0).toUpperCase() + c.state.slice(1);
  }
}
