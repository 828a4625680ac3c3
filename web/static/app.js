// Sends the page's CSRF token with every htmx request, as the API and the
// UI's own handlers expect it in X-CSRF-Token.
document.addEventListener("htmx:configRequest", function (e) {
  var m = document.querySelector('meta[name="csrf-token"]');
  if (m && m.content) {
    e.detail.headers["X-CSRF-Token"] = m.content;
  }
});

// Pages poll fragments with htmx (the dashboard's rows, a host's status
// line, a job's panel, the add-host page). Once the session has ended, the
// server answers with a redirect to the login page: open that page, coming
// back here after the login, instead of swapping it into this one.
document.addEventListener("htmx:beforeSwap", function (e) {
  var p = e.detail.pathInfo && e.detail.pathInfo.responsePath;
  if (p && p.indexOf("/login") === 0) {
    e.detail.shouldSwap = false;
    window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
  }
});
