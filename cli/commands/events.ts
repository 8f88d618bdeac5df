import { Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';
import { parseTimeFlag } from '../parse/time.ts';
import { ValueError } from '../parse/bytes.ts';
import { applyFormat } from '../inspect-util.ts';
import { eventDocument, eventLine } from '../render/events.ts';
import { EventFilterError, parseFilterFlag } from '../../lib/event-filter.ts';
import type { Event, KeyValue } from '../../proto/api.ts';

/** The flags as the API's EventsRequest, or a UsageError naming the flag. */
export function eventsRequest(f: { since?: string; until?: string; filter?: string[] }, nowNs: bigint): { since: string; until: string; filters: KeyValue[] } {
  try {
    const since = f.since !== undefined ? parseTimeFlag(f.since, '--since', nowNs) : '';
    const until = f.until !== undefined ? parseTimeFlag(f.until, '--until', nowNs) : '';
    const filters = (f.filter ?? []).map(parseFilterFlag);
    return { since, until, filters };
  } catch (e) {
    if (e instanceof ValueError || e instanceof EventFilterError) throw new UsageError(e.message);
    throw e;
  }
}

/** One event as printed: Docker's line, or the --format template over its JSON document. */
export function renderEvent(e: Event, format: string | undefined): string {
  if (!format) return `${eventLine(e)}\n`;
  return `${applyFormat(format === 'json' ? '{{json .}}' : format, templateView(eventDocument(e)))}\n`;
}

/** JSON name -> Go field name of Docker's events.Message, where the two differ. */
const GO_NAMES: [string, string][] = [['status', 'Status'], ['id', 'ID'], ['from', 'From'], ['scope', 'Scope'], ['time', 'Time'], ['timeNano', 'TimeNano']];

/**
 * Docker's templates see the Go struct ({{.Status}}, {{.ID}}, {{.Time}}: its documented
 * example), {{json .}} the JSON names. The Go names are added non-enumerable, so JSON
 * output never shows them.
 */
function templateView(doc: Record<string, unknown>): Record<string, unknown> {
  const view = { ...doc };
  for (const [json, go] of GO_NAMES) if (json in doc) Object.defineProperty(view, go, { value: doc[json], enumerable: false });
  return view;
}

export default class Events extends TdockCommand {
  static summary = 'Get real time events from the daemon.';
  static usage = 'events [OPTIONS]';
  static aliases = ['system:events'];
  static flags = {
    filter: Flags.string({
      char: 'f',
      summary: 'Filter output: type=container|image, event=start, container=NAME|ID, image=NAME|ID (repeat a key for OR).',
      helpValue: 'FILTER',
      multiple: true,
    }),
    format: Flags.string({ summary: "Format the output with a template: '{{json .}}', '{{.Action}} {{.Actor.ID}}'; json = '{{json .}}'.", helpValue: 'TEMPLATE' }),
    since: Flags.string({ summary: 'Show events since a time (2024-01-02T15:04:05Z, 1704207845) or a duration before now (10m).', helpValue: 'TIME' }),
    until: Flags.string({ summary: 'Stream events until this time (2024-01-02T15:04:05Z, 1704207845, 10m before now).', helpValue: 'TIME' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Events);
    const req = eventsRequest(flags, BigInt(Date.now()) * 1_000_000n);
    const d = await this.daemon(flags.host);
    const stream = d.system.events(req);
    // Ctrl-C ends the stream and the command with 0, like docker's.
    const stop = () => stream.cancel();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (e: Event) => {
          if (!io.stdout.write(renderEvent(e, flags.format))) {
            stream.pause();
            io.stdout.once('drain', () => stream.resume());
          }
        });
        stream.on('end', resolve);
        stream.on('error', (e: Error & { code?: number }) => (e.code === 1 ? resolve() : reject(e)));
      });
    } finally {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
    }
  }
}
