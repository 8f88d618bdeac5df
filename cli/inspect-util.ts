// Reads the few fields the attach-style commands need from Docker-shaped inspect JSON.
import { parseTemplate, TemplateError, type Template } from './render/template.ts';
import { CliError, EXIT_USAGE } from './errors.ts';
export interface ContainerFacts {
  id: string;
  tty: boolean;
  openStdin: boolean;
  running: boolean;
}

export function containerFacts(json: string, fallbackId: string): ContainerFacts {
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(json) as Record<string, unknown>;
  } catch {
    // keep defaults
  }
  const config = (doc.Config ?? {}) as Record<string, unknown>;
  const state = (doc.State ?? {}) as Record<string, unknown>;
  return {
    id: typeof doc.Id === 'string' ? doc.Id : fallbackId,
    tty: config.Tty === true,
    openStdin: config.OpenStdin === true,
    running: state.Running === true,
  };
}

/**
 * Runs a Go template (cli/render/template.ts) over one document, as docker's
 * --format does: a template that does not parse, or fails on this document, is
 * "template parsing error: ..." exit 125 (the message docker/cli wraps Go's in).
 */
export function applyFormat(template: string, doc: unknown): string {
  return compileFormat(template).execute(doc);
}

/** Parses once for many documents; errors as applyFormat's. */
export function compileFormat(template: string): { execute(doc: unknown, opts?: { header?: boolean }): string } {
  let t: Template;
  try {
    t = parseTemplate(template);
  } catch (e) {
    throw templateFailure(e);
  }
  return {
    execute(doc, opts) {
      try {
        return t.execute(doc, opts);
      } catch (e) {
        throw templateFailure(e);
      }
    },
  };
}

function templateFailure(e: unknown): unknown {
  return e instanceof TemplateError ? new CliError(`template parsing error: ${e.message}`, EXIT_USAGE) : e;
}

/** JSON.stringify that writes a BigInt as a JSON number (an event's timeNano needs all its digits). */
export function jsonOf(v: unknown): string {
  const big = '\u0000bigint:';
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${big}${x}` : x));
  return s.includes('\\u0000bigint:') ? s.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : s;
}
