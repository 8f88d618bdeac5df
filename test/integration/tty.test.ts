// Interactive terminals tested as a person would: tmux runs the real CLI in a real
// terminal, send-keys types, capture-pane reads the screen.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestDaemon, TDOCK, until } from '../helpers/daemon.ts';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe('interactive terminals (tmux)', { skip: !hasTmux && 'tmux is not installed' }, () => {
  const d = new TestDaemon();
  const server = `tdk-tty-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', server, ...args], { encoding: 'utf8' });
  const screen = (s: string) => tmux('capture-pane', '-p', '-t', s);
  const type = (s: string, ...keys: string[]) => tmux('send-keys', '-t', s, ...keys);
  const waitFor = (s: string, re: RegExp, what: string) => until(what, () => re.test(screen(s)), 8000);

  before(async () => {
    await d.start();
  });
  after(async () => {
    spawnSync('tmux', ['-L', server, 'kill-server']);
    await d.cleanup();
  });

  function session(name: string): string {
    // A plain shell in an 100x30 terminal; the CLI runs inside it like a person's.
    tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '30', `env TDOCK_HOST=${d.host} PS1='host$ ' sh`);
    return name;
  }

  test('run -it busybox sh: typing, window size and resize, Ctrl-C, exit, terminal restored', async () => {
    const s = session('run');
    await waitFor(s, /host\$\s*$/m, 'the host prompt');
    type(s, `${TDOCK} run -it --rm --name tty1 busybox sh`, 'Enter');
    await waitFor(s, /^\/ #\s*$/m, 'the container prompt');
    type(s, 'echo hello-$((6*7))', 'Enter');
    await waitFor(s, /^hello-42$/m, 'command output');
    type(s, 'stty size', 'Enter');
    await waitFor(s, /^30 100$/m, 'the initial window size');
    tmux('resize-window', '-t', s, '-x', '120', '-y', '40');
    await sleep(200);
    type(s, 'clear; stty size', 'Enter');
    await waitFor(s, /^40 120$/m, 'the new window size after SIGWINCH');
    type(s, 'sleep 100', 'Enter');
    await sleep(300);
    type(s, 'C-c');
    await waitFor(s, /^\/ #\s*$/m, 'the prompt back after Ctrl-C');
    type(s, 'echo rc=$?', 'Enter');
    await waitFor(s, /^rc=130$/m, 'sleep interrupted by SIGINT');
    type(s, 'exit 3', 'Enter');
    await waitFor(s, /host\$\s*$/m, 'the host prompt after exit');
    type(s, 'echo cli=$?; stty -a | grep -o -- "-*icanon"', 'Enter');
    await waitFor(s, /^cli=3$/m, 'the container exit code');
    await waitFor(s, /^icanon$/m, 'the terminal back in canonical mode');
    tmux('kill-session', '-t', s);
  });

  test('Ctrl-P Ctrl-Q detaches; attach gets the terminal back', async () => {
    const s = session('detach');
    await waitFor(s, /host\$\s*$/m, 'the host prompt');
    type(s, `${TDOCK} run -it --name tty2 busybox sh`, 'Enter');
    await waitFor(s, /^\/ #\s*$/m, 'the container prompt');
    type(s, 'C-p', 'C-q');
    await waitFor(s, /host\$\s*$/m, 'the host prompt after detaching');
    assert.match(await d.ok(['ps']), /tty2/);
    type(s, `clear; ${TDOCK} attach tty2`, 'Enter');
    await sleep(300);
    type(s, 'echo back-$((1+1))', 'Enter');
    await waitFor(s, /^back-2$/m, 'output after attach');
    type(s, 'exit', 'Enter');
    await waitFor(s, /host\$\s*$/m, 'the host prompt after exit');
    assert.equal((await d.ok(['wait', 'tty2'])).trim(), '0');
    await d.ok(['rm', 'tty2']);
    tmux('kill-session', '-t', s);
  });

  test('exec -t from a terminal: the output of a command that exits at once is never lost', async () => {
    // A resize sent right after the start lost all of it in about 1 run in 6 (three at once here).
    const id = (await d.ok(['run', '-d', '--name', 'tty4', 'busybox', 'sleep', '1000'])).trim();
    try {
      const once = () => new Promise<string>((resolve) => {
        const p = spawn('script', ['-qec', `stty rows 30 cols 100; TDOCK_HOST=${d.host} ${TDOCK} exec -t tty4 sh -c 'echo out-$$; exit 4'; echo cli=$?`, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
        let out = '';
        p.stdout.setEncoding('utf8').on('data', (x: string) => (out += x));
        p.stdin.end();
        p.on('close', () => resolve(out.replaceAll('\r', '')));
      });
      const lost: string[] = [];
      for (let i = 0; i < 8; i++) {
        for (const out of await Promise.all([once(), once(), once()])) {
          assert.match(out, /^cli=4$/m, out);
          if (!/^out-\d+$/m.test(out)) lost.push(out);
        }
      }
      assert.deepEqual(lost, []);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('exec -it into a running container', async () => {
    const id = (await d.ok(['run', '-d', '--name', 'tty3', 'busybox', 'sleep', '1000'])).trim();
    try {
      const s = session('exec');
      await waitFor(s, /host\$\s*$/m, 'the host prompt');
      type(s, `${TDOCK} exec -it tty3 sh`, 'Enter');
      await waitFor(s, /^\/ #\s*$/m, 'the exec prompt');
      type(s, 'tty; stty size; echo $((2*21))', 'Enter');
      await waitFor(s, /^\/dev\/pts\/\d+$/m, 'a pty from the container');
      await waitFor(s, /^30 100$/m, 'the window size');
      await waitFor(s, /^42$/m, 'output');
      type(s, 'exit 4', 'Enter');
      await waitFor(s, /host\$\s*$/m, 'the host prompt');
      type(s, 'echo cli=$?', 'Enter');
      await waitFor(s, /^cli=4$/m, 'the exec exit code');
      tmux('kill-session', '-t', s);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });
});
