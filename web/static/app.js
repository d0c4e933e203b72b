// Ward admin UI: ask before destructive form actions (forms carrying a
// data-confirm message). Loaded from a file: the CSP allows no inline script.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset && ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
