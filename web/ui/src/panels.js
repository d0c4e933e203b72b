// The side panels of the policy editor: validation, tests, impact, save.
import { el, clear, setStatus } from "./dom.js";

export function renderProblems(res, jump) {
  const list = clear(document.getElementById("problems"));
  const status = document.getElementById("check-status");
  if (res.error) return setStatus(status, "Could not check: " + res.error, "bad");
  const problems = res.problems || [];
  if (problems.length === 0) {
    const n = (res.tests || []).length;
    return setStatus(status, `Valid${n ? ` · ${n} test${n === 1 ? "" : "s"} pass` : ""}`, "ok");
  }
  setStatus(status, `${problems.length} problem${problems.length === 1 ? "" : "s"}`, "bad");
  for (const p of problems) {
    const link = el("button", { type: "button", class: "link" }, `line ${p.pos.line}, col ${p.pos.col}`);
    link.addEventListener("click", () => jump(p.pos.line, p.pos.col));
    list.append(el("li", { "data-line": String(p.pos.line), "data-col": String(p.pos.col) }, link, ": " + p.message));
  }
}

export function renderTests(res) {
  const list = clear(document.getElementById("tests"));
  const status = document.getElementById("tests-status");
  const tests = res.tests || [];
  if (tests.length === 0) {
    const why = (res.problems || []).length ? "Fix the problems first." : "The policy has no tests.";
    return setStatus(status, why, (res.problems || []).length ? "bad" : "");
  }
  const failed = tests.filter((x) => !x.passed).length;
  setStatus(status, failed ? `${failed} of ${tests.length} failed` : `All ${tests.length} passed`, failed ? "bad" : "ok");
  for (const x of tests) {
    const mark = x.passed ? "✓" : "✗";
    list.append(el("li", { class: x.passed ? "pass" : "fail" },
      `${mark} ${x.src} → ${x.dst}: want ${x.want}, got ${x.got} (line ${x.pos.line})`));
  }
}

function grantItem(g) {
  return el("li", {}, el("strong", {}, g.src), ` → ${g.dst} ${g.proto}:${g.ports}`);
}

export function renderImpact(status, body) {
  const box = clear(document.getElementById("impact"));
  if (status !== 200) {
    const msg = body && body.problems ? "Fix the problems first: " + body.problems.length + " found." :
      "Could not preview: " + ((body && body.error) || `HTTP ${status}`);
    return box.append(el("p", { class: "status bad" }, msg));
  }
  const added = body.added || [];
  const removed = body.removed || [];
  if (added.length === 0 && removed.length === 0) {
    return box.append(el("p", { class: "status", id: "impact-none" }, "No grant changes on the live fleet."));
  }
  box.append(el("h3", { class: "removed" }, `Removed (${removed.length})`),
    el("ul", { class: "grants removed", id: "impact-removed" }, ...removed.map(grantItem)),
    el("h3", { class: "added" }, `Added (${added.length})`),
    el("ul", { class: "grants added", id: "impact-added" }, ...added.map(grantItem)));
}

export function renderSaved(status, body, parent) {
  const box = document.getElementById("save-status");
  clear(box);
  if (status === 200) return setStatus(box, `Saved: version ${body.id} is live.`, "ok");
  if (status === 409) {
    setStatus(box, "", "bad conflict");
    return box.append(
      el("strong", {}, "Conflict: another admin saved a newer version since you opened version " + parent + "."),
      el("p", {}, "Your text was not saved. Copy your changes, then reload the page to edit the latest version. "),
      el("a", { href: "/ui/policy/versions" }, "See the versions"));
  }
  if (status === 400 && body && body.problems) {
    setStatus(box, "Not saved: the policy has problems.", "bad");
    return box.append(el("ul", {}, ...body.problems.map((p) => el("li", {}, p))));
  }
  if (status === 403) return setStatus(box, "Not saved: " + ((body && body.error) || "forbidden"), "bad");
  setStatus(box, "Not saved: " + ((body && body.error) || `HTTP ${status}`), "bad");
}
