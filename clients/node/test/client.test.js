// End-to-end: start the real Python server with every model on the identity engine (returns
// its input unchanged, needs no model files), then drive it through NewsmtClient.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NewsmtClient, NewsmtError } from '../src/index.js';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const REGISTRY = path.join(PACKAGE_DIR, '../../service/newsmt/models/registry.toml');
const SEED = path.join(PACKAGE_DIR, '../../seeds/000_c5d375cfc53bbf9d.txt');
const MODELS = ['opus-mt-en-ru', 'opus-mt-ru-en', 'opus-mt-en-es', 'opus-mt-es-en', 'distilbart-cnn-12-6'];
const STARTUP_MS = 60_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** The seed's first non-empty line, less its markdown, is the title; the rest is the body. */
function parseSeed(text) {
  const match = /^\s*(.+)\n/.exec(text);
  return {
    title: match[1].replace(/^[#\s*_]+|[\s*_]+$/g, ''),
    body: text.slice(match[0].length),
  };
}

let server;
let serverLog = '';
let workDir;
let client;

async function waitUntilServing(probe) {
  const exited = new Promise((_, reject) => {
    server.once('exit', (code, signal) =>
      reject(new Error(`server exited (${code ?? signal}) before serving:\n${serverLog}`)));
  });
  exited.catch(() => {}); // observed only through the race below
  const deadline = Date.now() + STARTUP_MS;
  let last;
  while (Date.now() < deadline) {
    try {
      const { status } = await Promise.race([probe.health('', { timeoutMs: 1000 }), exited]);
      if (status === 'SERVING') return;
      last = status;
    } catch (error) {
      if (!(error instanceof NewsmtError)) throw error;
      last = error.message;
    }
    await Promise.race([new Promise((r) => setTimeout(r, 200)), exited]);
  }
  throw new Error(`server not SERVING after ${STARTUP_MS} ms (last: ${last}):\n${serverLog}`);
}

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'newsmt-node-'));
  const registry = (await readFile(REGISTRY, 'utf8')).replace(
    /^\[models\.[^\].]+\]$/gm,
    (header) => `${header}\nengine = "identity"`,
  );
  const registryPath = path.join(workDir, 'registry.toml');
  await writeFile(registryPath, registry);
  const port = await freePort();
  const python = process.env.NEWSMT_PYTHON || 'python3';
  server = spawn(
    python,
    ['-m', 'newsmt.cli.main', 'serve', '--port', String(port), '--http-port', '-1', '--model-dir', workDir, '--registry', registryPath],
    { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const stream of [server.stdout, server.stderr]) {
    stream.setEncoding('utf8').on('data', (chunk) => { serverLog += chunk; });
  }
  server.on('error', (error) => { serverLog += `spawn ${python}: ${error.message}\n`; });
  client = new NewsmtClient(`127.0.0.1:${port}`, { timeoutMs: 30_000 });
  await waitUntilServing(client);
});

after(async () => {
  client?.close();
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('discovery', () => {
  test('health is SERVING for the server and each service', async () => {
    for (const service of ['', 'newsmt.v1.TranslationService', 'newsmt.v1.SummarizationService', 'newsmt.v1.ArticleService']) {
      assert.deepEqual(await client.health(service), { status: 'SERVING' }, service);
    }
  });

  test('ListModels returns the five registry models on the identity engine', async () => {
    const { models } = await client.listModels();
    assert.deepEqual(models.map((m) => m.name).sort(), [...MODELS].sort());
    for (const model of models) {
      assert.equal(model.engine, 'identity', model.name);
      assert.equal(model.loaded, true, model.name);
      assert.equal(model.state, 'STATE_READY', model.name);
    }
    const enRu = models.find((m) => m.name === 'opus-mt-en-ru');
    assert.equal(enRu.task, 'translation');
    assert.equal(enRu.sourceLanguageCode, 'en');
    assert.equal(enRu.targetLanguageCode, 'ru');
    assert.equal(enRu.repo, 'Helsinki-NLP/opus-mt-en-ru');
    assert.equal(enRu.maxInputTokens, 512);
    assert.equal(models.find((m) => m.name === 'distilbart-cnn-12-6').task, 'summarization');
  });

  test('ListLanguages lists the pairs, ru<->es through English', async () => {
    const { pairs, summaryLanguageCodes, summariesAvailable } = await client.listLanguages();
    const route = (s, t) => pairs.find((p) => p.sourceLanguageCode === s && p.targetLanguageCode === t)?.models;
    assert.deepEqual(route('en', 'ru'), ['opus-mt-en-ru']);
    assert.deepEqual(route('ru', 'es'), ['opus-mt-ru-en', 'opus-mt-en-es']);
    assert.ok(pairs.every((p) => p.available));
    assert.deepEqual([...summaryLanguageCodes].sort(), ['en', 'es', 'ru']);
    assert.equal(summariesAvailable, true);
  });
});

describe('Translate', () => {
  test('en->ru returns the texts unchanged with ids echoed and a one-model route', async () => {
    const segments = [
      { id: 'a', text: 'The central bank raised interest rates on Tuesday.' },
      { id: 'b', text: 'Markets fell sharply.\n\nAnalysts expect more.' },
    ];
    const { translations } = await client.translate(segments, { source: 'en', target: 'ru' });
    assert.equal(translations.length, 2);
    translations.forEach((t, i) => {
      assert.equal(t.id, segments[i].id);
      assert.equal(t.translatedText, segments[i].text);
      assert.deepEqual(t.route.models, ['opus-mt-en-ru']);
      assert.equal(t.detectedLanguage.languageCode, 'en');
      assert.equal(t.detectedLanguage.confidence, 1);
      assert.equal(t.outputTruncated, false);
    });
  });

  test('a subtitle file comes back byte for byte under its translated name', async () => {
    const srt = Buffer.from('1\n00:00:01,000 --> 00:00:03,000\nThe council met on Tuesday.\n\n'
      + '2\n00:00:03,500 --> 00:00:05,000\nIt approved the budget.\n', 'utf8');
    const out = await client.translateDocument(srt, { target: 'ru', source: 'en', fileName: 'clip.srt' });
    assert.ok(Buffer.isBuffer(out.content));
    assert.equal(out.content.equals(srt), true);
    assert.equal(out.fileName, 'clip.ru.srt');
    assert.equal(out.units, 2);
    assert.deepEqual(out.route.models, ['opus-mt-en-ru']);
  });

  test('ru->es pivots through English', async () => {
    const text = 'Центральный банк повысил процентные ставки во вторник.';
    const { translations: [t] } = await client.translate([text], { source: 'ru', target: 'es' });
    assert.equal(t.id, '0');
    assert.equal(t.translatedText, text);
    assert.deepEqual(t.route.models, ['opus-mt-ru-en', 'opus-mt-en-es']);
  });

  test('an empty segment comes back empty with an empty route', async () => {
    const { translations: [t] } = await client.translate([{ id: 'empty', text: '' }], { source: 'en', target: 'ru' });
    assert.equal(t.id, 'empty');
    assert.equal(t.translatedText, '');
    assert.deepEqual(t.route.models, []);
  });
});

describe('TranslateStream', () => {
  const html = '<p>The <b>talks</b> ended. <img alt="A photo"> Both sides spoke.</p><p>More soon.</p>';

  test('units joined equal Translate, one segmentDone per segment, one done last', async () => {
    const texts = [html, '', 'Hola a todos. Buenos días, amigos.'];
    const events = [];
    for await (const event of client.translateStream(texts, { target: 'ru', format: 'html' })) {
      events.push(event);
    }
    const { translations } = await client.translate(texts, { target: 'ru', format: 'html' });
    const joined = texts.map(() => '');
    for (const e of events.filter((x) => x.event === 'unit')) joined[e.unit.segmentIndex] += e.unit.text;
    assert.deepEqual(joined, translations.map((t) => t.translatedText));
    assert.deepEqual(joined, texts);
    const done = events.filter((x) => x.event === 'segmentDone').map((x) => x.segmentDone);
    assert.deepEqual(done.map((d) => d.segmentIndex), [0, 1, 2]);
    assert.equal(done[2].translation.detectedLanguage.languageCode, 'es');
    assert.deepEqual(done[2].translation.route.models, ['opus-mt-es-en', 'opus-mt-en-ru']);
    assert.equal(done[0].translation.translatedText, '');
    assert.equal(events.at(-1).event, 'done');
    assert.equal(events.at(-1).done.units, events.filter((x) => x.event === 'unit').length);
    // Translate ran second: every unit of it came from the cache the stream filled.
    assert.equal(translations[0].cachedUnits, translations[0].units);
  });

  test('breaking out of the loop cancels the call', async () => {
    const article = Array.from({ length: 20 }, (_, i) => `Sentence ${i} of the story.`).join(' ');
    let first;
    for await (const event of client.translateStream([article], { target: 'ru', source: 'en' })) {
      first = event;
      break;
    }
    assert.equal(first.event, 'unit');
    assert.equal(first.unit.unitIndex, 0);
    const [again] = (await client.translate(['Still serving.'], { target: 'ru', source: 'en' })).translations;
    assert.equal(again.translatedText, 'Still serving.');
  });

  test('an unsupported target fails the stream with INVALID_ARGUMENT', async () => {
    await assert.rejects(async () => {
      for await (const _ of client.translateStream(['Hello.'], { target: 'xx' })) { /* none */ }
    }, (error) => error instanceof NewsmtError && error.codeName === 'INVALID_ARGUMENT');
  });
});

describe('documents and quality', () => {
  test('HTML comes back byte for byte with glossary terms reported', async () => {
    const html = '<p>The <b>minister</b> met <a href="/x?a=1&amp;b=2">Reuters</a> today.</p>';
    const { translations: [out] } = await client.translate([html], {
      source: 'en', target: 'ru', format: 'html', glossary: { Reuters: '', minister: 'министр' },
    });
    assert.ok(out.translatedText.includes('<a href="/x?a=1&amp;b=2">'));
    assert.ok(out.translatedText.includes('министр'));
    assert.deepEqual([...out.appliedTerms].sort(), ['Reuters', 'minister']);
    assert.deepEqual(out.missedTerms, []);
    assert.equal(out.markupDegraded, false);
  });

  test('an untranslated copy carries its quality flags', async () => {
    const text = 'The central bank raised its key rate to 16.5% on Friday.';
    const { translations: [out] } = await client.translate([text], { source: 'en', target: 'ru' });
    assert.ok(out.quality.flags.includes('QUALITY_FLAG_UNTRANSLATED'));
    assert.ok(out.quality.flags.includes('QUALITY_FLAG_WRONG_LANGUAGE'));
    assert.ok(!out.quality.flags.includes('QUALITY_FLAG_NUMBER_MISMATCH'));
    assert.equal(out.quality.calibrated, false);
    assert.equal(out.quality.sentences, 1);
  });

  test('a summary says what it was checked against', async () => {
    const summary = await client.summarize('The minister resigned. Polls open in May.', {
      source: 'en', target: 'es', maxSentences: 1,
    });
    assert.equal(summary.faithfulness.checkedAgainstLanguageCode, 'en');
    assert.equal(summary.faithfulness.flagged, false);
  });

  test('an unknown format is refused before any call', async () => {
    await assert.rejects(client.translate(['x'], { target: 'ru', format: 'docx' }), TypeError);
  });
});

test('DetectLanguage identifies English, Russian and Spanish', async () => {
  const { languages } = await client.detectLanguage([
    'The government announced new measures to fight inflation this week.',
    'Правительство объявило на этой неделе о новых мерах по борьбе с инфляцией.',
    'El gobierno anunció esta semana nuevas medidas para combatir la inflación.',
  ]);
  assert.deepEqual(languages.map((l) => l.languageCode), ['en', 'ru', 'es']);
  for (const { confidence } of languages) assert.ok(confidence > 0 && confidence <= 1, String(confidence));
});

test('ProcessArticle returns the seed article byte for byte, with every stage OK', async () => {
  const { title, body } = parseSeed(await readFile(SEED, 'utf8'));
  assert.ok(title.length > 0 && body.length > 1000);
  const response = await client.processArticle({
    id: 'seed-000',
    title,
    body,
    targets: ['ru', 'es'],
    summaries: ['en', 'ru', 'es'],
  });
  assert.equal(response.id, 'seed-000');
  assert.equal(response.detectedLanguage.languageCode, 'en');
  assert.equal(response.demo, true);
  assert.deepEqual(response.translations.map((t) => t.targetLanguageCode), ['ru', 'es']);
  for (const t of response.translations) {
    assert.deepEqual(t.status, { code: 0, message: '' }, t.targetLanguageCode);
    assert.equal(t.title, title);
    assert.equal(t.body, body);
    assert.deepEqual(t.route.models, [`opus-mt-en-${t.targetLanguageCode}`]);
  }
  assert.deepEqual(response.summaries.map((s) => s.languageCode), ['en', 'ru', 'es']);
  for (const s of response.summaries) {
    assert.deepEqual(s.status, { code: 0, message: '' }, s.languageCode);
    assert.ok(s.summary.trim().length > 0, s.languageCode);
    assert.notEqual(s.inputHandling.mode, 'MODE_UNSPECIFIED');
    assert.ok(s.route.models.includes('distilbart-cnn-12-6'));
  }
});

test('Summarize returns a summary and how the input was handled', async () => {
  const { body } = parseSeed(await readFile(SEED, 'utf8'));
  const response = await client.summarize(body, { source: 'en', target: 'es', maxSentences: 3 });
  assert.ok(response.summary.trim().length > 0);
  assert.equal(response.targetLanguageCode, 'es');
  assert.equal(response.detectedLanguage.languageCode, 'en');
  assert.ok(['MODE_WHOLE', 'MODE_CHUNKED'].includes(response.inputHandling.mode), response.inputHandling.mode);
  assert.ok(response.inputHandling.inputTokens > 0);
  assert.ok(response.inputHandling.windowTokens > 0);
  assert.deepEqual(response.route.models, ['distilbart-cnn-12-6', 'opus-mt-en-es']);
});

describe('errors', () => {
  test('an unsupported target is INVALID_ARGUMENT with a BadRequest violation', async () => {
    await assert.rejects(client.translate(['Hello.'], { source: 'en', target: 'de' }), (error) => {
      assert.ok(error instanceof NewsmtError);
      assert.equal(error.code, 3);
      assert.equal(error.codeName, 'INVALID_ARGUMENT');
      assert.equal(typeof error.details, 'string');
      assert.deepEqual(error.violations.map((v) => v.field), ['target_language_code']);
      assert.match(error.violations[0].description, /unsupported/);
      assert.equal(error.statusDetails[0].type, 'google.rpc.BadRequest');
      assert.match(error.requestId, /^[0-9a-f-]{36}$/); // the x-request-id the client sent
      return true;
    });
  });

  test('a missing target is INVALID_ARGUMENT', async () => {
    await assert.rejects(client.translate(['Hello.']), (error) => {
      assert.equal(error.code, 3);
      assert.deepEqual(error.violations.map((v) => v.field), ['target_language_code']);
      return true;
    });
  });

  test('both summary limits at once is refused before any call', async () => {
    await assert.rejects(client.summarize('Text.', { maxTokens: 50, maxSentences: 2 }), TypeError);
  });

  test('a 1 ms deadline on a large article is DEADLINE_EXCEEDED', async () => {
    const { title, body } = parseSeed(await readFile(SEED, 'utf8'));
    const large = body.repeat(Math.floor(90_000 / body.length));
    const article = { title, body: large, targets: ['ru', 'es'], summaries: ['en', 'ru', 'es'] };
    await assert.rejects(client.processArticle(article, { timeoutMs: 1 }), (error) => {
      assert.ok(error instanceof NewsmtError);
      assert.equal(error.code, 4);
      assert.equal(error.codeName, 'DEADLINE_EXCEEDED');
      return true;
    });
  });
});
