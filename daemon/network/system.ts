// The operating system as the network code sees it: the commands it runs (ip, nft,
// iptables, nsenter) and the few /sys and /proc files it reads and writes. Behind an
// interface so unit tests drive the bridge network against a fake, without root (the
// idea of youki's Syscall trait); the daemon uses realNetSystem.
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { run, type RunResult } from './exec.ts';

export interface NetSystem {
  /** Runs argv[0] with argv[1..] (stdin: input); resolves whatever the exit code. */
  run(argv: string[], input?: string): Promise<RunResult>;
  /** A small file's trimmed text; undefined when it cannot be read. */
  read(path: string): string | undefined;
  write(path: string, data: string): void;
  exists(path: string): boolean;
  list(dir: string): string[];
  /** A symlink's target; undefined when it is none. */
  readlink(path: string): string | undefined;
  /** The inode number of a file (a netns bind's is the namespace's); -1 when absent. */
  ino(path: string): number;
}

export const realNetSystem: NetSystem = {
  run,
  read: (path) => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  },
  write: (path, data) => writeFileSync(path, data),
  exists: existsSync,
  list: (dir) => readdirSync(dir),
  readlink: (path) => {
    try {
      return readlinkSync(path);
    } catch {
      return undefined;
    }
  },
  ino: (path) => {
    try {
      return statSync(path).ino;
    } catch {
      return -1;
    }
  },
};
