// Downloads from the snapshot page with a progress bar: a click on a
// Download link fetches it, shows bytes received against the size the
// server announces (Content-Length for a file, X-Download-Size for a
// folder: the sum of its files, so an archive's bar is an estimate), then
// hands the bytes to the browser as a file. Without JavaScript, or for a
// download larger than inMemoryLimit (held in memory until done), the link
// is a plain download that the browser tracks itself.
(function () {
  var inMemoryLimit = 512 * 1024 * 1024;
  var busy = false;

  function human(n) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  // filename reads Content-Disposition's filename (the server writes it
  // quoted or as a token, as Go's mime.FormatMediaType does).
  function filename(header, fallback) {
    var m = /filename\*=UTF-8''([^;]+)/i.exec(header || "");
    if (m) {
      try {
        return decodeURIComponent(m[1]);
      } catch (e) {
        return fallback;
      }
    }
    m = /filename="((?:[^"\\]|\\.)*)"/i.exec(header || "") || /filename=([^;\s]+)/i.exec(header || "");
    return m ? m[1].replace(/\\(.)/g, "$1") : fallback;
  }

  function show(ui, got, total, done) {
    var pct = total > 0 ? Math.min(100, Math.floor((got * 100) / total)) : 0;
    if (done) {
      pct = 100;
    } else if (pct >= 100) {
      pct = 99; // an archive can outgrow its estimate
    }
    ui.bar.value = pct;
    ui.bar.textContent = pct + "%";
    ui.bar.setAttribute("data-percent", String(pct));
    var of = total > 0 ? " of " + (ui.exact ? "" : "about ") + human(total) : "";
    ui.text.textContent = (done ? "Downloaded " : "Received ") + human(got) + of + " (" + pct + "%)" + (done ? "." : "…");
  }

  function fail(ui, message) {
    busy = false;
    ui.box.setAttribute("data-state", "failed");
    ui.text.textContent = "The download failed: " + message;
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () {
      URL.revokeObjectURL(url);
    }, 60000);
  }

  function start(link, box) {
    var ui = {
      box: box,
      bar: document.getElementById("download-progress"),
      text: document.getElementById("download-text"),
      label: document.getElementById("download-name"),
      exact: false,
    };
    var fallbackName = (link.closest("tr") && link.closest("tr").getAttribute("data-entry-path")) || "download";
    fallbackName = fallbackName.split("/").pop() || "download";
    busy = true;
    box.hidden = false;
    box.setAttribute("data-state", "running");
    ui.label.textContent = "Download of " + fallbackName;
    show(ui, 0, 0, false);
    var controller = new AbortController();
    fetch(link.href, { credentials: "same-origin", signal: controller.signal })
      .then(function (res) {
        if (!res.ok) {
          return res
            .json()
            .then(function (j) {
              fail(ui, (j && j.error && j.error.message) || "status " + res.status);
            })
            .catch(function () {
              fail(ui, "status " + res.status);
            });
        }
        var length = res.headers.get("Content-Length");
        var total = parseInt(length || res.headers.get("X-Download-Size") || "0", 10) || 0;
        ui.exact = !!length;
        if (total > inMemoryLimit || !res.body || !res.body.getReader) {
          // Too large to hold here: the browser's own download takes it.
          controller.abort();
          busy = false;
          box.hidden = true;
          window.location.assign(link.href);
          return;
        }
        var name = filename(res.headers.get("Content-Disposition"), fallbackName);
        ui.label.textContent = "Download of " + name;
        var reader = res.body.getReader();
        var chunks = [];
        var got = 0;
        var pump = function () {
          return reader.read().then(function (r) {
            if (r.done) {
              if (ui.exact && got !== total) {
                fail(ui, "received " + human(got) + " of " + human(total));
                return;
              }
              show(ui, got, total || got, true);
              box.setAttribute("data-state", "done");
              busy = false;
              save(new Blob(chunks, { type: res.headers.get("Content-Type") || "application/octet-stream" }), name);
              return;
            }
            chunks.push(r.value);
            got += r.value.length;
            show(ui, got, total, false);
            return pump();
          });
        };
        return pump();
      })
      .catch(function (e) {
        fail(ui, (e && e.message) || "the connection dropped");
      });
  }

  document.addEventListener("click", function (e) {
    var link = e.target && e.target.closest ? e.target.closest("a[data-download]") : null;
    if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) {
      return;
    }
    var box = document.getElementById("download-status");
    if (!box || busy || !window.fetch || !window.AbortController || !window.URL || !URL.createObjectURL) {
      return; // a plain download (one at a time with a bar)
    }
    e.preventDefault();
    start(link, box);
  });
})();
