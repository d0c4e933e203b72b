// Keep CodeMirror within the admin UI's strict Content-Security-Policy
// (style-src 'self', no 'unsafe-inline'), so the CSP need not be loosened.
// Imported first by editor.js, on the editor page only.
import { StyleModule } from "style-mod";

// CodeMirror's styles come from style-mod, which writes them into a <style>
// element on a document (the CSP refuses it). Mount them into one
// constructable stylesheet adopted by the document instead, which the CSP
// does not restrict, keeping style-mod's rule order.
const sheet = new CSSStyleSheet();
const mounted = []; // modules in rule order
document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];

StyleModule.mount = function (root, modules) {
  const list = (Array.isArray(modules) ? modules : [modules]).flat(Infinity);
  let pos = 0;
  let j = 0;
  for (const mod of list) {
    let index = mounted.indexOf(mod);
    if (index > -1 && index < j) {
      // An ordering conflict: drop the old rules and insert again here.
      let start = 0;
      for (let k = 0; k < index; k++) start += mounted[k].rules.length;
      for (let k = 0; k < mod.rules.length; k++) sheet.deleteRule(start);
      mounted.splice(index, 1);
      j--;
      pos -= mod.rules.length;
      index = -1;
    }
    if (index === -1) {
      mounted.splice(j++, 0, mod);
      for (const rule of mod.rules) sheet.insertRule(rule, pos++);
    } else {
      while (j < index) pos += mounted[j++].rules.length;
      pos += mod.rules.length;
      j++;
    }
  }
};

// CodeMirror also sets a few inline styles with setAttribute("style", …)
// (tab-size on the content element). Route them through the CSSOM.
const setAttribute = Element.prototype.setAttribute;
Element.prototype.setAttribute = function (name, value) {
  if (name === "style" && this instanceof HTMLElement) {
    this.style.cssText = value;
    return;
  }
  return setAttribute.call(this, name, value);
};
