// A small promise-based client for the newsmt gRPC services, loaded at runtime from the
// repository's protos/ (the contract) with @grpc/proto-loader.
//
// Field names are camelCase (proto-loader `keepCase: false`) in requests and responses alike:
// `targetLanguageCode`, `translatedText`, `detectedLanguage.languageCode`. Enums are their
// string names, 64-bit integers strings, and unset fields take their proto3 defaults.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { NewsmtError } from './errors.js';

export { NewsmtError, decodeStatusDetails } from './errors.js';

/** The repository's protos/ folder: the only contract. */
export const PROTOS_DIR = fileURLToPath(new URL('../../../protos/', import.meta.url));
/** The standard protos this client carries itself (grpc.health.v1, google.rpc). */
export const LOCAL_PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

export const LOADER_OPTIONS = Object.freeze({
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTOS_DIR, LOCAL_PROTO_DIR],
});

const PROTO_FILES = [
  'newsmt/v1/translation.proto',
  'newsmt/v1/summarization.proto',
  'newsmt/v1/article.proto',
  'grpc/health/v1/health.proto',
];

let loaded;
/** The grpc-js package object for the newsmt and health protos (loaded once). */
export function loadProtos() {
  loaded ??= grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_FILES, LOADER_OPTIONS));
  return loaded;
}

/** The server logs this id with the call; every call sends one (a fresh UUID unless given). */
const REQUEST_ID = 'x-request-id';

const LONG_INPUT = {
  chunk: 'LONG_INPUT_POLICY_CHUNK',
  truncate: 'LONG_INPUT_POLICY_TRUNCATE',
  reject: 'LONG_INPUT_POLICY_REJECT',
};

const TEXT_FORMAT = {
  plain: 'TEXT_FORMAT_PLAIN',
  html: 'TEXT_FORMAT_HTML',
  markdown: 'TEXT_FORMAT_MARKDOWN',
};

/** "plain" | "html" | "markdown" (or the TextFormat enum name); undefined is plain. */
function textFormat(value) {
  if (value === undefined) return 'TEXT_FORMAT_UNSPECIFIED';
  if (TEXT_FORMAT[value]) return TEXT_FORMAT[value];
  if (Object.values(TEXT_FORMAT).includes(value)) return value;
  throw new TypeError(`format must be one of ${Object.keys(TEXT_FORMAT).join(', ')}`);
}

/** `{ source: target }` ("" keeps the term) or `[{ source, target, ignoreCase }]`. */
function glossaryEntries(value) {
  if (value === undefined) return [];
  if (Array.isArray(value)) {
    return value.map(({ source, target = '', ignoreCase = false }) => ({ source, target, ignoreCase }));
  }
  return Object.entries(value).map(([source, target]) => ({ source, target, ignoreCase: false }));
}

function longInputPolicy(value) {
  if (value === undefined || value === null || value === '') return 'LONG_INPUT_POLICY_UNSPECIFIED';
  const policy = LONG_INPUT[value] ?? value;
  if (!Object.values(LONG_INPUT).includes(policy)) {
    throw new TypeError(`longInput must be one of ${Object.keys(LONG_INPUT).join(', ')}; got ${value}`);
  }
  return policy;
}

function summaryLength({ maxTokens, maxSentences }) {
  if (maxTokens != null && maxSentences != null) {
    throw new TypeError('give maxTokens or maxSentences, not both');
  }
  if (maxTokens != null) return { maxTokens };
  if (maxSentences != null) return { maxSentences };
  return {};
}

function toMetadata(value) {
  if (value instanceof grpc.Metadata) return value;
  const metadata = new grpc.Metadata();
  for (const [key, entry] of Object.entries(value ?? {})) {
    for (const item of [entry].flat()) metadata.add(key, item);
  }
  return metadata;
}

export class NewsmtClient {
  #timeoutMs;
  #metadata;
  #translation;
  #summarization;
  #article;
  #health;

  /**
   * @param {string} address host:port of a newsmt server
   * @param {object} [options]
   * @param {number} [options.timeoutMs=120000] deadline of every call, unless the call overrides it
   * @param {object|import('@grpc/grpc-js').Metadata} [options.metadata] sent with every call
   * @param {import('@grpc/grpc-js').ChannelCredentials} [options.credentials] default: insecure
   * @param {object} [options.channelOptions] grpc-js channel options
   */
  constructor(address, { timeoutMs = 120_000, metadata, credentials, channelOptions = {} } = {}) {
    const protos = loadProtos();
    const { v1 } = protos.newsmt;
    const { Health } = protos.grpc.health.v1;
    this.#timeoutMs = timeoutMs;
    this.#metadata = toMetadata(metadata);
    this.#translation = new v1.TranslationService(
      address,
      credentials ?? grpc.credentials.createInsecure(),
      channelOptions,
    );
    const shared = { channelOverride: this.#translation.getChannel() };
    this.#summarization = new v1.SummarizationService(address, null, shared);
    this.#article = new v1.ArticleService(address, null, shared);
    this.#health = new Health(address, null, shared);
  }

  /**
   * Translate segments into `target`. `texts`: strings (their index becomes the id) or
   * `{ id, text }` objects. Resolves to the TranslateResponse: `{ translations: [...] }`.
   */
  async translate(texts, { target, source = '', format, glossary, alternatives = 0, timeoutMs } = {}) {
    const segments = texts.map((t, i) => (typeof t === 'string' ? { id: String(i), text: t } : t));
    return this.#call(this.#translation, 'Translate', {
      segments,
      sourceLanguageCode: source,
      targetLanguageCode: target ?? '',
      format: textFormat(format),
      glossary: glossaryEntries(glossary),
      alternatives,
    }, timeoutMs);
  }

  /**
   * `translate`, as it happens: an async iterable of TranslateEvents, each `{ event, unit }`,
   * `{ event, segmentDone }` or `{ event, done }` (`event` names the one set). A segment's
   * `unit.text`s joined in order are its `translatedText`; `segmentDone.translation` has every
   * other field; `done` comes last (a stream without it is incomplete). Leaving the loop early
   * cancels the call, and the server drops its queued work. A failure mid-stream throws a
   * NewsmtError after the events already yielded, which stay valid.
   */
  async *translateStream(texts, { target, source = '', format, glossary, alternatives = 0, timeoutMs = this.#timeoutMs } = {}) {
    const segments = texts.map((t, i) => (typeof t === 'string' ? { id: String(i), text: t } : t));
    const request = {
      segments,
      sourceLanguageCode: source,
      targetLanguageCode: target ?? '',
      format: textFormat(format),
      glossary: glossaryEntries(glossary),
      alternatives,
    };
    const metadata = this.#metadata.clone();
    if (!metadata.get(REQUEST_ID).length) metadata.set(REQUEST_ID, randomUUID());
    const requestId = String(metadata.get(REQUEST_ID)[0]);
    const call = this.#translation.TranslateStream(request, metadata, { deadline: Date.now() + timeoutMs });
    try {
      for await (const event of call) yield event;
    } catch (error) {
      throw error?.code !== undefined ? NewsmtError.from(error, requestId) : error;
    } finally {
      call.cancel();
    }
  }

  /**
   * Translate a file (DOCX, PPTX, XLSX, SRT, WebVTT, XLIFF, plain text, HTML, Markdown) into
   * `target`: `content` is a Buffer (or Uint8Array) of the file's bytes; give `fileName` (its
   * extension tells the format) or `mimeType`. Resolves to the TranslateDocumentResponse:
   * `content` (a Buffer, the same format), `fileName` ("report.ru.docx"), `flagged` (where to
   * look, and why), and the counts and quality of a Translation.
   */
  async translateDocument(content, { target, source = '', fileName = '', mimeType = '', glossary, timeoutMs } = {}) {
    return this.#call(this.#translation, 'TranslateDocument', {
      content: Buffer.from(content),
      fileName,
      mimeType,
      sourceLanguageCode: source,
      targetLanguageCode: target ?? '',
      glossary: glossaryEntries(glossary),
    }, timeoutMs);
  }

  /** Resolves to `{ languages: [{ languageCode, confidence }, ...] }`, one per text. */
  async detectLanguage(texts, { timeoutMs } = {}) {
    return this.#call(this.#translation, 'DetectLanguage', { texts }, timeoutMs);
  }

  /** Resolves to `{ pairs, summaryLanguageCodes, summariesAvailable }`. */
  async listLanguages({ timeoutMs } = {}) {
    return this.#call(this.#translation, 'ListLanguages', {}, timeoutMs);
  }

  /** Resolves to `{ models: [...] }`. */
  async listModels({ timeoutMs } = {}) {
    return this.#call(this.#translation, 'ListModels', {}, timeoutMs);
  }

  /**
   * Summarize `text` in `target` (default: its own language). `longInput`: "chunk",
   * "truncate" or "reject" (or the LongInputPolicy enum name). Resolves to the SummarizeResponse.
   */
  async summarize(text, { target = '', source = '', maxTokens, maxSentences, longInput, format, timeoutMs } = {}) {
    return this.#call(this.#summarization, 'Summarize', {
      text,
      sourceLanguageCode: source,
      targetLanguageCode: target,
      length: summaryLength({ maxTokens, maxSentences }),
      longInputPolicy: longInputPolicy(longInput),
      format: textFormat(format),
    }, timeoutMs);
  }

  /**
   * Translate an article into `targets` and summarize it in `summaries`.
   * Resolves to the ProcessArticleResponse; each stage carries its own `status`.
   */
  async processArticle(
    { id = '', title = '', body = '', source = '', targets = [], summaries = [], maxTokens, maxSentences, longInput, format, glossary },
    { timeoutMs } = {},
  ) {
    return this.#call(this.#article, 'ProcessArticle', {
      id,
      title,
      body,
      sourceLanguageCode: source,
      targetLanguageCodes: targets,
      summaryLanguageCodes: summaries,
      summaryLength: summaryLength({ maxTokens, maxSentences }),
      longInputPolicy: longInputPolicy(longInput),
      format: textFormat(format),
      glossary: glossaryEntries(glossary),
    }, timeoutMs);
  }

  /** grpc.health.v1 Check. Resolves to `{ status: 'SERVING' | 'NOT_SERVING' | ... }`. */
  async health(service = '', { timeoutMs } = {}) {
    return this.#call(this.#health, 'Check', { service }, timeoutMs);
  }

  /** Close the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close() {
    this.#translation.close();
  }

  #call(client, method, request, timeoutMs = this.#timeoutMs) {
    const metadata = this.#metadata.clone();
    if (!metadata.get(REQUEST_ID).length) metadata.set(REQUEST_ID, randomUUID());
    const requestId = String(metadata.get(REQUEST_ID)[0]);
    const options = { deadline: Date.now() + timeoutMs };
    return new Promise((resolve, reject) => {
      client[method](request, metadata, options, (error, response) => {
        if (error) reject(NewsmtError.from(error, requestId));
        else resolve(response);
      });
    });
  }
}
