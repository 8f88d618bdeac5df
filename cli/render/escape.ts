// Text that a container or an image controls (a process's command line in `top`, an
// image's Cmd in `ps`, names, inspect's fields, an exec's error) reaches the user's
// terminal only escaped: a raw ESC can retitle the window, hide or rewrite what was
// printed before, or make some terminals answer with input of their own; a raw
// newline forges rows of a table; bidirectional overrides show text in another order
// than it is. Every renderer goes through here. `logs`, `attach`, `run` and `exec`
// output stays byte for byte: that is the container's own terminal stream.

/**
 * C0 controls (newline and tab included), DEL, C1 controls (U+0080-U+009F: some
 * terminals take U+009B as ESC [), and the invisible Unicode marks that reorder text.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Only what JSON.stringify leaves raw (it escapes C0 itself). */
const JSON_RAW = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escaped(c: string): string {
  const code = c.charCodeAt(0);
  return SHORT[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** `s` with every control character written as an escape (\n, \x1b, \u202e), Go's %q style. */
export function visible(s: string): string {
  return s.replace(CONTROL, escaped);
}

/** JSON text (as JSON.stringify makes it) with the controls it leaves raw escaped: the same JSON value. */
export function visibleJson(json: string): string {
  return json.replace(JSON_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
