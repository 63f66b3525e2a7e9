// The review page: translate pasted text (streamed unit by unit) or a file, show each
// sentence beside its source with its flags in words, let an editor fix sentences, and hand
// back the final text or document. Every model output and every file's text goes into the
// page as text (textContent, text nodes); only preview.js renders markup, sanitised.

import { Api, ApiError, base64ToBytes, describeError, fileToBase64 } from './api.js';
import { render } from './preview.js';
import { CodePoints, appendMarked, download, parseTerms, splitUnit, translatedName } from './text.js';
import { decimal, flagWords, languageName, percent, plural } from './words.js';
import { XliffFile, plain } from './xliff.js';

const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

const TEXT_FILES = { txt: 'TEXT_FORMAT_PLAIN', html: 'TEXT_FORMAT_HTML', htm: 'TEXT_FORMAT_HTML', md: 'TEXT_FORMAT_MARKDOWN', markdown: 'TEXT_FORMAT_MARKDOWN' };
const EXTENSIONS = { TEXT_FORMAT_PLAIN: 'txt', TEXT_FORMAT_HTML: 'html', TEXT_FORMAT_MARKDOWN: 'md' };
const MEDIA = { TEXT_FORMAT_PLAIN: 'text/plain', TEXT_FORMAT_HTML: 'text/html', TEXT_FORMAT_MARKDOWN: 'text/markdown' };

const state = {
  pairs: [],
  models: [],
  file: null, // a File for TranslateDocument
  textFile: null, // {name, bom}: a text file loaded into the text box
  controller: null,
  result: null, // what is on show: see newTextResult / newFileResult
};

// -- the token dialog ---------------------------------------------------------------------

function askToken(refused) {
  const dialog = $('token-dialog');
  $('token-error').textContent = refused ? 'That token was refused. Check it and try again.' : '';
  $('token').value = '';
  return new Promise((resolve) => {
    const finish = (value) => {
      $('token-form').removeEventListener('submit', ok);
      $('token-cancel').removeEventListener('click', cancel);
      dialog.removeEventListener('cancel', cancel);
      dialog.close();
      resolve(value);
    };
    const ok = (event) => {
      event.preventDefault();
      const token = $('token').value.trim();
      if (token) finish(token);
      else $('token-error').textContent = 'Enter the token, or cancel.';
    };
    const cancel = (event) => {
      event.preventDefault();
      finish(null);
    };
    $('token-form').addEventListener('submit', ok);
    $('token-cancel').addEventListener('click', cancel);
    dialog.addEventListener('cancel', cancel);
    dialog.showModal();
    $('token').focus();
  });
}

const api = new Api(askToken);

function showError(error) {
  $('error').textContent = error ? describeError(error) : '';
}

// -- languages, models and the demo banner ------------------------------------------------

async function loadLanguages() {
  const [languages, models] = await Promise.all([api.json('/v1/languages'), api.json('/v1/models')]);
  state.pairs = languages.pairs;
  state.models = models.models;
  const sources = [...new Set(state.pairs.map((p) => p.sourceLanguageCode))];
  for (const code of sources) $('source').append(new Option(languageName(code), code));
  fillTargets();
  const box = $('summary-languages');
  if (!languages.summariesAvailable) box.append(el('p', 'hint', 'Summaries are not available on this server.'));
  for (const code of languages.summaryLanguageCodes) {
    const label = el('label', 'check');
    const input = el('input');
    input.type = 'checkbox';
    input.name = 'summary';
    input.value = code;
    input.disabled = !languages.summariesAvailable;
    label.append(input, ` ${languageName(code)}`);
    box.append(label);
  }
  updateBanner();
}

function fillTargets() {
  const source = $('source').value;
  const previous = $('target').value || 'ru';
  const targets = [...new Set(state.pairs.filter((p) => !source || p.sourceLanguageCode === source).map((p) => p.targetLanguageCode))];
  $('target').replaceChildren(...targets.map((code) => new Option(languageName(code), code)));
  $('target').value = targets.includes(previous) ? previous : targets[0] || '';
}

/** The banner for the models of a route (names), or of the pairs the choices can use. */
function updateBanner(route) {
  let names;
  if (route) {
    names = route;
  } else {
    const source = $('source').value;
    const target = $('target').value;
    names = state.pairs.filter((p) => p.targetLanguageCode === target && (!source || p.sourceLanguageCode === source)).flatMap((p) => p.models);
  }
  const infos = names.map((name) => state.models.find((m) => m.name === name)).filter(Boolean);
  const banner = $('banner');
  if (infos.some((m) => m.engine === 'identity')) {
    banner.textContent = 'Identity engine: the output is the input, not a translation. This server is set up for checking newsmt, not for translating.';
  } else if (infos.some((m) => m.demo)) {
    banner.textContent = 'Demo models: random weights, so every translation and summary here is meaningless text. This server is for trying newsmt, not for translating.';
  } else {
    banner.hidden = true;
    return;
  }
  banner.hidden = false;
}

// -- language detection while typing ------------------------------------------------------

let detectTimer = null;
let detectRun = 0;

function scheduleDetect() {
  clearTimeout(detectTimer);
  detectTimer = setTimeout(detect, 500);
}

async function detect() {
  const text = $('text').value;
  const run = (detectRun += 1);
  if ($('source').value || !text.trim()) {
    $('detected').textContent = '';
    return;
  }
  try {
    const { languages } = await api.json('/v1/detect', { texts: [text.slice(0, 5000)] });
    if (run !== detectRun) return;
    const [found] = languages;
    if (!found || !found.languageCode) {
      $('detected').textContent = 'No language detected yet.';
      return;
    }
    const served = state.pairs.some((p) => p.sourceLanguageCode === found.languageCode);
    $('detected').textContent = `Detected: ${languageName(found.languageCode)}, ${percent(found.confidence)} sure${served ? '' : ' (not a language this server translates)'}.`;
  } catch (error) {
    if (run === detectRun) $('detected').textContent = '';
    if (error instanceof ApiError && error.status === 401) showError(error);
  }
}

// -- the glossary editor ------------------------------------------------------------------

function addTerm(entry = { source: '', target: '', ignoreCase: false }) {
  const body = $('glossary').tBodies[0];
  const n = body.rows.length + 1;
  const row = body.insertRow();
  const cells = [row.insertCell(), row.insertCell(), row.insertCell(), row.insertCell()];
  const source = el('input');
  source.className = 'term-source';
  source.value = entry.source;
  source.setAttribute('aria-label', `Term ${n}`);
  const target = el('input');
  target.className = 'term-target';
  target.value = entry.target;
  target.setAttribute('aria-label', `Translation of term ${n} (empty: keep it)`);
  const any = el('input');
  any.type = 'checkbox';
  any.className = 'term-case';
  any.checked = entry.ignoreCase;
  any.setAttribute('aria-label', `Term ${n} in any case`);
  const remove = el('button', 'remove', 'Remove');
  remove.type = 'button';
  remove.setAttribute('aria-label', `Remove term ${n}`);
  remove.addEventListener('click', () => {
    row.remove();
    glossaryChanged();
  });
  cells[0].append(source);
  cells[1].append(target);
  cells[2].append(any);
  cells[3].append(remove);
  for (const input of [source, target, any]) input.addEventListener('change', glossaryChanged);
  glossaryChanged();
  return source;
}

function glossary() {
  return [...$('glossary').tBodies[0].rows]
    .map((row) => ({
      source: row.querySelector('.term-source').value.trim(),
      target: row.querySelector('.term-target').value.trim(),
      ignoreCase: row.querySelector('.term-case').checked,
    }))
    .filter((e) => e.source);
}

function glossaryChanged() {
  const n = glossary().length;
  $('glossary-count').textContent = n ? `(${plural(n, 'term')})` : '';
}

async function loadTerms(file) {
  $('glossary-error').textContent = '';
  try {
    const entries = parseTerms(await file.text(), file.name);
    $('glossary').tBodies[0].replaceChildren();
    for (const entry of entries) addTerm(entry);
    if (!entries.length) $('glossary-error').textContent = `${file.name} has no terms.`;
  } catch (error) {
    $('glossary-error').textContent = error.message;
  }
}

// -- files ----------------------------------------------------------------------------------

function extension(name) {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot + 1).toLowerCase();
}

/** A text file as text (UTF-8, with or without a BOM), or null for TranslateDocument. */
async function readText(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return null;
  try {
    return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes), bom };
  } catch {
    return null;
  }
}

async function chooseFile(file) {
  clearFile();
  if (!file) return;
  const format = TEXT_FILES[extension(file.name)];
  const decoded = format ? await readText(file) : null;
  if (decoded) {
    // A text file is reviewed as text: streamed, sentence by sentence, editable.
    $('text').value = decoded.text;
    $('format').value = format;
    state.textFile = { name: file.name, bom: decoded.bom };
    $('file-name').textContent = `${file.name}: in the text box, as ${$('format').selectedOptions[0].text}.`;
    scheduleDetect();
  } else {
    state.file = file;
    $('file-name').textContent = `${file.name} (${Math.ceil(file.size / 1024)} KB) will be translated as a file.`;
  }
  $('file-info').hidden = false;
}

function clearFile() {
  state.file = null;
  state.textFile = null;
  $('file').value = '';
  $('file-info').hidden = true;
  $('file-name').textContent = '';
}

// -- one result on show ---------------------------------------------------------------------

function resetResults(kind) {
  $('results').hidden = false;
  $('units').replaceChildren();
  $('facts').replaceChildren();
  $('flag-list').replaceChildren();
  $('flag-list').hidden = true;
  $('legend').hidden = true;
  $('progress').textContent = '';
  $('only-flagged').checked = false;
  $('summaries').hidden = true;
  $('summary-list').replaceChildren();
  document.querySelector('input[name=view][value=units]').checked = true;
  showView('units');
  const text = kind === 'text';
  $('copy').hidden = !text;
  $('views').hidden = !text;
  $('keys').hidden = false;
  state.result = null;
}

function fact(term, ...details) {
  const dt = el('dt', '', term);
  const dd = el('dd');
  dd.append(...details);
  $('facts').append(dt, dd);
}

/** The models of a route, saying beside them when their output is meaningless (demo weights),
 * so that the results say so wherever they are read, not only in the banner. */
function describeModels(route, none) {
  if (!route.models.length) return none;
  const names = route.models.join(' → ');
  return route.demo ? `${names} (demo models: the output is meaningless)` : names;
}

function describeSource(detected, given) {
  if (given) return languageName(given);
  if (!detected || !detected.languageCode) return 'nothing to detect';
  return `${languageName(detected.languageCode)} (detected, ${percent(detected.confidence)} sure)`;
}

function glossaryFacts(entries, applied, missed) {
  if (!entries.length) return;
  const name = (s) => {
    const e = entries.find((x) => x.source === s);
    return e && e.target ? `${s} → ${e.target}` : `${s} (kept)`;
  };
  fact('Glossary applied', applied.length ? applied.map(name).join('; ') : 'none');
  fact('Glossary missed', missed.length ? missed.map(name).join('; ') : 'none');
  $('legend').hidden = !(applied.length || missed.length);
}

function checksOf(quality, target) {
  const box = el('div', 'checks');
  const flags = (quality && quality.flags) || [];
  if (flags.length) {
    const list = el('ul', 'reasons');
    for (const flag of flags) {
      const [reason, why] = flagWords(flag, target);
      const item = el('li');
      item.append(el('strong', '', `${reason}: `), why);
      list.append(item);
    }
    box.append(list);
  }
  if (quality && quality.calibrated && quality.sentences) {
    box.append(el('p', 'logprob', `Seq-Logprob ${decimal(quality.meanLogprob)} (calibrated: lower is less sure)`));
  }
  return box;
}

// -- text: streamed, unit by unit ------------------------------------------------------------

function newTextResult(text, format, source, target, entries) {
  return {
    kind: 'text',
    text,
    points: new CodePoints(text),
    format,
    source,
    target,
    glossary: entries,
    units: [],
    translation: null,
    terms: null,
    done: false,
  };
}

function finalText(result) {
  return result.units.map((u) => u.lead + u.core + u.trail).join('');
}

function addUnit(result, event) {
  const start = event.sourceStart;
  const end = event.sourceEnd;
  const [lead, core, trail] = splitUnit(event.text, result.format);
  const [, sourceCore] = splitUnit(result.points.slice(start, end), result.format);
  const flags = (event.quality && event.quality.flags) || [];
  const unit = {
    index: result.units.length,
    start,
    end,
    lead,
    core,
    trail,
    original: core,
    source: sourceCore,
    quality: event.quality,
    flagged: flags.length > 0,
    flaggedSentences: (event.quality && event.quality.flaggedSentences) || 0,
    sentences: (event.quality && event.quality.sentences) || 0,
    cached: event.cached,
  };
  result.units.push(unit);
  const row = el('li', 'unit');
  row.id = `unit-${unit.index}`;
  row.dataset.index = unit.index;
  row.dataset.start = start;
  row.dataset.end = end;
  if (unit.flagged) row.classList.add('flagged');
  const num = el('span', 'num', String(unit.index + 1));
  num.setAttribute('aria-hidden', 'true');
  const src = el('div', 'src cell');
  src.lang = result.source || (result.translation && result.translation.detectedLanguage.languageCode) || '';
  const tgt = el('div', 'tgt cell');
  tgt.lang = result.target;
  for (const cell of [src, tgt]) cell.tabIndex = result.units.length === 1 && cell === tgt ? 0 : -1;
  row.append(num, src, tgt, checksOf(unit.quality, result.target));
  unit.row = row;
  unit.src = src;
  unit.tgt = tgt;
  renderUnit(result, unit);
  if ($('only-flagged').checked && !unit.flagged) row.hidden = true;
  $('units').append(row);
}

function renderUnit(result, unit) {
  const terms = result.terms || { source: [], target: [] };
  const src = el('span', 'text');
  appendMarked(src, unit.source, terms.source);
  unit.src.replaceChildren(el('span', 'vh', `Source ${unit.index + 1}: `), src);
  const tgt = el('span', 'text');
  appendMarked(tgt, unit.core, terms.target);
  const parts = [el('span', 'vh', `Translation ${unit.index + 1}${unit.flagged ? ', flagged' : ''}: `), tgt];
  if (unit.core !== unit.original) parts.push(el('span', 'edited', 'edited'));
  unit.tgt.replaceChildren(...parts);
}

function termsFor(entries, translation) {
  const applied = new Set(translation.appliedTerms);
  const missed = new Set(translation.missedTerms);
  const source = [];
  const target = [];
  for (const e of entries) {
    const what = e.target ? `${e.source} → ${e.target}` : `${e.source}, kept`;
    if (applied.has(e.source)) {
      source.push({ text: e.source, ignoreCase: e.ignoreCase, kind: 'applied', label: `Glossary term applied: ${what}` });
      target.push({ text: e.target || e.source, ignoreCase: false, kind: 'applied', label: `Glossary term applied: ${what}` });
    } else if (missed.has(e.source)) {
      source.push({ text: e.source, ignoreCase: e.ignoreCase, kind: 'missed', label: `Glossary term missed: the translation does not have ${e.target || e.source}` });
    }
  }
  return { source, target };
}

function textCounts(result) {
  const sentences = result.units.reduce((n, u) => n + u.sentences, 0);
  const flagged = result.units.reduce((n, u) => n + u.flaggedSentences, 0);
  const edited = result.units.filter((u) => u.core !== u.original).length;
  const node = $('progress');
  node.replaceChildren();
  const count = el('span', '', String(flagged));
  count.id = 'flagged-count';
  node.append(
    result.done ? '' : 'Translating… ',
    `${plural(sentences, 'sentence')}, `,
    count,
    ` flagged, ${edited} edited.`,
  );
}

async function translateText(signal) {
  const text = $('text').value;
  const format = $('format').value;
  const source = $('source').value;
  const target = $('target').value;
  const entries = glossary();
  const result = newTextResult(text, format, source, target, entries);
  resetResults('text');
  state.result = result;
  $('view-text-name').textContent = { TEXT_FORMAT_PLAIN: 'Final text', TEXT_FORMAT_HTML: 'Final HTML', TEXT_FORMAT_MARKDOWN: 'Final Markdown' }[format];
  $('view-rendered-label').hidden = format === 'TEXT_FORMAT_PLAIN';
  textCounts(result);
  const body = { segments: [{ id: 'text', text }], sourceLanguageCode: source, targetLanguageCode: target, format, glossary: entries };
  for await (const event of api.stream('/v1/translate:stream', body, signal)) {
    if (event.unit) {
      addUnit(result, event.unit);
      textCounts(result);
    } else if (event.segmentDone) {
      const t = event.segmentDone.translation;
      result.translation = t;
      const detected = t.detectedLanguage.languageCode;
      for (const unit of result.units) unit.src.lang = source || detected;
      fact('From', describeSource(t.detectedLanguage, source));
      fact('Into', languageName(target));
      fact('Models', describeModels(t.route, 'none (nothing to translate)'));
      if (t.cachedUnits) fact('From the cache', `${t.cachedUnits} of ${t.units} sentences`);
      if (t.markupDegraded) fact('Markup', 'some inline tags were placed by position, not by the model: check them');
      updateBanner(t.route.models);
      glossaryFacts(entries, t.appliedTerms, t.missedTerms);
      result.terms = termsFor(entries, t);
      for (const unit of result.units) renderUnit(result, unit);
    } else if (event.done) {
      result.done = true;
    }
  }
  result.done = true;
  textCounts(result);
  if (result.view) showView(result.view);
  return result;
}

// -- files: TranslateDocument ------------------------------------------------------------------

async function translateFile(file, signal) {
  const source = $('source').value;
  const target = $('target').value;
  const entries = glossary();
  resetResults('file');
  $('progress').textContent = `Translating ${file.name}…`;
  const body = {
    content: await fileToBase64(file),
    fileName: file.name,
    mimeType: '',
    sourceLanguageCode: source,
    targetLanguageCode: target,
    glossary: entries,
  };
  const response = await api.json('/v1/documents:translate', body, signal);
  const bytes = base64ToBytes(response.content);
  const result = { kind: 'file', response, bytes, target, xliff: null, units: [] };
  state.result = result;
  const q = response.quality;
  fact('From', describeSource(response.detectedLanguage, source));
  fact('Into', languageName(target));
  fact('Models', describeModels(response.route, 'none'));
  fact('Sentences', `${response.units}${response.cachedUnits ? `, ${response.cachedUnits} from the cache` : ''}`);
  if (response.markupDegraded) fact('Markup', 'some inline codes were placed by position, not by the model: check them');
  updateBanner(response.route.models);
  glossaryFacts(entries, response.appliedTerms, response.missedTerms);
  const list = $('flag-list');
  for (const where of response.flagged) {
    const item = el('li');
    item.append(el('strong', '', where.location), ': ', where.flags.map((f) => flagWords(f, target)[0]).join(', '));
    list.append(item);
  }
  list.hidden = !response.flagged.length;
  if (/xliff/.test(response.mimeType) || /\.(xlf|xliff)$/i.test(response.fileName)) {
    try {
      result.xliff = new XliffFile(bytes);
      showXliff(result, response);
    } catch (error) {
      fact('Edits', `not possible in this file: ${error.message}`);
    }
  }
  $('keys').hidden = !result.xliff;
  const flaggedCount = el('span', '', String(q.flaggedSentences));
  flaggedCount.id = 'flagged-count';
  $('progress').replaceChildren(`${response.fileName}: ${plural(q.sentences, 'sentence')}, `, flaggedCount, ' flagged. Download it when you are done.');
  return result;
}

function showXliff(result, response) {
  const flags = new Map(response.flagged.map((f) => [f.location, f.flags]));
  result.xliff.units.forEach((u, i) => {
    const row = el('li', 'unit');
    row.id = `unit-${i}`;
    row.dataset.index = i;
    row.dataset.label = u.label;
    const unitFlags = flags.get(u.label) || [];
    if (unitFlags.length) row.classList.add('flagged');
    const num = el('span', 'num', u.label);
    num.setAttribute('aria-hidden', 'true');
    const src = el('div', 'src cell');
    src.append(el('span', 'vh', `Source ${u.label}: `), el('span', 'text', u.source));
    const tgt = el('div', 'tgt cell');
    tgt.lang = result.target;
    const checks = checksOf({ flags: unitFlags }, result.target);
    if (u.locked) checks.append(el('p', 'locked', `Locked (${u.state || 'approved'}): not changed.`));
    else if (!u.editable) checks.append(el('p', 'locked', 'Cannot be edited here.'));
    for (const cell of [src, tgt]) cell.tabIndex = i === 0 && cell === tgt ? 0 : -1;
    row.append(num, src, tgt, checks);
    const unit = { index: i, row, src, tgt, flagged: unitFlags.length > 0, core: u.target, original: u.target, editable: u.editable, label: u.label };
    result.units.push(unit);
    renderXliffUnit(unit);
    $('units').append(row);
  });
}

function renderXliffUnit(unit) {
  const parts = [el('span', 'vh', `Translation ${unit.label}${unit.flagged ? ', flagged' : ''}: `), el('span', 'text', unit.core)];
  if (unit.core !== unit.original) parts.push(el('span', 'edited', 'edited, reviewed'));
  unit.tgt.replaceChildren(...parts);
}

// -- moving, highlighting, editing ---------------------------------------------------------------

function visibleRows() {
  return [...$('units').children].filter((row) => !row.hidden);
}

function focusCell(cell) {
  for (const other of $('units').querySelectorAll('.cell[tabindex="0"]')) other.tabIndex = -1;
  cell.tabIndex = 0;
  cell.focus();
  cell.scrollIntoView({ block: 'nearest' });
}

function link(event, on) {
  const cell = event.target.closest && event.target.closest('.cell');
  if (!cell) return;
  const row = cell.parentElement;
  for (const c of row.querySelectorAll('.cell')) c.classList.toggle('hl', on);
}

function jumpFlagged(step) {
  const rows = [...$('units').children].filter((row) => row.classList.contains('flagged') && !row.hidden);
  if (!rows.length) {
    $('progress').append(' No flagged sentences here.');
    return;
  }
  const current = document.activeElement && document.activeElement.closest ? document.activeElement.closest('.unit') : null;
  const all = [...$('units').children];
  const at = current ? all.indexOf(current) : -1;
  let next;
  if (step > 0) next = rows.find((row) => all.indexOf(row) > at) || rows[0];
  else next = [...rows].reverse().find((row) => all.indexOf(row) < at) || rows[rows.length - 1];
  focusCell(next.querySelector('.tgt'));
}

function unitOf(row) {
  return state.result.units[Number(row.dataset.index)];
}

function startEdit(unit) {
  const result = state.result;
  if (!result || (result.kind === 'file' && !unit.editable) || unit.row.querySelector('.editor')) return;
  const editor = el('div', 'editor');
  const id = `edit-${unit.index}`;
  const label = el('label', '', `Edit the translation of sentence ${unit.row.querySelector('.num').textContent}`);
  label.htmlFor = id;
  const area = el('textarea');
  area.id = id;
  area.value = unit.core;
  area.rows = Math.min(8, Math.max(2, Math.ceil(unit.core.length / 60)));
  area.lang = result.target;
  const problem = el('p', 'error');
  problem.setAttribute('role', 'alert');
  const save = el('button', 'primary', 'Save');
  save.type = 'button';
  const cancel = el('button', '', 'Cancel');
  cancel.type = 'button';
  const hint = el('p', 'hint', result.kind === 'file' ? 'Keep each ⟦n⟧ code: it carries formatting. Ctrl+Enter saves, Escape cancels.' : 'Ctrl+Enter saves, Escape cancels.');
  const buttons = el('div', 'actions');
  buttons.append(save, cancel);
  editor.append(label, area, hint, problem, buttons);
  unit.tgt.hidden = true;
  unit.tgt.after(editor);
  const close = () => {
    editor.remove();
    unit.tgt.hidden = false;
    focusCell(unit.tgt);
  };
  const commit = () => {
    const value = area.value;
    if (result.kind === 'file') {
      try {
        result.xliff.edit(unit.index, value);
      } catch (error) {
        problem.textContent = error.message;
        area.focus();
        return;
      }
      unit.core = value;
      renderXliffUnit(unit);
    } else {
      unit.core = value;
      renderUnit(result, unit);
      textCounts(result);
    }
    close();
  };
  save.addEventListener('click', commit);
  cancel.addEventListener('click', close);
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      close();
    } else if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      commit();
    }
  });
  area.focus();
}

function onUnitsKey(event) {
  const cell = event.target.closest && event.target.closest('.cell');
  if (!cell) return;
  const row = cell.parentElement;
  const rows = visibleRows();
  const at = rows.indexOf(row);
  const column = cell.classList.contains('src') ? '.src' : '.tgt';
  let next = null;
  if (event.key === 'ArrowDown' && at < rows.length - 1) next = rows[at + 1].querySelector(column);
  else if (event.key === 'ArrowUp' && at > 0) next = rows[at - 1].querySelector(column);
  else if (event.key === 'ArrowLeft') next = row.querySelector('.src');
  else if (event.key === 'ArrowRight') next = row.querySelector('.tgt');
  else if (event.key === 'Home') next = rows[0].querySelector(column);
  else if (event.key === 'End') next = rows[rows.length - 1].querySelector(column);
  else if ((event.key === 'Enter' || event.key === 'F2') && column === '.tgt') {
    event.preventDefault();
    startEdit(unitOf(row));
    return;
  } else return;
  event.preventDefault();
  if (next) focusCell(next);
}

function onGlobalKey(event) {
  if (event.key !== 'n' && event.key !== 'N') return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const t = event.target;
  if (t.closest && t.closest('input, textarea, select, dialog, [contenteditable]')) return;
  if (!state.result || $('results').hidden) return;
  event.preventDefault();
  jumpFlagged(event.shiftKey ? -1 : 1);
}

// -- views, copy, download ------------------------------------------------------------------

function showView(view) {
  const result = state.result;
  $('units').hidden = view !== 'units';
  $('rendered').hidden = view !== 'rendered';
  $('final-text').hidden = view !== 'text';
  if (!result || result.kind !== 'text') return;
  result.view = view;
  if (view === 'rendered') {
    const source = $('rendered-source');
    source.lang = result.source || (result.translation ? result.translation.detectedLanguage.languageCode : '');
    source.replaceChildren(render(result.text, result.format));
    $('rendered-target').lang = result.target;
    $('rendered-target').replaceChildren(render(finalText(result), result.format));
  } else if (view === 'text') {
    $('final-text').textContent = finalText(result);
    $('final-text').lang = result.target;
  }
}

async function copyFinal() {
  const result = state.result;
  if (!result || result.kind !== 'text') return;
  const text = finalText(result);
  try {
    await navigator.clipboard.writeText(text);
    $('progress').append(' Copied.');
  } catch {
    // No clipboard API here (a page not served over HTTPS or localhost): select it instead.
    document.querySelector('input[name=view][value=text]').checked = true;
    showView('text');
    getSelection().selectAllChildren($('final-text'));
    $('final-text').focus();
    $('progress').append(' Press Ctrl+C to copy the selected text.');
  }
}

function downloadFinal() {
  const result = state.result;
  if (!result) return;
  if (result.kind === 'file') {
    const bytes = result.xliff && result.xliff.edits.size ? result.xliff.bytes() : result.bytes;
    download(bytes, result.response.fileName, result.response.mimeType);
    return;
  }
  const text = finalText(result);
  const name = state.textFile && state.textFile.source === result.text
    ? translatedName(state.textFile.name, result.target)
    : `translation.${result.target}.${EXTENSIONS[result.format]}`;
  const bom = state.textFile && state.textFile.source === result.text && state.textFile.bom ? '\uFEFF' : '';
  download(bom + text, name, `${MEDIA[result.format]};charset=utf-8`);
}

// -- summaries ------------------------------------------------------------------------------------

async function summarize(result, signal) {
  const languages = [...document.querySelectorAll('input[name=summary]:checked')].map((i) => i.value);
  if (!languages.length) return;
  const sentences = Math.min(20, Math.max(1, Number($('summary-length').value) || 3));
  $('summaries').hidden = false;
  const source = result.source || result.translation.detectedLanguage.languageCode;
  for (const [n, language] of languages.entries()) {
    $('summary-progress').textContent = `Summarizing in ${languageName(language)} (${n + 1} of ${languages.length})…`;
    const response = await api.json('/v1/summarize', {
      text: result.text,
      sourceLanguageCode: source,
      targetLanguageCode: language,
      length: { maxSentences: sentences },
      format: result.format,
    }, signal);
    $('summary-list').append(summaryView(response, language));
  }
  $('summary-progress').textContent = `${plural(languages.length, 'summary', 'summaries')}.`;
}

function summaryView(response, language) {
  const f = response.faithfulness;
  const box = el('article', 'summary');
  const heading = el('h3', '', `In ${languageName(language)}`);
  heading.id = `summary-${language}`;
  box.setAttribute('aria-labelledby', heading.id);
  const text = el('p', 'summary-text');
  text.lang = language;
  const marks = [
    ...f.unsupportedNumbers.map((n) => ({ text: n, ignoreCase: false, kind: 'unsupported', label: `Not in the text: the number ${n}` })),
    ...f.unsupportedEntities.map((n) => ({ text: n, ignoreCase: false, kind: 'unsupported', label: `Not in the text: the name ${n}` })),
  ];
  appendMarked(text, response.summary, marks);
  box.append(heading, text);
  const unsupported = [];
  if (f.unsupportedNumbers.length) unsupported.push(`${f.unsupportedNumbers.length === 1 ? 'the number' : 'the numbers'} ${f.unsupportedNumbers.join(', ')}`);
  if (f.unsupportedEntities.length) unsupported.push(`${f.unsupportedEntities.length === 1 ? 'the name' : 'the names'} ${f.unsupportedEntities.join(', ')}`);
  if (unsupported.length) box.append(el('p', 'warn', `Check it: the text does not contain ${unsupported.join(' or ')} (marked).`));
  const facts = el('dl', 'facts');
  const add = (term, detail) => facts.append(el('dt', '', term), el('dd', '', detail));
  add('Coverage', `${percent(f.coverage)} of the summary's words are copied from the text.`);
  add('Density', `${decimal(f.density, 1)}: the copied passages are ${decimal(f.density, 1)} words long on average (high: whole sentences copied; low: reworded).`);
  add('Compression', `the text is ${decimal(f.compression, 1)} times as long as the summary.`);
  add('Read as', `${response.inputHandling.mode === 'MODE_CHUNKED' ? `${response.inputHandling.chunks} parts, summarized and combined` : response.inputHandling.mode === 'MODE_TRUNCATED' ? 'the beginning only (truncated)' : 'a whole'}; checked against the ${languageName(f.checkedAgainstLanguageCode)} text the summarizer read.`);
  box.append(facts);
  return box;
}

// -- the form -------------------------------------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  showError(null);
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  $('go').disabled = true;
  $('stop').hidden = false;
  try {
    if (state.file) {
      await translateFile(state.file, controller.signal);
    } else {
      if (!$('text').value.trim()) {
        showError(new ApiError(0, 'Paste a text or choose a file first.'));
        return;
      }
      if (state.textFile) state.textFile.source = $('text').value;
      const result = await translateText(controller.signal);
      await summarize(result, controller.signal);
    }
  } catch (error) {
    showError(error);
    if (state.result && state.result.kind === 'text') {
      state.result.done = true;
      textCounts(state.result);
      if (state.result.units.length) $('progress').append(' The translation stopped early: the sentences shown are complete.');
    }
  } finally {
    if (state.controller === controller) state.controller = null;
    $('go').disabled = false;
    $('stop').hidden = true;
  }
}

function wire() {
  $('form').addEventListener('submit', submit);
  $('stop').addEventListener('click', () => state.controller && state.controller.abort());
  $('text').addEventListener('input', scheduleDetect);
  $('source').addEventListener('change', () => {
    fillTargets();
    updateBanner();
    scheduleDetect();
  });
  $('target').addEventListener('change', () => updateBanner());
  $('file').addEventListener('change', () => chooseFile($('file').files[0]).catch(showError));
  $('file-clear').addEventListener('click', () => {
    clearFile();
    $('file').focus();
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const [file] = event.dataTransfer.files;
    if (file) chooseFile(file).catch(showError);
  });
  $('term-add').addEventListener('click', () => addTerm().focus());
  $('glossary-file').addEventListener('change', () => {
    const [file] = $('glossary-file').files;
    if (file) loadTerms(file);
    $('glossary-file').value = '';
  });
  $('only-flagged').addEventListener('change', () => {
    const only = $('only-flagged').checked;
    for (const row of $('units').children) row.hidden = only && !row.classList.contains('flagged');
    // Keep one way in for Tab: the first visible sentence when the current one is hidden.
    const stop = $('units').querySelector('.cell[tabindex="0"]');
    const [first] = visibleRows();
    if (first && (!stop || stop.closest('.unit').hidden)) {
      if (stop) stop.tabIndex = -1;
      first.querySelector('.tgt').tabIndex = 0;
    }
  });
  $('next-flag').addEventListener('click', () => jumpFlagged(1));
  $('prev-flag').addEventListener('click', () => jumpFlagged(-1));
  $('copy').addEventListener('click', copyFinal);
  $('download').addEventListener('click', downloadFinal);
  for (const radio of document.querySelectorAll('input[name=view]')) radio.addEventListener('change', () => showView(radio.value));
  const units = $('units');
  units.addEventListener('keydown', onUnitsKey);
  units.addEventListener('mouseover', (event) => link(event, true));
  units.addEventListener('mouseout', (event) => link(event, false));
  units.addEventListener('focusin', (event) => link(event, true));
  units.addEventListener('focusout', (event) => link(event, false));
  units.addEventListener('dblclick', (event) => {
    const cell = event.target.closest && event.target.closest('.tgt');
    if (cell) startEdit(unitOf(cell.parentElement));
  });
  document.addEventListener('keydown', onGlobalKey);
  window.addEventListener('beforeunload', (event) => {
    if (state.result && state.result.units.some((u) => u.core !== u.original)) event.preventDefault();
  });
}

wire();
loadLanguages().catch(showError);
