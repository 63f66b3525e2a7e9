// Hand-written typings for newsmt-client. Field names are the proto's, in camelCase.
import type { ChannelCredentials, ChannelOptions, GrpcObject, Metadata } from '@grpc/grpc-js';
import type { Options as LoaderOptions } from '@grpc/proto-loader';

export type LanguageCode = 'en' | 'ru' | 'es' | (string & {});
export type LongInput = 'chunk' | 'truncate' | 'reject'
  | 'LONG_INPUT_POLICY_UNSPECIFIED' | 'LONG_INPUT_POLICY_CHUNK' | 'LONG_INPUT_POLICY_TRUNCATE' | 'LONG_INPUT_POLICY_REJECT';

export type TextFormat = 'plain' | 'html' | 'markdown'
  | 'TEXT_FORMAT_UNSPECIFIED' | 'TEXT_FORMAT_PLAIN' | 'TEXT_FORMAT_HTML' | 'TEXT_FORMAT_MARKDOWN';
/** `{ source: target }` ("" keeps the term as written) or a list of entries. */
export type Glossary = Record<string, string> | { source: string; target?: string; ignoreCase?: boolean }[];

export type QualityFlag = 'QUALITY_FLAG_UNSPECIFIED' | 'QUALITY_FLAG_LOW_CONFIDENCE'
  | 'QUALITY_FLAG_REPETITION' | 'QUALITY_FLAG_WRONG_LANGUAGE' | 'QUALITY_FLAG_UNTRANSLATED'
  | 'QUALITY_FLAG_LENGTH_RATIO' | 'QUALITY_FLAG_NUMBER_MISMATCH' | 'QUALITY_FLAG_TRUNCATED'
  | 'QUALITY_FLAG_SUBTITLE_TOO_LONG' | 'QUALITY_FLAG_READING_SPEED'
  | 'QUALITY_FLAG_INVALID_CHARACTERS';

export interface Quality {
  meanLogprob: number;
  flags: QualityFlag[];
  calibrated: boolean;
  flaggedSentences: number;
  sentences: number;
}

export interface Faithfulness {
  novelBigramRatio: number;
  coverage: number;
  density: number;
  compression: number;
  unsupportedNumbers: string[];
  unsupportedEntities: string[];
  flagged: boolean;
  checkedAgainstLanguageCode: string;
}

export interface CallOptions {
  /** Overrides the client's timeoutMs for this call. */
  timeoutMs?: number;
}

export interface SummaryOptions {
  /** At most this many summary tokens. Give this or maxSentences, not both. */
  maxTokens?: number;
  /** At most this many summary sentences. */
  maxSentences?: number;
  longInput?: LongInput;
}

export interface DetectedLanguage { languageCode: string; confidence: number }
export interface ModelRoute { models: string[]; demo: boolean }
export interface StageStatus { code: number; message: string }

export interface InputHandling {
  mode: 'MODE_UNSPECIFIED' | 'MODE_WHOLE' | 'MODE_CHUNKED' | 'MODE_TRUNCATED';
  chunks: number;
  inputTokens: number;
  windowTokens: number;
  droppedTokens: number;
  reducePasses: number;
}

export interface Segment { id: string; text: string }

export interface Translation {
  id: string;
  translatedText: string;
  detectedLanguage: DetectedLanguage;
  route: ModelRoute;
  outputTruncated: boolean;
  appliedTerms: string[];
  missedTerms: string[];
  markupDegraded: boolean;
  quality: Quality;
  /** Of the segment's `units` (what translateStream sends), those answered from the cache. */
  cachedUnits: number;
  units: number;
  /** With `alternatives: N`: up to N other translations, best first. */
  alternatives: string[];
}

export interface TranslateResponse { translations: Translation[] }

/** A place in a translated file with quality flags ("paragraph 12", "slide 3", "cue 14"). */
export interface FlaggedUnit { location: string; flags: QualityFlag[] }

export interface TranslateDocumentResponse {
  /** The translated file, in the format it came in. */
  content: Buffer;
  mimeType: string;
  /** The name to save it under, e.g. "report.ru.docx". */
  fileName: string;
  detectedLanguage: DetectedLanguage;
  route: ModelRoute;
  quality: Quality;
  appliedTerms: string[];
  missedTerms: string[];
  markupDegraded: boolean;
  units: number;
  cachedUnits: number;
  flagged: FlaggedUnit[];
}

/** A piece of a segment's translation; a segment's unit texts joined are its translatedText. */
export interface TranslatedUnit {
  segmentIndex: number;
  segmentId: string;
  unitIndex: number;
  /** The span of the segment's text it translates, in code points, half-open. */
  sourceStart: number;
  sourceEnd: number;
  text: string;
  cached: boolean;
  outputTruncated: boolean;
  quality: Quality;
}

export interface SegmentDone { segmentIndex: number; translation: Translation }
export interface StreamDone { units: number; cachedUnits: number }

export type TranslateEvent =
  | { event: 'unit'; unit: TranslatedUnit }
  | { event: 'segmentDone'; segmentDone: SegmentDone }
  | { event: 'done'; done: StreamDone };
export interface DetectLanguageResponse { languages: DetectedLanguage[] }

export interface LanguagePair {
  sourceLanguageCode: string;
  targetLanguageCode: string;
  models: string[];
  available: boolean;
  demo: boolean;
  maxInputTokens: number;
}

export interface ListLanguagesResponse {
  pairs: LanguagePair[];
  summaryLanguageCodes: string[];
  summariesAvailable: boolean;
}

export interface ModelInfo {
  name: string;
  task: 'translation' | 'summarization' | (string & {});
  sourceLanguageCode: string;
  targetLanguageCode: string;
  repo: string;
  revision: string;
  engine: 'ctranslate2' | 'transformers' | 'identity' | (string & {});
  state: 'STATE_UNSPECIFIED' | 'STATE_READY' | 'STATE_LOADING' | 'STATE_MISSING' | 'STATE_FAILED';
  loaded: boolean;
  demo: boolean;
  maxInputTokens: number;
  detail: string;
}

export interface ListModelsResponse { models: ModelInfo[] }

export interface SummarizeResponse {
  summary: string;
  detectedLanguage: DetectedLanguage;
  targetLanguageCode: string;
  inputHandling: InputHandling;
  route: ModelRoute;
  faithfulness: Faithfulness;
}

export interface Article extends SummaryOptions {
  id?: string;
  title?: string;
  body?: string;
  /** Empty: detected from title and body. */
  source?: LanguageCode;
  targets?: LanguageCode[];
  summaries?: LanguageCode[];
  /** How title and body are written (default plain). */
  format?: TextFormat;
  glossary?: Glossary;
}

export interface ArticleTranslation {
  targetLanguageCode: string;
  title: string;
  body: string;
  route: ModelRoute;
  outputTruncated: boolean;
  status: StageStatus;
  appliedTerms: string[];
  missedTerms: string[];
  markupDegraded: boolean;
  quality: Quality;
}

export interface ArticleSummary {
  languageCode: string;
  summary: string;
  inputHandling: InputHandling;
  route: ModelRoute;
  status: StageStatus;
  faithfulness: Faithfulness;
}

export interface ProcessArticleResponse {
  id: string;
  detectedLanguage: DetectedLanguage;
  translations: ArticleTranslation[];
  summaries: ArticleSummary[];
  demo: boolean;
}

export interface HealthCheckResponse {
  status: 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
}

export interface ClientOptions {
  /** Deadline of every call in ms (default 120000). */
  timeoutMs?: number;
  /** Sent with every call. */
  metadata?: Metadata | Record<string, string | Buffer | Array<string | Buffer>>;
  /** Default: insecure. */
  credentials?: ChannelCredentials;
  channelOptions?: ChannelOptions;
}

export class NewsmtClient {
  constructor(address: string, options?: ClientOptions);
  translate(
    texts: Array<string | Segment>,
    options: {
      target: LanguageCode;
      source?: LanguageCode;
      format?: TextFormat;
      glossary?: Glossary;
      /** Other translations wanted per segment, 0 to 3. */
      alternatives?: number;
    } & CallOptions,
  ): Promise<TranslateResponse>;
  /** Units as they are ready; leaving the loop early cancels the call. */
  translateStream(
    texts: Array<string | Segment>,
    options: {
      target: LanguageCode;
      source?: LanguageCode;
      format?: TextFormat;
      glossary?: Glossary;
      alternatives?: number;
    } & CallOptions,
  ): AsyncGenerator<TranslateEvent, void, undefined>;
  /** A file into `target`; give `fileName` (its extension tells the format) or `mimeType`. */
  translateDocument(
    content: Buffer | Uint8Array,
    options: {
      target: string;
      source?: string;
      fileName?: string;
      mimeType?: string;
      glossary?: Glossary;
    } & CallOptions,
  ): Promise<TranslateDocumentResponse>;
  detectLanguage(texts: string[], options?: CallOptions): Promise<DetectLanguageResponse>;
  listLanguages(options?: CallOptions): Promise<ListLanguagesResponse>;
  listModels(options?: CallOptions): Promise<ListModelsResponse>;
  summarize(
    text: string,
    options?: { target?: LanguageCode; source?: LanguageCode; format?: TextFormat } & SummaryOptions
      & CallOptions,
  ): Promise<SummarizeResponse>;
  processArticle(article: Article, options?: CallOptions): Promise<ProcessArticleResponse>;
  health(service?: string, options?: CallOptions): Promise<HealthCheckResponse>;
  close(): void;
}

export interface FieldViolation { field: string; description: string }

/** A decoded google.rpc error detail: `type` is its full name, e.g. "google.rpc.BadRequest". */
export interface StatusDetail { type: string; [field: string]: unknown }

export class NewsmtError extends Error {
  constructor(code: number, details: string, options?: { metadata?: Metadata; requestId?: string });
  static from(error: Error & { code?: number; details?: string; metadata?: Metadata }, requestId?: string): NewsmtError;
  /** The numeric gRPC status code, e.g. 3. */
  readonly code: number;
  /** Its name, e.g. "INVALID_ARGUMENT". */
  readonly codeName: string;
  /** The status message. */
  readonly details: string;
  /** The trailers. */
  readonly metadata: Metadata;
  /** The x-request-id the call was sent with; the server logs it. */
  readonly requestId: string;
  /** Every detail in the grpc-status-details-bin trailer. */
  readonly statusDetails: StatusDetail[];
  /** google.rpc.BadRequest field violations; empty when there are none. */
  readonly violations: FieldViolation[];
  /** google.rpc.RetryInfo delay, on RESOURCE_EXHAUSTED. */
  readonly retryAfterMs: number | undefined;
}

export function decodeStatusDetails(bytes: Uint8Array): StatusDetail[];
export function loadProtos(): GrpcObject;
export const PROTOS_DIR: string;
export const LOCAL_PROTO_DIR: string;
export const LOADER_OPTIONS: Readonly<LoaderOptions>;
