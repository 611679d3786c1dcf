// Shared by the pages: RAPI calls and DOM building.  Data from the
// cluster only ever reaches the page as text (textContent), never as
// markup, so a name or tag holding HTML shows as that text.

export class ApiError extends Error {
  constructor(status, explain) {
    super(`HTTP ${status}: ${explain}`);
    this.status = status;
    this.explain = explain;
  }
}

// fetch(); a GET that failed on the network (fetch rejects with a
// TypeError: a network change, a dropped keep-alive connection) is sent
// once more after a moment.  Writes are never repeated: the first one
// may have reached the RAPI.
async function fetchRetryingGet(url, init, retry) {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (!retry || !(err instanceof TypeError)) throw err;
    await new Promise((resolve) => setTimeout(resolve, 500));
    return fetch(url, init);
  }
}

// One RAPI request; the decoded JSON answer.  Writes carry a JSON body
// and content type: the RAPI refuses writes a form of another site
// could send (non-JSON, foreign Origin).
export async function api(path, method = "GET", body = undefined) {
  const init = { method, credentials: "same-origin",
                 headers: { "Accept": "application/json" } };
  if (method !== "GET") {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  const resp = await fetchRetryingGet(location.origin + path, init, method === "GET");
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = text; }
  }
  if (!resp.ok) {
    const explain = (data && data.explain) || (data && data.message) ||
      resp.statusText;
    throw new ApiError(resp.status, String(explain));
  }
  return data;
}

// The items of a /2/query/RESOURCE?fields=... answer (query2: each value
// with its status) as objects; a value the master could not get (node
// down, not applicable) is null.
export async function query(resource, fields) {
  const answer = await api(`/2/query/${resource}?fields=${fields.join(",")}`);
  const names = answer.fields.map((f) => f.name);
  return answer.data.map((row) => Object.fromEntries(
    row.map(([status, value], i) => [names[i], status === 0 ? value : null])));
}

export function enc(name) {
  return encodeURIComponent(name);
}

// el("td", {class: "x"}, "text", child...): strings become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function showMessage(text, kind = "error") {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}

export function clearMessage() {
  const box = document.getElementById("message");
  box.textContent = "";
  box.hidden = true;
}

export const FINISHED = ["success", "error", "canceled"];

export function fmtTime(ts) {
  if (!Array.isArray(ts) || typeof ts[0] !== "number") return "";
  return new Date(ts[0] * 1000 + (ts[1] || 0) / 1000).toISOString()
    .replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// The log lines of a job's oplog (one list per opcode).
export function logLines(oplog) {
  const lines = [];
  for (const entries of oplog || []) {
    for (const entry of entries || []) {
      const [serial, ts, kind, message] = entry;
      const text = typeof message === "string" ? message : JSON.stringify(message);
      lines.push(`${serial} ${fmtTime(ts)} ${kind}: ${text}`);
    }
  }
  return lines;
}
