// JSON client for the hwtrack HTTP API. The console authenticates with the
// session cookie, so every request that changes state carries the CSRF
// token the server returned at sign-in.

let csrfToken = "";

export function setCsrfToken(token) {
  csrfToken = token || "";
}

// csrfHeaders returns the header a state-changing request sends, for
// callers that use fetch directly, such as the WHEP client with its SDP
// bodies.
export function csrfHeaders() {
  return { "X-CSRF-Token": csrfToken };
}

// ApiError carries the HTTP status and the server's error code and message.
export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.fields = fields || [];
  }
}

// request sends one API request and returns the decoded JSON body, or null
// for an empty one. It throws ApiError on any status outside 2xx.
export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") {
    headers["X-CSRF-Token"] = csrfToken;
  }
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    const apiErr = new ApiError(resp.status, err.code, err.message, err.fields);
    apiErr.retryAfter = Number(resp.headers.get("Retry-After")) || 0;
    throw apiErr;
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const put = (path, body) => request("PUT", path, body);
export const del = (path) => request("DELETE", path);

// query builds a query string from the non-empty values of params.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") {
      q.set(k, v);
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
