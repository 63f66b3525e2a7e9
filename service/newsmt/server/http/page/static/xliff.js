// XLIFF in the browser: the targets of the file TranslateDocument returned, and the
// reviewer's edits written back into it, marked reviewed (1.2: state="signed-off"; 2.x: the
// segment's state="reviewed"), so that a translator's tool sees them.
//
// The file is re-emitted, never re-serialised, as the server writes it: each edit replaces
// the bytes of one target's content and its state attribute, and every other byte stays as
// it was. So the file is read twice: the browser's XML parser checks that it is well formed
// (the server refuses DOCTYPEs, so there are no entities to expand), and the small lexer below
// finds where each element starts and ends in the text, which a DOM cannot tell.
//
// Inline codes (<g>, <x/>, <pc>, <ph/>, <bpt>, ...) are shown to the editor as numbered
// placeholders, ⟦1⟧...⟦/1⟧ for a pair and ⟦2/⟧ for a single code, as CAT tools show them;
// an edit must keep each of them once, in a valid nesting, and each goes back exactly as it
// was written.

const OPEN = '\u27e6';
const CLOSE = '\u27e7';

/** The tokens of an XML text: {kind, start, end, name, pair} with offsets into `src`. */
export function lex(src) {
  const tokens = [];
  const stack = [];
  let i = 0;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    if (lt < 0) {
      tokens.push({ kind: 'text', start: i, end: src.length });
      break;
    }
    if (lt > i) tokens.push({ kind: 'text', start: i, end: lt });
    let end;
    if (src.startsWith('<!--', lt)) {
      end = src.indexOf('-->', lt + 4) + 3;
      tokens.push({ kind: 'other', start: lt, end });
    } else if (src.startsWith('<![CDATA[', lt)) {
      end = src.indexOf(']]>', lt + 9) + 3;
      tokens.push({ kind: 'cdata', start: lt, end });
    } else if (src.startsWith('<?', lt)) {
      end = src.indexOf('?>', lt + 2) + 2;
      tokens.push({ kind: 'other', start: lt, end });
    } else if (src.startsWith('<!', lt)) {
      throw new Error('the file has a DOCTYPE');
    } else {
      end = tagEnd(src, lt);
      const closing = src[lt + 1] === '/';
      const name = /^<\/?([^\s/>]+)/.exec(src.slice(lt, end))[1];
      if (closing) {
        const open = stack.pop();
        if (open === undefined || tokens[open].name !== name) throw new Error(`</${name}> does not close the open element`);
        tokens[open].pair = tokens.length;
        tokens.push({ kind: 'end', start: lt, end, name, pair: open });
      } else if (src[end - 2] === '/') {
        tokens.push({ kind: 'empty', start: lt, end, name });
      } else {
        stack.push(tokens.length);
        tokens.push({ kind: 'start', start: lt, end, name });
      }
    }
    if (end <= lt) throw new Error('the file is cut short');
    i = end;
  }
  if (stack.length) throw new Error('the file is cut short');
  return tokens;
}

function tagEnd(src, lt) {
  let quote = null;
  for (let j = lt + 1; j < src.length; j += 1) {
    const ch = src[j];
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '>') {
      return j + 1;
    }
  }
  return -1;
}

const local = (name) => name.slice(name.indexOf(':') + 1);

function attrs(raw) {
  const out = {};
  for (const m of raw.matchAll(/([^\s=/<>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    out[local(m[1])] = unescapeXml(m[2] !== undefined ? m[2] : m[3]);
  }
  return out;
}

export function unescapeXml(s) {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

function escapeXml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Sets (value a string) or removes (null) an attribute in a start tag's raw text. */
export function setAttribute(tag, name, value) {
  const re = new RegExp(`\\s${name}\\s*=\\s*(?:"[^"]*"|'[^']*')`);
  if (value === null) return tag.replace(re, '');
  const written = ` ${name}="${escapeXml(value).replace(/"/g, '&quot;')}"`;
  if (re.test(tag)) return tag.replace(re, written);
  const at = tag.endsWith('/>') ? tag.length - 2 : tag.length - 1;
  return tag.slice(0, at) + written + tag.slice(at);
}

/** The encoding of an XML file's bytes: a BOM, else its declaration, else UTF-8. */
export function decode(bytes) {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)), encoding: 'utf-16le', bom: true };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)), encoding: 'utf-16be', bom: true };
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 200));
  const declared = /^(?:\uFEFF|\u00ef\u00bb\u00bf)?<\?xml[^>]*encoding\s*=\s*["']([^"']+)/i.exec(head);
  const encoding = declared ? declared[1].toLowerCase() : 'utf-8';
  if (encoding !== 'utf-8' && encoding !== 'utf8') throw new Error(`edits can be written to UTF-8 and UTF-16 files; this one is ${encoding}`);
  return { text: new TextDecoder('utf-8', { fatal: true }).decode(bom ? bytes.subarray(3) : bytes), encoding: 'utf-8', bom };
}

export function encode(text, encoding, bom) {
  if (encoding === 'utf-8') {
    const body = new TextEncoder().encode(text);
    if (!bom) return body;
    const out = new Uint8Array(body.length + 3);
    out.set([0xef, 0xbb, 0xbf]);
    out.set(body, 3);
    return out;
  }
  const little = encoding === 'utf-16le';
  const offset = bom ? 2 : 0;
  const out = new Uint8Array(offset + text.length * 2);
  if (bom) out.set(little ? [0xff, 0xfe] : [0xfe, 0xff]);
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    out[offset + 2 * i] = little ? c & 0xff : c >> 8;
    out[offset + 2 * i + 1] = little ? c >> 8 : c & 0xff;
  }
  return out;
}

/**
 * A translated XLIFF file: `units` are its translatable targets in file order, each
 * {label (as TranslateDocument's `flagged` names it), source, target (placeholder text),
 * locked, state}; `edit(i, text)` records an edit (or throws an Error saying what is wrong
 * with it); `bytes()` is the file with every edit written and marked reviewed.
 */
export class XliffFile {
  constructor(bytes) {
    const { text, encoding, bom } = decode(bytes);
    const parsed = new DOMParser().parseFromString(text, 'application/xml');
    if (parsed.getElementsByTagName('parsererror').length) throw new Error('the file is not well-formed XML');
    this.src = text;
    this.encoding = encoding;
    this.bom = bom;
    this.tokens = lex(text);
    const root = this.tokens.find((t) => t.kind === 'start' || t.kind === 'empty');
    if (!root || local(root.name) !== 'xliff') throw new Error('this is not an XLIFF file');
    this.version2 = !(attrs(this.tag(root)).version || '1.2').startsWith('1');
    this.units = [];
    this.edits = new Map();
    this.walk(this.tokens.indexOf(root), false);
  }

  tag(t) {
    return this.src.slice(t.start, t.end);
  }

  children(k) {
    const out = [];
    const t = this.tokens[k];
    if (t.kind !== 'start') return out;
    for (let i = k + 1; i < t.pair; i += 1) {
      const c = this.tokens[i];
      if (c.kind === 'start' || c.kind === 'empty') {
        out.push(i);
        if (c.kind === 'start') i = c.pair;
      }
    }
    return out;
  }

  child(kids, name) {
    const k = kids.find((i) => local(this.tokens[i].name) === name);
    return k === undefined ? -1 : k;
  }

  walk(k, noTranslate) {
    for (const i of this.children(k)) {
      const t = this.tokens[i];
      const a = attrs(this.tag(t));
      const skip = noTranslate || a.translate === 'no';
      const name = local(t.name);
      if (!this.version2 && name === 'trans-unit') {
        if (!skip) this.unit12(i, a);
      } else if (this.version2 && name === 'unit') {
        if (!skip) this.unit20(i, a);
      } else {
        this.walk(i, skip);
      }
    }
  }

  unit12(k, a) {
    const kids = this.children(k);
    const source = this.child(kids, 'source');
    const target = this.child(kids, 'target');
    if (source < 0) return;
    const state = target >= 0 ? attrs(this.tag(this.tokens[target])).state || '' : '';
    const locked = a.approved === 'yes' || state === 'final' || state === 'signed-off';
    this.add(a.id || '', source, target, target, locked, state);
  }

  unit20(k, a) {
    const segments = this.children(k).filter((i) => local(this.tokens[i].name) === 'segment');
    segments.forEach((seg, n) => {
      const kids = this.children(seg);
      const source = this.child(kids, 'source');
      if (source < 0) return;
      const sa = attrs(this.tag(this.tokens[seg]));
      const label = segments.length === 1 ? a.id || '' : `${a.id || ''}/${sa.id || n + 1}`;
      const state = sa.state || '';
      this.add(label, source, this.child(kids, 'target'), seg, state === 'final' || state === 'reviewed', state);
    });
  }

  add(label, source, target, stateHolder, locked, state) {
    const src = this.content(source);
    const tgt = target >= 0 ? this.content(target) : { text: '', codes: [], clash: false };
    this.units.push({
      label,
      source: src.text,
      target: tgt.text,
      codes: tgt.codes,
      locked,
      state,
      targetToken: target,
      stateToken: stateHolder,
      editable: !locked && target >= 0 && !src.clash && !tgt.clash,
    });
  }

  /** An element's content as placeholder text, and its codes' raw tags by number. */
  content(k) {
    const t = this.tokens[k];
    let text = '';
    const codes = [];
    if (t.kind !== 'start') return { text, codes, clash: false };
    const numbers = new Map();
    let clash = false; // the text itself has the placeholder brackets: edits would be ambiguous
    const literal = (s) => {
      clash = clash || s.includes(OPEN) || s.includes(CLOSE);
      text += s;
    };
    for (let i = k + 1; i < t.pair; i += 1) {
      const c = this.tokens[i];
      if (c.kind === 'text') literal(unescapeXml(this.src.slice(c.start, c.end)));
      else if (c.kind === 'cdata') literal(this.src.slice(c.start + 9, c.end - 3));
      else if (c.kind === 'empty') {
        codes.push({ open: this.tag(c), close: '' });
        text += `${OPEN}${codes.length}/${CLOSE}`;
      } else if (c.kind === 'start') {
        codes.push({ open: this.tag(c), close: this.tag(this.tokens[c.pair]) });
        numbers.set(c.pair, codes.length);
        text += `${OPEN}${codes.length}${CLOSE}`;
      } else if (c.kind === 'end') {
        text += `${OPEN}/${numbers.get(i)}${CLOSE}`;
      }
    }
    return { text, codes, clash };
  }

  /** Records the reviewer's text for unit `i`; throws when its placeholders do not match. */
  edit(i, text) {
    const unit = this.units[i];
    if (!unit.editable) throw new Error('this target cannot be edited here');
    this.edits.set(i, { text, xml: this.toXml(text, unit.codes) });
  }

  toXml(text, codes) {
    const re = new RegExp(`${OPEN}(/?)(\\d+)(/?)${CLOSE}`, 'g');
    const used = new Set();
    const stack = [];
    let out = '';
    let at = 0;
    for (const m of text.matchAll(re)) {
      out += escapeXml(text.slice(at, m.index));
      at = m.index + m[0].length;
      const n = Number(m[2]);
      const code = codes[n - 1];
      const single = m[3] === '/';
      const closing = m[1] === '/';
      if (!code || (single && code.close) || (!single && !code.close)) throw new Error(`${m[0]} is not one of this target's codes`);
      if (closing) {
        if (stack.pop() !== n) throw new Error(`${m[0]} closes a code that is not open`);
        out += code.close;
        continue;
      }
      if (used.has(n)) throw new Error(`${m[0]} is there twice`);
      used.add(n);
      out += code.open;
      if (!single) stack.push(n);
    }
    out += escapeXml(text.slice(at));
    if (stack.length) throw new Error(`${OPEN}${stack.pop()}${CLOSE} is not closed`);
    const missing = codes.findIndex((c, n) => !used.has(n + 1));
    if (missing >= 0) {
      const n = missing + 1;
      throw new Error(`keep the inline code ${OPEN}${n}${codes[missing].close ? '' : '/'}${CLOSE}: it carries the document's formatting`);
    }
    return out;
  }

  /** The file with every edit written and marked reviewed, in its own encoding. */
  bytes() {
    const replacements = [];
    for (const [i, edit] of this.edits) {
      const unit = this.units[i];
      const target = this.tokens[unit.targetToken];
      let open = this.tag(target);
      if (!this.version2) {
        open = setAttribute(setAttribute(open, 'state', 'signed-off'), 'state-qualifier', null);
      }
      if (target.kind === 'empty') {
        const name = target.name;
        open = `${open.replace(/\s*\/>$/, '')}>`;
        replacements.push([target.start, target.end, `${open}${edit.xml}</${name}>`]);
      } else {
        replacements.push([target.start, target.end, open]);
        replacements.push([target.end, this.tokens[target.pair].start, edit.xml]);
      }
      if (this.version2) {
        const seg = this.tokens[unit.stateToken];
        let tag = setAttribute(this.tag(seg), 'state', 'reviewed');
        const sub = attrs(this.tag(seg)).subState;
        if (sub && sub.startsWith('newsmt:')) tag = setAttribute(tag, 'subState', null);
        replacements.push([seg.start, seg.end, tag]);
      }
    }
    replacements.sort((a, b) => a[0] - b[0]);
    let out = '';
    let at = 0;
    for (const [start, end, text] of replacements) {
      out += this.src.slice(at, start) + text;
      at = end;
    }
    out += this.src.slice(at);
    return encode(out, this.encoding, this.bom);
  }
}

/** Placeholder text without its placeholders: what a reader reads. */
export function plain(text) {
  return text.replace(new RegExp(`${OPEN}/?\\d+/?${CLOSE}`, 'g'), '');
}
