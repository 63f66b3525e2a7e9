// Text helpers: code-point spans, the part of a unit an editor edits, glossary marks (as DOM
// nodes built from text, never HTML), terms files, download names.

/**
 * Slices by Unicode code points, as the API counts `sourceStart`/`sourceEnd` (JavaScript
 * strings count UTF-16 units: an emoji is one code point and two units).
 */
export class CodePoints {
  constructor(text) {
    this.text = text;
    this.offsets = []; // code point index -> UTF-16 index
    let i = 0;
    for (const ch of text) {
      this.offsets.push(i);
      i += ch.length;
    }
    this.offsets.push(text.length);
  }

  slice(start, end) {
    const last = this.offsets.length - 1;
    const a = this.offsets[Math.min(start, last)];
    const b = this.offsets[Math.min(end, last)];
    return this.text.slice(a, b);
  }
}

const LEAD = {
  TEXT_FORMAT_HTML: /^(?:\s|<[^>]*>)*/,
  TEXT_FORMAT_MARKDOWN: /^(?:\s|#{1,6}[ \t]+|[-*+][ \t]+|\d{1,9}[.)][ \t]+|>[ \t]?)*/,
};
const TRAIL = {
  TEXT_FORMAT_HTML: /(?:\s|<[^>]*>)*$/,
};

/**
 * A unit's text as [before, core, after]: what an editor reads and edits is the core; the
 * separators and block markup around it (paragraph breaks, `</p><p>`, `## `) stay as they
 * were, so an edit cannot break the document's structure by accident.
 */
export function splitUnit(text, format) {
  const lead = (LEAD[format] || /^\s*/).exec(text)[0];
  const rest = text.slice(lead.length);
  const trail = (TRAIL[format] || /\s*$/).exec(rest)[0];
  return [lead, rest.slice(0, rest.length - trail.length), trail];
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Appends `text` to `parent` as text nodes, wrapping each occurrence of a term in a <mark>.
 * `terms`: [{text, ignoreCase, kind: 'applied'|'missed', label}], longest matched first, on
 * word boundaries (as the server matches them).
 */
export function appendMarked(parent, text, terms) {
  const usable = terms.filter((t) => t.text);
  if (!usable.length) {
    parent.append(text);
    return;
  }
  usable.sort((a, b) => b.text.length - a.text.length);
  const pattern = usable.map((t) => `(${escapeRegExp(t.text)})`).join('|');
  const sensitive = new RegExp(`(?<![\\p{L}\\p{N}])(?:${pattern})(?![\\p{L}\\p{N}])`, 'gu');
  const insensitive = new RegExp(sensitive.source, 'giu');
  const found = [];
  for (const re of [sensitive, insensitive]) {
    for (const m of text.matchAll(re)) {
      const index = m.slice(1).findIndex((g) => g !== undefined);
      const term = usable[index];
      if (re === insensitive && !term.ignoreCase) continue;
      if (re === sensitive && term.ignoreCase) continue;
      found.push({ start: m.index, end: m.index + m[0].length, term });
    }
  }
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  let at = 0;
  for (const hit of found) {
    if (hit.start < at) continue;
    parent.append(text.slice(at, hit.start));
    const mark = document.createElement('mark');
    mark.className = `term ${hit.term.kind}`;
    mark.title = hit.term.label;
    mark.textContent = text.slice(hit.start, hit.end);
    parent.append(mark);
    at = hit.end;
  }
  parent.append(text.slice(at));
}

/**
 * A terms file, read as the CLI reads it (README, "Documents: HTML, Markdown, glossaries"):
 * TSV, or CSV (RFC 4180) when the name ends in .csv; an optional header line; blank lines and
 * # comments skipped; a source alone keeps the term. Throws an Error naming the line.
 */
export function parseTerms(content, fileName) {
  const csv = /\.csv$/i.test(fileName);
  const rows = csv ? csvRows(content.replace(/^\uFEFF/, '')) : tsvRows(content.replace(/^\uFEFF/, ''));
  const entries = [];
  const seen = new Map();
  rows.forEach(({ line, cells }, n) => {
    if (cells.length === 1 && !cells[0].trim()) return;
    if (cells[0].trimStart().startsWith('#')) return;
    if (n === 0 && cells[0].trim().toLowerCase() === 'source' && (cells[1] || '').trim().toLowerCase() === 'target') return;
    if (cells.length > 2) throw new Error(`${fileName}, line ${line}: more than two columns`);
    const source = cells[0].trim();
    const target = (cells[1] || '').trim();
    if (!source) throw new Error(`${fileName}, line ${line}: the term is empty`);
    if (seen.has(source)) {
      if (seen.get(source) !== target) throw new Error(`${fileName}, line ${line}: "${source}" is given twice with different translations`);
      return;
    }
    seen.set(source, target);
    entries.push({ source, target, ignoreCase: false });
  });
  return entries;
}

function tsvRows(content) {
  return content.split(/\r\n|\n|\r/).map((text, i) => ({ line: i + 1, cells: text.split('\t') }));
}

function csvRows(content) {
  const rows = [];
  let cells = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  for (let i = 0; i < content.length; i += 1) {
    const ch = content[i];
    if (quoted) {
      if (ch === '"' && content[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (ch === '"') {
        quoted = false;
      } else {
        if (ch === '\n') line += 1;
        cell += ch;
      }
    } else if (ch === '"' && cell === '') {
      quoted = true;
    } else if (ch === ',') {
      cells.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && content[i + 1] === '\n') i += 1;
      cells.push(cell);
      rows.push({ line: rowLine, cells });
      cells = [];
      cell = '';
      line += 1;
      rowLine = line;
    } else {
      cell += ch;
    }
  }
  if (quoted) throw new Error(`line ${rowLine}: a quoted field is not closed`);
  if (cell !== '' || cells.length) {
    cells.push(cell);
    rows.push({ line: rowLine, cells });
  }
  return rows;
}

/** "story.html" -> "story.ru.html", as TranslateDocument names its files. */
export function translatedName(name, target) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)}.${target}${name.slice(dot)}` : `${name}.${target}`;
}

/** Offers bytes (or a string, as UTF-8) for download under `name`. */
export function download(data, name, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
