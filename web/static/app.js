// Sends the page's CSRF token with every htmx request, as the API and the
// UI's own handlers expect it in X-CSRF-Token.
document.addEventListener("htmx:configRequest", function (e) {
  var m = document.querySelector('meta[name="csrf-token"]');
  if (m && m.content) {
    e.detail.headers["X-CSRF-Token"] = m.content;
  }
});
