// Copy buttons: <button data-copy="ID"> copies the text of #ID. Where the
// Clipboard API is missing or refused (plain HTTP to another machine), it
// selects the text instead, for Ctrl+C or a long press. The block itself
// is user-select: all, so a click selects it without JavaScript too.
(function () {
  "use strict";

  function say(id, msg) {
    var s = document.querySelector('[data-copy-status="' + id + '"]');
    if (s) {
      s.textContent = msg;
    }
  }

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    el.focus();
  }

  document.addEventListener("click", function (e) {
    var btn = e.target.closest("button[data-copy]");
    if (!btn) {
      return;
    }
    var id = btn.getAttribute("data-copy");
    var el = document.getElementById(id);
    if (!el) {
      return;
    }
    var fallback = function () {
      selectText(el);
      say(id, "Selected: press Ctrl+C (⌘C on a Mac) to copy.");
    };
    if (!navigator.clipboard || !window.isSecureContext) {
      fallback();
      return;
    }
    navigator.clipboard.writeText(el.textContent).then(function () {
      say(id, "Copied to the clipboard.");
    }, fallback);
  });
})();
