// What the policy editor and the alert rules editor share: highlighting,
// theme, and turning the server's line:col problems into diagnostics.
import { EditorView } from "@codemirror/view";
import { HighlightStyle } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";

export const highlight = HighlightStyle.define([
  { tag: t.propertyName, color: "#1d4ed8" },
  { tag: t.string, color: "#047857" },
  { tag: t.number, color: "#b45309" },
  { tag: [t.bool, t.null], color: "#7c3aed" },
  { tag: [t.lineComment, t.blockComment], color: "#6b7280", fontStyle: "italic" },
  { tag: t.invalid, color: "#dc2626" },
]);

export const theme = EditorView.theme({
  "&": { height: "100%", fontSize: "13.5px" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
  ".cm-gutters": { background: "#f8fafc", borderRight: "1px solid #e2e8f0" },
});

// posOf converts the server's 1-based line and byte column to a document
// offset, clamped to the document.
export function posOf(doc, line, col) {
  const l = doc.line(Math.min(Math.max(line, 1), doc.lines));
  let bytes = 0;
  let i = 0;
  const enc = new TextEncoder();
  while (i < l.text.length && bytes < col - 1) {
    bytes += enc.encode(l.text[i]).length;
    i++;
  }
  return l.from + i;
}

// diagnosticsOf turns problems into CodeMirror diagnostics covering the
// token at each position.
export function diagnosticsOf(doc, problems) {
  return problems.map((p) => {
    const from = posOf(doc, p.pos.line, p.pos.col);
    const line = doc.lineAt(from);
    const rest = line.text.slice(from - line.from);
    const m = rest.match(/^("(?:[^"\\]|\\.)*"?|[\w:.@*-]+|.)/);
    const to = Math.min(line.to, from + (m ? m[0].length : 1));
    return { from, to: Math.max(to, from), severity: "error", message: `${p.pos.line}:${p.pos.col}: ${p.message}` };
  });
}
