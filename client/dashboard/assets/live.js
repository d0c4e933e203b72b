// Live status: every few seconds the page asks its own address again and
// swaps in the parts that changed (the state, the session, the devices,
// the list of requests), never the request form, so what the person is
// typing stays. When the daemon does not answer, a note says the page
// shows what it last knew. A login or logout (a part appearing or going)
// reloads the whole page. Loaded as a file (the page's
// Content-Security-Policy forbids inline scripts; it allows fetching the
// page's own origin).
(function () {
  var every = 2000;
  var parts = ["state", "session", "devices", "request-list"];

  function stale(on) {
    var n = document.getElementById("stale");
    if (n) {
      n.hidden = !on;
    }
  }

  function swap(html) {
    var next = new DOMParser().parseFromString(html, "text/html");
    for (var i = 0; i < parts.length; i++) {
      var cur = document.getElementById(parts[i]);
      var now = next.getElementById(parts[i]);
      if (!cur !== !now) {
        location.reload();
        return;
      }
      if (cur && cur.innerHTML !== now.innerHTML) {
        cur.innerHTML = now.innerHTML;
      }
      if (cur && cur.className !== now.className) {
        cur.className = now.className;
      }
    }
    document.title = next.title;
  }

  function tick() {
    if (document.hidden) {
      setTimeout(tick, every);
      return;
    }
    fetch(location.pathname, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("status " + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        swap(html);
        stale(false);
      })
      .catch(function () {
        stale(true);
      })
      .finally(function () {
        setTimeout(tick, every);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setTimeout(tick, every);
  });
})();
