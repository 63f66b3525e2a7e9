// The public HTTP API of newsmt, as the page calls it: JSON in and out (proto3 JSON mapping),
// the stream as NDJSON, errors as google.rpc.Status. A bearer token is asked for when the
// server answers 401 and kept in sessionStorage (this tab's session only, never localStorage).

const TOKEN_KEY = 'newsmt.token';

/** An API failure: `status` is the HTTP status, `message` the server's (safe to show). */
export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export class Api {
  /** `askToken(refused)` resolves to a token, or null when the person cancels. */
  constructor(askToken) {
    this.askToken = askToken;
  }

  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  headers(json) {
    const headers = {};
    if (json) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return headers;
  }

  /** fetch, asking for a token (and retrying) while the server answers 401. */
  async send(path, { body, signal, accept } = {}) {
    let refused = false;
    for (;;) {
      const headers = this.headers(body !== undefined);
      if (accept) headers.accept = accept;
      const response = await fetch(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        credentials: 'omit',
        cache: 'no-store',
      });
      if (response.status !== 401) {
        if (!response.ok) throw await failure(response);
        return response;
      }
      const token = await this.askToken(refused || Boolean(this.token));
      if (token === null) throw new ApiError(401, 'This server needs an access token.');
      sessionStorage.setItem(TOKEN_KEY, token);
      refused = true;
    }
  }

  async json(path, body, signal) {
    const response = await this.send(path, { body, signal });
    return response.json();
  }

  /** Each event of a server stream (NDJSON), as it arrives. */
  async *stream(path, body, signal) {
    const response = await this.send(path, { body, signal, accept: 'application/x-ndjson' });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (value) pending += value;
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (!line.trim()) continue;
        const event = JSON.parse(line);
        if (event.error) throw new ApiError(200, event.error.message || 'the stream failed');
        yield event;
      }
      if (done) break;
    }
    if (pending.trim()) yield JSON.parse(pending);
  }
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const status = await response.json();
    if (status && typeof status.message === 'string' && status.message) message = status.message;
  } catch {
    // not JSON: keep the status line
  }
  const retry = response.headers.get('retry-after');
  return new ApiError(response.status, message, retry === null ? null : Number(retry));
}

/** What to tell the person about a failure. */
export function describeError(error) {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      const wait = error.retryAfter ? ` Try again in ${Math.ceil(error.retryAfter)} s.` : '';
      return `The server is busy or this client sent too many requests: ${error.message}.${wait}`;
    }
    if (error.status === 413) return `Too large for this server: ${error.message}`;
    return error.message;
  }
  if (error && error.name === 'AbortError') return 'Stopped.';
  return `The server could not be reached (${error && error.message ? error.message : error}).`;
}

/** A File as base64 (proto3 JSON's `bytes`), without holding it as a JS string twice. */
export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function base64ToBytes(data) {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
