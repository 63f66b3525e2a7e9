// End-to-end over HTTP: the real Python server (every model on the identity engine, a bearer
// token, a rate limit), driven by the unmodified official clients: deepl-node against the
// DeepL-compatible /v2 API and the npm `libretranslate` client against the LibreTranslate API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as deepl from 'deepl-node';
import { translate as libreTranslate } from 'libretranslate';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const REGISTRY = path.join(PACKAGE_DIR, '../../service/newsmt/models/registry.toml');
const STARTUP_MS = 60_000;
const KEY = 'node-http-key-0123456789abcdef';
// A second token, used up on purpose by the 429 tests (rate limits are per token).
const SPENT = 'node-http-spent-0123456789abcd';

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

let server;
let serverLog = '';
let workDir;
let base;

async function waitUntilReady() {
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited (${server.exitCode}):\n${serverLog}`);
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server not ready after ${STARTUP_MS} ms:\n${serverLog}`);
}

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'newsmt-node-http-'));
  const registry = (await readFile(REGISTRY, 'utf8')).replace(
    /^\[models\.[^\].]+\]$/gm,
    (header) => `${header}\nengine = "identity"`,
  );
  await writeFile(path.join(workDir, 'registry.toml'), registry);
  await writeFile(path.join(workDir, 'tokens'), `${KEY}\n${SPENT}\n`);
  const [port, httpPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${httpPort}`;
  const python = process.env.NEWSMT_PYTHON || 'python3';
  server = spawn(
    python,
    [
      '-m', 'newsmt.cli.main', 'serve', '--port', String(port), '--http-port', String(httpPort),
      '--metrics-port', '-1', '--model-dir', workDir, '--registry', path.join(workDir, 'registry.toml'),
      '--auth-tokens-file', path.join(workDir, 'tokens'), '--rate-limit-rps', '0.5', '--rate-limit-burst', '40',
    ],
    { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  for (const stream of [server.stdout, server.stderr]) {
    stream.setEncoding('utf8').on('data', (chunk) => { serverLog += chunk; });
  }
  server.on('error', (error) => { serverLog += `spawn ${python}: ${error.message}\n`; });
  await waitUntilReady();
});

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const translator = (key = KEY) => new deepl.Translator(key, { serverUrl: base, maxRetries: 0 });

describe('deepl-node', () => {
  test('translateText, plain and HTML, one text and several', async () => {
    const t = translator();
    const one = await t.translateText('The minister resigned on Monday.', 'en', 'ru');
    assert.equal(one.text, 'The minister resigned on Monday.');
    assert.equal(one.detectedSourceLang, 'en');
    assert.equal(one.billedCharacters, 32);
    const page = '<p>The <b>prime minister</b> resigned. <a href="/live">Follow live</a>.</p>';
    const [html] = await t.translateText([page], 'en', 'es', { tagHandling: 'html' });
    assert.equal(html.text, page);
    const many = await t.translateText(['Hello there.', 'Привет всем, как дела?'], null, 'en-US');
    assert.deepEqual(many.map((r) => r.text), ['Hello there.', 'Привет всем, как дела?']);
    assert.equal(many[1].detectedSourceLang, 'ru');
  });

  test('languages and usage', async () => {
    const t = translator();
    assert.deepEqual((await t.getSourceLanguages()).map((l) => l.code), ['en', 'es', 'ru']);
    const targets = await t.getTargetLanguages();
    assert.deepEqual(targets.map((l) => l.code), ['en-GB', 'en-US', 'es', 'es-419', 'ru']);
    const usage = await t.getUsage();
    assert.equal(usage.character.limit, 10 ** 12);
    assert.equal(usage.anyLimitReached(), false);
    assert.ok(usage.character.count > 0);
  });

  test('translateDocument on a plain-text file', async () => {
    const t = translator();
    const text = 'Breaking news.\n\nThe minister resigned.\n';
    const input = path.join(workDir, 'story.txt');
    const output = path.join(workDir, 'story.ru.txt');
    await writeFile(input, text);
    const status = await t.translateDocument(input, output, 'en', 'ru');
    assert.equal(status.done(), true);
    assert.equal(status.billedCharacters, text.length);
    assert.equal(await readFile(output, 'utf8'), text);
  });

  test('a wrong key is an AuthorizationError; the spent token gets TooManyRequestsError', async () => {
    await assert.rejects(translator('wrong-key-0123456789abcdef').translateText('x', null, 'ru'),
      deepl.AuthorizationError);
    const spent = translator(SPENT);
    let error;
    for (let i = 0; i < 60 && !error; i += 1) {
      try {
        await spent.getUsage();
      } catch (e) {
        error = e;
      }
    }
    assert.ok(error instanceof deepl.TooManyRequestsError, String(error));
  });
});

describe('npm libretranslate', () => {
  const call = (query, options = {}) =>
    libreTranslate({ query, source: 'en', target: 'es', apiurl: base, apiKey: KEY, ...options });

  test('translate, text and HTML, source given or auto', async () => {
    assert.equal(await call('The minister resigned.'), 'The minister resigned.');
    assert.equal(await call('<p>Hi <b>there</b>.</p>', { format: 'html' }), '<p>Hi <b>there</b>.</p>');
    assert.equal(await call('Министр ушёл в отставку.', { source: 'auto' }), 'Министр ушёл в отставку.');
  });

  test('unknown languages are refused by the client from /languages', async () => {
    await assert.rejects(call('x', { target: 'de' }), TypeError);
  });

  // This client returns `translatedText` of whatever comes back, so a refused call reads as
  // undefined; the statuses themselves are checked with fetch, as the client sends them.
  test('a wrong key and the rate limit: no text, and 403 and 429 on the wire', async () => {
    assert.equal(await call('x', { apiKey: 'wrong-key-0123456789abcdef' }), undefined);
    const body = (apiKey) => JSON.stringify({ q: 'x', source: 'en', target: 'es', format: 'text', apiKey });
    const post = (apiKey) => fetch(`${base}/translate`, {
      method: 'POST', body: body(apiKey), headers: { 'Content-Type': 'application/json' },
    });
    assert.equal((await post('wrong-key-0123456789abcdef')).status, 403);
    let limited;
    for (let i = 0; i < 60 && !limited; i += 1) {
      const response = await post(SPENT);
      if (response.status === 429) limited = response;
    }
    assert.ok(limited, 'no 429 for the spent token');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.match((await limited.json()).error, /^Slowdown/);
    assert.equal(await call('x', { apiKey: SPENT }), undefined);
  });
});
