// Go text/template, the part Docker users write in --format: fields, pipelines,
// docker/cli's functions (json, join, split, lower, upper, title, truncate, pad,
// println) and Go's builtins, {{if}}/{{range}}/{{with}} with {{else}}, variables,
// comments and trim markers. Errors read like Go's ("template: :1: unclosed action",
// "can't evaluate field X in type T") so scripts written for docker see the same.
// A value is a Go map unless it carries GO_TYPE (a struct, like docker's
// ContainerContext): a missing map key prints "<no value>", a missing struct
// field is an error, as in Go.
import { visible, visibleJson } from './escape.ts';

/** Marks an object as a Go struct of this type name (missing fields are errors). */
export const GO_TYPE = Symbol('goType');

export class TemplateError extends Error {}

type Pos = number;
type Arg =
  | { k: 'field'; pos: Pos; base: 'dot' | string; chain: string[]; text: string } // .A.B, $x.A, $
  | { k: 'ident'; pos: Pos; name: string }
  | { k: 'lit'; pos: Pos; v: unknown }
  | { k: 'pipe'; pos: Pos; p: Pipe; chain: string[]; text: string };
interface Cmd { pos: Pos; args: Arg[] }
interface Pipe { pos: Pos; decl: string[]; assign: boolean; cmds: Cmd[] }
type Node =
  | { k: 'text'; s: string }
  | { k: 'action'; p: Pipe }
  | { k: 'if' | 'with' | 'range'; p: Pipe; body: Node[]; alt: Node[] };

const BLOCKS = new Set(['if', 'with', 'range']);
const UNSUPPORTED = new Set(['define', 'template', 'block', 'break', 'continue']);

type Fn = (...a: unknown[]) => unknown;

/** docker/cli's templates.basicFunctions over Go's builtins. */
const FUNCS: Record<string, Fn> = {
  json: (v) => jsonValue(v),
  join: (list, sep) => (Array.isArray(list) ? list.map(String).join(String(sep)) : fail('join: expected a list')),
  split: (s, sep) => String(s).split(String(sep)),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  title: (s) => String(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, a: string, b: string) => a + b.toUpperCase()),
  truncate: (s, n) => [...String(s)].slice(0, Number(n)).join(''),
  pad: (s, l, r) => ' '.repeat(Number(l)) + String(s) + ' '.repeat(Number(r)),
  println: (...a) => new RawText(`${a.map(shown).join(' ')}\n`),
  print: (...a) => new RawText(a.map(shown).join('')),
  printf: (f, ...a) => new RawText(sprintf(String(f), a)),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : fail(`len of ${typeName(v)}`)),
  index: (v, ...keys) => keys.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[String(k)] : fail('index of untyped nil')), v),
  not: (v) => !truthy(v),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => (a as number) < (b as number),
  le: (a, b) => (a as number) <= (b as number),
  gt: (a, b) => (a as number) > (b as number),
  ge: (a, b) => (a as number) >= (b as number),
};

/** docker/cli's HeaderFunctions: in a table's header row each function gives back its first argument. */
const HEADER_FUNCS: Record<string, Fn> = Object.fromEntries(Object.keys(FUNCS).map((k) => [k, (v: unknown) => v]));

function fail(msg: string): never {
  throw new TemplateError(msg);
}

function jsonValue(v: unknown): string {
  const big = '\u0000bigint:';
  const s = JSON.stringify(v === undefined ? null : v, (_k, x: unknown) => (typeof x === 'bigint' ? `${big}${x}` : x));
  return new JsonText(s.includes('\\u0000bigint:') ? s.replace(/"\\u0000bigint:(-?\d+)"/g, '$1') : s) as unknown as string;
}

/** json's result: printed with visibleJson's escaping instead of visible's. */
class JsonText extends String {}
/** Text already escaped (println, printf: the template's own newlines stay newlines). */
class RawText extends String {}

function shown(v: unknown): string {
  return v instanceof RawText ? v.toString() : printed(v);
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'interface {}';
  if (typeof v === 'object' && GO_TYPE in v) return String((v as Record<symbol, unknown>)[GO_TYPE]);
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'object') return 'map[string]interface {}';
  return typeof v === 'number' ? 'float64' : typeof v === 'boolean' ? 'bool' : 'string';
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && !(GO_TYPE in v) && !(v instanceof String)) return Object.keys(v).length > 0;
  return true;
}

/** fmt's %v of the values a template meets. */
export function goString(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (v instanceof String) return v.toString();
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (typeof v === 'object') {
    if (GO_TYPE in v) return `{${Object.values(v).map(goString).join(' ')}}`;
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o).sort().map((k) => `${k}:${goString(o[k])}`).join(' ')}]`;
  }
  return String(v);
}

function sprintf(f: string, a: unknown[]): string {
  let i = 0;
  return f.replace(/%([-+ 0#]*\d*(?:\.\d+)?)([vsdqtfx%])/g, (m, _flags: string, verb: string) => {
    if (verb === '%') return '%';
    if (i >= a.length) return `%!${verb}(MISSING)`;
    const v = a[i++];
    if (verb === 'q') return visible(JSON.stringify(String(v)));
    if (verb === 'd') return String(Math.trunc(Number(v)));
    if (verb === 'x') return typeof v === 'number' ? v.toString(16) : Buffer.from(String(v)).toString('hex');
    return m && shown(v);
  });
}

// ---------------------------------------------------------------- lexing and parsing

interface Tok { t: 'field' | 'var' | 'ident' | 'str' | 'num' | 'lp' | 'rp' | 'pipe' | 'decl' | 'assign' | 'comma' | 'dot'; v: string; pos: Pos }

class Parser {
  private toks: Tok[] = [];
  private i = 0;
  private readonly src: string;
  constructor(src: string) {
    this.src = src;
  }

  err(msg: string, pos?: Pos): never {
    const line = pos === undefined ? 1 : this.src.slice(0, pos).split('\n').length;
    throw new TemplateError(`template: :${line}: ${msg}`);
  }

  parse(): Node[] {
    const stack: { node: Extract<Node, { body: Node[] }>; inElse: boolean; list: Node[] }[] = [];
    const root: Node[] = [];
    let list = root;
    let at = 0;
    let trimNext = false;
    while (at < this.src.length) {
      const open = this.src.indexOf('{{', at);
      let text = this.src.slice(at, open < 0 ? undefined : open);
      if (trimNext) text = text.replace(/^\s+/, '');
      if (open < 0) {
        if (text) list.push({ k: 'text', s: text });
        break;
      }
      let inner = open + 2;
      if (this.src.startsWith('- ', inner) || this.src.startsWith('-\t', inner) || this.src.startsWith('-\n', inner)) {
        text = text.replace(/\s+$/, '');
        inner += 1;
      }
      if (text) list.push({ k: 'text', s: text });
      const close = this.closeOf(inner);
      if (close < 0) this.err('unclosed action', open);
      let end = close;
      trimNext = false;
      if (/\s-$/.test(this.src.slice(inner, close)) ) {
        end = close - 1;
        trimNext = true;
      }
      at = close + 2;
      const body = this.src.slice(inner, end);
      if (/^\s*\/\*/.test(body)) {
        if (!/\*\/\s*$/.test(body)) this.err('unclosed comment', open);
        continue;
      }
      this.toks = this.lex(body, inner);
      this.i = 0;
      const first = this.toks[0];
      if (!first) this.err('missing value for command', open);
      if (first.t === 'ident' && UNSUPPORTED.has(first.v)) this.err(`unsupported template action {{${first.v}}}`, open);
      if (first.t === 'ident' && BLOCKS.has(first.v)) {
        this.i = 1;
        const node = { k: first.v as 'if', p: this.pipeline(first.v), body: [] as Node[], alt: [] as Node[] };
        list.push(node);
        stack.push({ node, inElse: false, list });
        list = node.body;
        continue;
      }
      if (first.t === 'ident' && first.v === 'else') {
        const top = stack[stack.length - 1];
        if (!top || top.inElse) this.err('unexpected {{else}}', open);
        top.inElse = true;
        list = top.node.alt;
        if (this.toks.length > 1) {
          // {{else if ...}} / {{else with ...}}: a nested block closed by the same {{end}}
          const kw = this.toks[1]!;
          if (kw.t !== 'ident' || kw.v !== top.node.k) this.err(`unexpected ${kw.v} in else`, open);
          this.i = 2;
          const node = { k: kw.v as 'if', p: this.pipeline(kw.v), body: [] as Node[], alt: [] as Node[] };
          list.push(node);
          stack.push({ node, inElse: false, list, chained: true } as (typeof stack)[number]);
          list = node.body;
        }
        continue;
      }
      if (first.t === 'ident' && first.v === 'end') {
        if (this.toks.length > 1) this.err('unexpected token in end', open);
        let top = stack.pop();
        if (!top) this.err('unexpected {{end}}', open);
        while ((top as { chained?: boolean }).chained) top = stack.pop()!;
        list = top.list;
        continue;
      }
      list.push({ k: 'action', p: this.pipeline('command') });
    }
    if (stack.length) this.err(`unexpected EOF`);
    return root;
  }

  /** The "}}" that ends an action, skipping quoted strings (they may hold "}}"). */
  private closeOf(from: number): number {
    for (let j = from; j < this.src.length; j++) {
      const ch = this.src[j];
      if (ch === '"' || ch === '`') {
        const q = ch;
        for (j++; j < this.src.length && this.src[j] !== q; j++) {
          if (q === '"' && this.src[j] === '\\') j++;
          if (q === '"' && this.src[j] === '\n') return -1;
        }
        if (j >= this.src.length) return -1;
      } else if (ch === '}' && this.src[j + 1] === '}') return j;
    }
    return -1;
  }

  private lex(s: string, base: number): Tok[] {
    const out: Tok[] = [];
    const re = /\s+|(\$[\w]*(?:\.[\w]+)*)|(\.(?:[\w]+(?:\.[\w]+)*)?)|([A-Za-z_]\w*)|("(?:[^"\\\n]|\\.)*"|`[^`]*`)|(-?\d+(?:\.\d+)?)|(\()|(\)((?:\.[\w]+)*))|(\|)|(:=)|(=)|(,)|(.)/gy;
    let m: RegExpExecArray | null;
    while ((m = re.exec(s))) {
      const pos = base + m.index;
      if (m[1] !== undefined) out.push({ t: 'var', v: m[1], pos });
      else if (m[2] !== undefined) out.push({ t: m[2] === '.' ? 'dot' : 'field', v: m[2], pos });
      else if (m[3] !== undefined) out.push({ t: 'ident', v: m[3], pos });
      else if (m[4] !== undefined) out.push({ t: 'str', v: m[4], pos });
      else if (m[5] !== undefined) out.push({ t: 'num', v: m[5], pos });
      else if (m[6] !== undefined) out.push({ t: 'lp', v: '(', pos });
      else if (m[7] !== undefined) out.push({ t: 'rp', v: m[8] ?? '', pos });
      else if (m[9] !== undefined) out.push({ t: 'pipe', v: '|', pos });
      else if (m[10] !== undefined) out.push({ t: 'decl', v: ':=', pos });
      else if (m[11] !== undefined) out.push({ t: 'assign', v: '=', pos });
      else if (m[12] !== undefined) out.push({ t: 'comma', v: ',', pos });
      else if (m[13] !== undefined) this.err(`unexpected ${JSON.stringify(m[13])} in command`, pos);
    }
    return out;
  }

  private pipeline(ctx: string, inParen = false): Pipe {
    const start = this.toks[this.i];
    const p: Pipe = { pos: start?.pos ?? 0, decl: [], assign: false, cmds: [] };
    // $x := ..., $i, $v := ... (range)
    const j = this.i;
    const vars: string[] = [];
    let k = j;
    while (this.toks[k]?.t === 'var' && !this.toks[k]!.v.includes('.')) {
      vars.push(this.toks[k]!.v);
      if (this.toks[k + 1]?.t === 'comma') k += 2;
      else {
        k++;
        break;
      }
    }
    if (vars.length && (this.toks[k]?.t === 'decl' || this.toks[k]?.t === 'assign')) {
      p.decl = vars;
      p.assign = this.toks[k]!.t === 'assign';
      this.i = k + 1;
    }
    let cmd: Cmd = { pos: this.toks[this.i]?.pos ?? p.pos, args: [] };
    for (;;) {
      const t = this.toks[this.i];
      if (!t || (inParen && t.t === 'rp')) break;
      this.i++;
      if (t.t === 'pipe') {
        if (!cmd.args.length) this.err('missing value for command', t.pos);
        p.cmds.push(cmd);
        cmd = { pos: this.toks[this.i]?.pos ?? t.pos, args: [] };
        continue;
      }
      if (t.t === 'rp') this.err('unexpected ")"', t.pos);
      cmd.args.push(this.operand(t));
    }
    if (!cmd.args.length) this.err(`missing value for ${ctx}`, p.pos);
    p.cmds.push(cmd);
    return p;
  }

  private operand(t: Tok): Arg {
    switch (t.t) {
      case 'dot':
        return { k: 'field', pos: t.pos, base: 'dot', chain: [], text: '.' };
      case 'field':
        return { k: 'field', pos: t.pos, base: 'dot', chain: t.v.slice(1).split('.'), text: t.v };
      case 'var': {
        const [name, ...chain] = t.v.split('.');
        return { k: 'field', pos: t.pos, base: name!, chain, text: t.v };
      }
      case 'str':
        return { k: 'lit', pos: t.pos, v: t.v.startsWith('`') ? t.v.slice(1, -1) : (JSON.parse(t.v) as string) };
      case 'num':
        return { k: 'lit', pos: t.pos, v: Number(t.v) };
      case 'ident':
        if (t.v === 'true' || t.v === 'false') return { k: 'lit', pos: t.pos, v: t.v === 'true' };
        if (t.v === 'nil') return { k: 'lit', pos: t.pos, v: null };
        if (UNSUPPORTED.has(t.v) || BLOCKS.has(t.v) || t.v === 'else' || t.v === 'end') this.err(`unexpected <${t.v}> in command`, t.pos);
        if (!(t.v in FUNCS)) this.err(`function ${JSON.stringify(t.v)} not defined`, t.pos);
        return { k: 'ident', pos: t.pos, name: t.v };
      case 'lp': {
        const p = this.pipeline('parenthesized pipeline', true);
        const close = this.toks[this.i];
        if (!close || close.t !== 'rp') this.err('unclosed left paren', t.pos);
        this.i++;
        const chain = close.v ? close.v.slice(1).split('.') : [];
        return { k: 'pipe', pos: t.pos, p, chain, text: `(...)${close.v}` };
      }
      default:
        this.err(`unexpected ${JSON.stringify(t.v)} in command`, t.pos);
    }
  }
}

// ---------------------------------------------------------------- execution

export interface Template {
  /** Runs the template over data; throws TemplateError as Go's Execute fails. */
  execute(data: unknown, opts?: { header?: boolean }): string;
}

/** Parses like template.New("").Parse: a TemplateError carries Go's message. */
export function parseTemplate(src: string): Template {
  const nodes = new Parser(src).parse();
  return { execute: (data, opts) => new Exec(src, data, opts?.header === true).run(nodes) };
}

class Exec {
  private vars: [string, unknown][];
  private readonly funcs: Record<string, Fn>;
  private readonly src: string;
  private readonly header: boolean;
  constructor(src: string, root: unknown, header: boolean) {
    this.src = src;
    this.header = header;
    this.vars = [['$', root]];
    this.funcs = header ? HEADER_FUNCS : FUNCS;
  }

  run(nodes: Node[]): string {
    return this.list(nodes, this.vars[0]![1]);
  }

  private err(pos: Pos, text: string, msg: string): never {
    const before = this.src.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - (before.lastIndexOf('\n') + 1);
    throw new TemplateError(`template: :${line}:${col}: executing "" at <${text}>: ${msg}`);
  }

  private list(nodes: Node[], dot: unknown): string {
    let out = '';
    for (const n of nodes) {
      if (n.k === 'text') out += n.s;
      else if (n.k === 'action') {
        const v = this.pipe(n.p, dot);
        if (!n.p.decl.length) out += printed(v);
      } else out += this.block(n, dot);
    }
    return out;
  }

  private block(n: Extract<Node, { body: Node[] }>, dot: unknown): string {
    const mark = this.vars.length;
    try {
      if (n.k === 'range') {
        const v = this.pipe({ ...n.p, decl: [] }, dot);
        const entries: [unknown, unknown][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === 'object' && !(GO_TYPE in v)
            ? Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]])
            : typeof v === 'number'
              ? Array.from({ length: v }, (_x, i) => [i, i])
              : v === undefined || v === null
                ? []
                : this.err(n.p.pos, 'range', `range can't iterate over ${goString(v)}`);
        if (!entries.length) return this.list(n.alt, dot);
        let out = '';
        for (const [k, x] of entries) {
          this.vars.length = mark;
          if (n.p.decl.length === 1) this.vars.push([n.p.decl[0]!, x]);
          else if (n.p.decl.length === 2) this.vars.push([n.p.decl[0]!, k], [n.p.decl[1]!, x]);
          out += this.list(n.body, x);
        }
        return out;
      }
      const v = this.pipe(n.p, dot);
      if (truthy(v)) return this.list(n.body, n.k === 'with' ? v : dot);
      return this.list(n.alt, dot);
    } finally {
      this.vars.length = mark;
    }
  }

  private pipe(p: Pipe, dot: unknown): unknown {
    let v: unknown;
    let piped = false;
    for (const c of p.cmds) {
      v = this.cmd(c, dot, piped ? [v] : []);
      piped = true;
    }
    if (p.decl.length) {
      if (p.assign) {
        const slot = [...this.vars].reverse().find(([n]) => n === p.decl[0]);
        if (!slot) this.err(p.pos, p.decl[0]!, `undefined variable: ${p.decl[0]}`);
        slot[1] = v;
      } else this.vars.push([p.decl[0]!, v]);
    }
    return v;
  }

  private cmd(c: Cmd, dot: unknown, piped: unknown[]): unknown {
    const [head, ...rest] = c.args;
    if (head!.k === 'ident') {
      const args = [...rest.map((a) => this.arg(a, dot)), ...piped];
      try {
        return this.funcs[head!.name]!(...args);
      } catch (e) {
        if (e instanceof TemplateError && !e.message.startsWith('template:')) this.err(head!.pos, head!.name, `error calling ${head!.name}: ${e.message}`);
        throw e;
      }
    }
    const extra = [...rest.map((a) => this.arg(a, dot)), ...piped];
    if (head!.k === 'lit') {
      if (extra.length) this.err(head!.pos, goString(head!.v), `can't give argument to non-function ${goString(head!.v)}`);
      return head!.v;
    }
    return this.arg(head!, dot, extra);
  }

  private arg(a: Arg, dot: unknown, callArgs: unknown[] = []): unknown {
    if (a.k === 'lit') return a.v;
    if (a.k === 'ident') return this.funcs[a.name]!();
    let v: unknown;
    if (a.k === 'pipe') v = this.pipe(a.p, dot);
    else if (a.base === 'dot') v = dot;
    else {
      const slot = [...this.vars].reverse().find(([n]) => n === a.base);
      if (!slot) this.err(a.pos, a.text, `undefined variable: ${a.base}`);
      v = slot[1];
    }
    const chain = a.chain;
    if (!chain.length && callArgs.length) this.err(a.pos, a.text, `can't give argument to non-function ${a.text}`);
    for (let i = 0; i < chain.length; i++) {
      const name = chain[i]!;
      const last = i === chain.length - 1;
      v = this.field(a, v, name, last ? callArgs : []);
    }
    return v;
  }

  private field(a: Arg & { text: string }, recv: unknown, name: string, args: unknown[]): unknown {
    if (this.header && typeof recv === 'object' && recv !== null && !(name in recv)) return undefined;
    if (recv === undefined || recv === null) this.err(a.pos, a.text, `nil pointer evaluating interface {}.${name}`);
    if (typeof recv !== 'object' || recv instanceof String) this.err(a.pos, a.text, `can't evaluate field ${name} in type ${typeName(recv)}`);
    const o = recv as Record<string, unknown>;
    if (GO_TYPE in o) {
      if (!Object.prototype.hasOwnProperty.call(o, name)) this.err(a.pos, a.text, `can't evaluate field ${name} in type ${typeName(o)}`);
      const v = o[name];
      if (typeof v === 'function') return (v as Fn)(...args);
      if (args.length) this.err(a.pos, a.text, `${name} has arguments but cannot be invoked as function`);
      return v;
    }
    // A table's header row runs over the column titles: {{.Label "k"}} is "LABEL" there.
    if (args.length && !this.header) this.err(a.pos, a.text, `${name} is not a method but has arguments`);
    if (Array.isArray(o)) this.err(a.pos, a.text, `can't evaluate field ${name} in type []interface {}`);
    const v = Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;
    if (this.header && typeof v === 'function') return name.toUpperCase();
    return v;
  }
}

/** How an action's value is written: strings as they are (control characters escaped), json as JSON. */
function printed(v: unknown): string {
  if (v instanceof RawText) return v.toString();
  if (v instanceof JsonText) return visibleJson(v.toString());
  if (typeof v === 'string') return visible(v);
  return visible(goString(v));
}
