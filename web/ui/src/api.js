// Calls to the admin JSON API with the session's CSRF token.
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// call sends a JSON request and returns {status, body}; body is the parsed
// JSON answer or null.
export async function call(method, path, payload) {
  const resp = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    body = null;
  }
  return { status: resp.status, body };
}
