// The alert rules editor: CodeMirror 6 over the page's form. The textarea
// stays the form's field (the editor writes every change back into it),
// so saving is the page's own POST, and without JavaScript the page is a
// plain form. Each draft is checked as you type through POST
// alerts/rules/check, its problems marked at their line:col and listed;
// the list's entries jump to them.
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, bracketMatching, indentOnInput } from "@codemirror/language";
import { linter, lintGutter } from "@codemirror/lint";
import { hujson } from "./hujson.js";
import { highlight, theme, posOf, diagnosticsOf } from "./cm.js";
import { call } from "./api.js";
import { el, clear, setStatus } from "./dom.js";

const CHECK = "/ward/v1/admin/alerts/rules/check";

export function startRules(root) {
  const source = document.getElementById("rules-text");
  if (!source) return;
  const editable = !source.readOnly;
  let view;

  const jump = (line, col) => {
    const pos = posOf(view.state.doc, line, col);
    view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    view.focus();
  };

  const render = (res) => {
    const status = document.getElementById("rules-check");
    const list = clear(document.getElementById("rules-live-problems"));
    if (res.error) return setStatus(status, "Could not check: " + res.error, "bad");
    const problems = res.problems || [];
    if (problems.length === 0) return setStatus(status, "Valid", "ok");
    setStatus(status, `${problems.length} problem${problems.length === 1 ? "" : "s"}`, "bad");
    for (const p of problems) {
      const link = el("button", { type: "button", class: "link" }, `line ${p.pos.line}, col ${p.pos.col}`);
      link.addEventListener("click", () => jump(p.pos.line, p.pos.col));
      list.append(el("li", { "data-line": String(p.pos.line), "data-col": String(p.pos.col) }, link, ": " + p.message));
    }
  };

  const lint = linter(async (v) => {
    const text = v.state.doc.toString();
    const { status, body } = await call("POST", CHECK, { text });
    if (v.state.doc.toString() !== text) return [];
    const res = status === 200 && body ? body : { error: (body && body.error) || `HTTP ${status}` };
    render(res);
    return diagnosticsOf(v.state.doc, res.problems || []);
  }, { delay: 350 });

  const mirror = EditorView.updateListener.of((u) => {
    if (u.docChanged) source.value = u.state.doc.toString();
  });

  const extensions = [
    lineNumbers(), highlightActiveLineGutter(), history(), drawSelection(), indentOnInput(),
    bracketMatching(), highlightActiveLine(), syntaxHighlighting(highlight), hujson, theme,
    keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]), EditorState.tabSize.of(2),
    EditorState.readOnly.of(!editable), EditorView.contentAttributes.of({ "aria-label": "Alert rules text" }),
  ];
  if (editable) extensions.push(lintGutter(), lint, mirror);
  view = new EditorView({ parent: root, state: EditorState.create({ doc: source.value, extensions }) });
  source.classList.add("hidden");
  root.classList.add("ready");

  // A refused save's problems (listed by the server) jump too.
  for (const li of document.querySelectorAll("#rules-problems li[data-line]")) {
    li.classList.add("jump");
    li.addEventListener("click", () => jump(Number(li.dataset.line), Number(li.dataset.col)));
  }
}
