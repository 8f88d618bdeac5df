// lib/duration.ts is the one humanDuration of CLI and daemon (go-units HumanDuration):
// each unit's boundaries, and the daemon's status agreeing with the CLI's "ago".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration } from '../../lib/duration.ts';
import { statusText } from '../../daemon/containers/status.ts';
import { ago } from '../../cli/render/format.ts';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

test('humanDuration: the boundaries of every unit, as go-units prints them', () => {
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [S, '1 second'],
    [2 * S - 1, '1 second'],
    [2 * S, '2 seconds'],
    [59 * S + 999, '59 seconds'],
    [M, 'About a minute'],
    [2 * M - 1, 'About a minute'],
    [2 * M, '2 minutes'],
    [60 * M - 1, '59 minutes'],
    // hours round to the nearest: 60 min to 1h29m59s is "About an hour"
    [H, 'About an hour'],
    [H + 30 * M - 1, 'About an hour'],
    [H + 30 * M, '2 hours'],
    [47 * H + 29 * M, '47 hours'],
    [47 * H + 30 * M, '2 days'],
    // days, weeks, months count whole units of the rounded hours (no rounding up)
    [3 * D + 23 * H, '3 days'],
    [4 * D + 11 * H, '4 days'],
    [13 * D + 23 * H, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D + 23 * H, '8 weeks'],
    [60 * D, '2 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
    [3 * 365 * D - 1, '2 years'],
    [3 * 365 * D, '3 years'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

test('ps: "Up" (daemon) and "ago" (CLI) say the same for the same time', () => {
  const now = 1_700_000_000_000;
  for (const age of [3 * D + 13 * H, 10 * D + 20 * H, 50 * D, 400 * D, 90 * M, 47 * H + 31 * M]) {
    const started = now - age;
    const up = statusText({ state: 'running', exitCode: 0, started, finished: 0 }, now);
    assert.equal(up, `Up ${ago(started / 1000, now).replace(/ ago$/, '')}`, `${age} ms`);
  }
  // the disagreement this fixes: 3.5 days printed "Up 4 days" beside "3 days ago"
  assert.equal(statusText({ state: 'running', exitCode: 0, started: now - (3 * D + 13 * H), finished: 0 }, now), 'Up 3 days');
});
