import { createInterface } from 'node:readline';
import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { humanSize } from '../../render/format.ts';

/** Docker's question; anything but y/yes (or no answer at all) is no. */
async function confirm(question: string): Promise<boolean> {
  process.stderr.write(question);
  const rl = createInterface({ input: process.stdin });
  const answer = await new Promise<string>((resolve) => {
    rl.once('line', resolve);
    rl.once('close', () => resolve(''));
  });
  rl.close();
  return /^(y|yes)$/i.test(answer.trim());
}

export default class VolumePrune extends TdockCommand {
  static summary = 'Remove unused local volumes (anonymous ones; all unused with -a).';
  static usage = 'volume prune [OPTIONS]';
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Do not prompt for confirmation.' }),
    all: Flags.boolean({ char: 'a', summary: 'Remove all unused volumes, not just anonymous ones.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(VolumePrune);
    if (!flags.force) {
      const what = flags.all ? 'all local volumes' : 'anonymous local volumes';
      if (!(await confirm(`WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue? [y/N] `))) return;
    }
    const d = await this.daemon(flags.host);
    const res = await d.volumes.prune({ all: Boolean(flags.all) });
    if (res.deleted.length) {
      this.print('Deleted Volumes:');
      for (const n of res.deleted) this.print(n);
      this.print('');
    }
    this.print(`Total reclaimed space: ${humanSize(res.reclaimed)}`);
  }
}
