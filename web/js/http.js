// The one way the page talks to its API. Writes carry the CSRF header the server requires
// (a cross-site form cannot set a custom header); failures arrive as the server's
// {"error", "detail"} envelope and are thrown as an ApiError.

export const CSRF_HEADERS = Object.freeze({ 'X-Requested-With': 'rest-guide' });

export class ApiError extends Error {
  constructor(code, detail, { status = 0, offline = false, retryAfter = null } = {}) {
    super(detail);
    this.code = code;
    this.status = status;
    this.offline = offline;
    this.retryAfter = retryAfter; // seconds, from Retry-After on a 429
  }
}

export async function requestJson(url, { method = 'GET', body, headers = {} } = {}) {
  const write = method !== 'GET' && method !== 'HEAD';
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: {
        Accept: 'application/json',
        ...(write ? CSRF_HEADERS : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    // fetch only rejects when the network is unreachable (or the request was blocked).
    throw new ApiError('OFFLINE', 'You seem to be offline.', { offline: true });
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(data?.error ?? 'HTTP_ERROR', data?.detail ?? `The server answered ${response.status}.`, {
      status: response.status,
      offline: response.status >= 502, // the server or its proxy is away: try again later
      retryAfter: Number(response.headers.get('Retry-After')) || data?.retry_after_s || null,
    });
  }
  return data;
}
