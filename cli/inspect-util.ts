// Reads the few fields the attach-style commands need from Docker-shaped inspect JSON.
import { visible, visibleJson } from './render/escape.ts';
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
 * A small subset of Go templates for --format: {{.A.B}}, {{json .A}}, {{.}}.
 * Strings print as they are (control characters escaped: an image or a container
 * chose them), anything else as JSON.
 */
export function applyFormat(template: string, doc: unknown): string {
  return template.replace(/\{\{\s*(json\s+)?\.([\w.]*)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let v: unknown = doc;
    for (const k of path.split('.').filter(Boolean)) {
      v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    }
    if (json) return visibleJson(jsonOf(v ?? null));
    if (v === undefined || v === null) return '<no value>';
    return typeof v === 'string' ? visible(v) : typeof v === 'object' ? visibleJson(jsonOf(v)) : String(v);
  });
}

/** JSON.stringify that writes a BigInt as a JSON number (an event's timeNano needs all its digits). */
export function jsonOf(v: unknown): string {
  const big = '\u0000bigint:';
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${big}${x}` : x));
  return s.includes('\\u0000bigint:') ? s.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : s;
}
