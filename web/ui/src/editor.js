// The policy editor of Ward's admin UI: CodeMirror 6 with HuJSON
// highlighting, validation as you type through POST policy/check (problems
// marked at their line:col), tests, an impact preview through POST
// policy/impact, and save through PUT policy with the parent version. The
// alert rules page gets its editor from rules.js, in the same bundle.
import "./csp.js";
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, bracketMatching, indentOnInput } from "@codemirror/language";
import { linter, lintGutter } from "@codemirror/lint";
import { hujson } from "./hujson.js";
import { highlight, theme, posOf, diagnosticsOf } from "./cm.js";
import { startRules } from "./rules.js";
import { call } from "./api.js";
import { renderProblems, renderTests, renderImpact, renderSaved } from "./panels.js";

const API = "/ward/v1/admin/policy";

function start(root) {
  const source = document.getElementById("policy-source");
  const canSave = root.dataset.canSave === "true";
  const state = { parent: Number(root.dataset.parent), previewed: null, lastCheck: null };
  let view;

  const check = async (text) => {
    const { status, body } = await call("POST", API + "/check", { text });
    if (status !== 200 || !body) return { ok: false, problems: [], error: (body && body.error) || `HTTP ${status}` };
    return body;
  };

  const lint = linter(async (v) => {
    const text = v.state.doc.toString();
    const res = await check(text);
    if (v.state.doc.toString() !== text) return [];
    state.lastCheck = { text, res };
    renderProblems(res, (line, col) => jump(view, line, col));
    return diagnosticsOf(v.state.doc, res.problems || []);
  }, { delay: 350 });

  const onChange = EditorView.updateListener.of((u) => {
    if (u.docChanged) invalidatePreview(state);
  });

  view = new EditorView({
    parent: root,
    state: EditorState.create({
      doc: source.value,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), indentOnInput(),
        bracketMatching(), highlightActiveLine(), syntaxHighlighting(highlight), hujson, theme,
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        lintGutter(), lint, onChange, EditorState.tabSize.of(2),
        EditorState.readOnly.of(!canSave), EditorView.contentAttributes.of({ "aria-label": "Policy text" }),
      ],
    }),
  });
  source.classList.add("hidden");
  root.classList.add("ready");

  document.getElementById("run-tests").addEventListener("click", async () => {
    renderTests(await check(view.state.doc.toString()));
  });
  document.getElementById("preview").addEventListener("click", async () => {
    const text = view.state.doc.toString();
    const { status, body } = await call("POST", API + "/impact", { text });
    renderImpact(status, body);
    if (status === 200) {
      state.previewed = text;
      enableSave(true);
    }
  });
  const save = document.getElementById("save");
  if (save) save.addEventListener("click", () => doSave(view, state));
}

function enableSave(on) {
  const save = document.getElementById("save");
  if (!save) return;
  save.disabled = !on;
  document.getElementById("save-hint").classList.toggle("hidden", on);
}

function invalidatePreview(state) {
  state.previewed = null;
  enableSave(false);
}

async function doSave(view, state) {
  const text = view.state.doc.toString();
  if (state.previewed !== text) return invalidatePreview(state);
  const comment = document.getElementById("comment").value;
  const { status, body } = await call("PUT", API, { text, comment, parent_id: state.parent });
  renderSaved(status, body, state.parent);
  if (status === 200) {
    state.parent = body.id;
    document.getElementById("running").textContent = `Running version ${body.id}, saved by you just now${comment ? `: “${comment}”` : ""}`;
    document.getElementById("editor").dataset.parent = String(body.id);
    document.getElementById("comment").value = "";
    invalidatePreview(state);
  }
}

function jump(view, line, col) {
  const pos = posOf(view.state.doc, line, col);
  view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  view.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("editor");
  if (root) start(root);
  const rules = document.getElementById("rules-editor");
  if (rules) startRules(rules);
});
