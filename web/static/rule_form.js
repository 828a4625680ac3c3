// The alert rule editor shows only the fields of the chosen condition:
// each <option> of #rule-on lists them in data-fields, and each field's
// wrapper names itself in data-rule-field. Without JavaScript the server
// shows the fields of the condition the page was rendered with, and saves
// only those of the condition submitted.
(function () {
  "use strict";

  function sync(select) {
    var opt = select.options[select.selectedIndex];
    var fields = ((opt && opt.getAttribute("data-fields")) || "").split(" ");
    document.querySelectorAll("[data-rule-field]").forEach(function (el) {
      el.hidden = fields.indexOf(el.getAttribute("data-rule-field")) < 0;
    });
  }

  function init() {
    var select = document.getElementById("rule-on");
    if (!select) {
      return;
    }
    select.addEventListener("change", function () {
      sync(select);
    });
    sync(select);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
