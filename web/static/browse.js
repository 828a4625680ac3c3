// The snapshot browser: "Restore selected…" says how many entries are
// selected and stays disabled until there is one. Rows added by "More"
// are counted too (the listener is on the document).
(function () {
  function update() {
    var button = document.getElementById("restore-selected");
    var count = document.getElementById("restore-count");
    if (!button || !count) {
      return;
    }
    var n = document.querySelectorAll('input[name="include"][form="restore-form"]:checked').length;
    button.disabled = n === 0;
    count.textContent = n === 0 ? "Select files or folders to restore." : n + (n === 1 ? " entry" : " entries") + " selected.";
  }
  document.addEventListener("change", function (e) {
    if (e.target && e.target.name === "include") {
      update();
    }
  });
  document.addEventListener("htmx:afterSwap", update);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else {
    update();
  }
})();
