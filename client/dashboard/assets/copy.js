// Copy buttons: each button.copy copies its data-copy text. One listener
// on the document serves the buttons live.js swaps in as well. Loaded as
// a file (the page's Content-Security-Policy forbids inline scripts).
document.addEventListener("click", function (e) {
  var b = e.target.closest ? e.target.closest("button.copy") : null;
  if (!b) {
    return;
  }
  navigator.clipboard.writeText(b.dataset.copy).then(function () {
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = "Copy"; }, 1500);
  });
});
