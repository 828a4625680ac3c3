// The job page (templates/job.html): follows the job's WebSocket stream
// (/api/v1/jobs/{id}/stream), puts each event into the log as text (never
// as HTML), draws a backup's progress, has htmx refresh the panel when the
// job's status changes, and reconnects after a drop from the last seq it
// has, so no line is shown twice.
(function () {
  "use strict";

  var root = document.getElementById("job");
  if (!root) {
    return;
  }
  var jobID = root.dataset.jobId;
  var last = parseInt(root.dataset.afterSeq, 10) || 0;
  var maxLines = parseInt(root.dataset.maxLines, 10) || 5000;

  var logBox = document.getElementById("job-log");
  var empty = document.getElementById("job-log-empty");
  var jump = document.getElementById("job-log-jump");
  var trimmed = document.getElementById("job-log-trimmed");
  var stateEl = document.getElementById("job-live-state");
  var announce = document.getElementById("job-announce");
  var progress = document.getElementById("job-progress");

  var protos = {};
  var protoBox = document.getElementById("job-line-protos");
  protoBox.content.querySelectorAll("[data-kind]").forEach(function (el) {
    protos[el.dataset.kind] = el;
  });

  var ended = false; // the status frame has come
  var follow = true; // keep the newest line in view
  var autoTop = 0; // where the page last scrolled the log to
  var unseen = 0; // lines added while the user looks further up
  var shown = 0; // lines in the log
  var queue = []; // lines waiting for the next flush
  var flushTimer = null;
  var failures = 0; // connection attempts in a row that did not open

  // ---- formatting ----

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function clockTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return "";
    }
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function iec(n) {
    n = Number(n) || 0;
    if (n < 1024) {
      return n + " B";
    }
    var units = "KMGTPE";
    var i = -1;
    do {
      n /= 1024;
      i++;
    } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(1) + " " + units.charAt(i) + "iB";
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(Number(seconds) || 0));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor(seconds / 60) % 60;
    var s = seconds % 60;
    return h > 0 ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  function count(n) {
    return (Number(n) || 0).toLocaleString();
  }

  function parse(line) {
    try {
      var v = JSON.parse(line);
      return v && typeof v === "object" ? v : null;
    } catch (e) {
      return null;
    }
  }

  function progressText(p) {
    var text = "progress " + (100 * (p.percent_done || 0)).toFixed(1) + "%, " +
      count(p.files_done) + "/" + count(p.total_files) + " files, " +
      iec(p.bytes_done) + "/" + iec(p.total_bytes);
    if (p.seconds_remaining > 0) {
      text += ", " + duration(p.seconds_remaining) + " left";
    }
    return text;
  }

  function summaryText(line) {
    var s = parse(line);
    if (!s || typeof s.files_new !== "number") {
      return "summary: " + line;
    }
    var text = "summary: " + count(s.files_new) + " new, " + count(s.files_changed) + " changed, " +
      count(s.files_unmodified) + " unmodified files; " + iec(s.data_added) + " added, " +
      iec(s.total_bytes_processed) + " processed in " + duration(s.total_duration);
    if (s.snapshot_id) {
      text += "; snapshot " + String(s.snapshot_id).slice(0, 8) + " saved";
    }
    return text;
  }

  function errorText(line) {
    var e = parse(line);
    var msg = e && ((e.error && e.error.message) || e.message);
    if (!msg) {
      return "error: " + line;
    }
    return "error: " + (e.item ? e.item + ": " : "") + msg;
  }

  function statusText(s) {
    var text = "[" + s.status;
    if (s.final && typeof s.exit_code === "number") {
      text += ", exit code " + s.exit_code;
    }
    text += "]";
    if (s.message) {
      text += " " + s.message;
    }
    return text;
  }

  // ---- progress ----

  function showProgress(p) {
    if (!progress) {
      return;
    }
    var pct = Math.max(0, Math.min(100, 100 * (Number(p.percent_done) || 0)));
    var bar = document.getElementById("job-progress-bar");
    bar.value = pct;
    bar.textContent = pct.toFixed(1) + "%";
    document.getElementById("job-progress-percent").textContent = pct.toFixed(1) + "%";
    document.getElementById("job-progress-files").textContent =
      count(p.files_done) + " of " + count(p.total_files);
    document.getElementById("job-progress-bytes").textContent =
      iec(p.bytes_done) + " of " + iec(p.total_bytes);
    document.getElementById("job-progress-eta").textContent =
      p.seconds_remaining > 0 ? duration(p.seconds_remaining) : "—";
  }

  // ---- the log ----

  function atBottom() {
    return logBox.scrollHeight - logBox.scrollTop - logBox.clientHeight < 4;
  }

  function toBottom() {
    logBox.scrollTop = logBox.scrollHeight;
    autoTop = logBox.scrollTop;
  }

  // userScrolledUp tells a user's scroll from a change of the box's size:
  // the view is above where the page last put it, and not at the end.
  function userScrolledUp() {
    return !atBottom() && logBox.scrollTop < autoTop - 4;
  }

  function updateJump() {
    jump.hidden = follow;
    jump.textContent = unseen > 0 ? "Jump to latest (" + count(unseen) + " new) ↓" : "Jump to latest ↓";
  }

  function pause() {
    follow = false;
    unseen = 0;
    updateJump();
  }

  function resume() {
    follow = true;
    unseen = 0;
    updateJump();
    toBottom();
  }

  logBox.addEventListener("scroll", function () {
    if (atBottom()) {
      if (!follow) {
        resume();
      }
    } else if (follow && userScrolledUp()) {
      pause();
    }
  });
  jump.addEventListener("click", function () {
    resume();
    logBox.focus();
  });

  function lineElement(kind, seq, time, text) {
    var el = (protos[kind] || protos.stdout).cloneNode(false);
    el.dataset.seq = String(seq);
    var t = protos.time.cloneNode(false);
    t.textContent = clockTime(time);
    el.appendChild(t);
    el.appendChild(document.createTextNode(text));
    return el;
  }

  function queueLine(kind, seq, time, text) {
    queue.push([kind, seq, time, text]);
    if (queue.length > maxLines) {
      queue.splice(0, queue.length - maxLines);
      trimmed.hidden = false;
    }
    if (flushTimer === null) {
      flushTimer = setTimeout(flush, 40);
    }
  }

  // flush adds the queued lines at once, drops the oldest beyond maxLines
  // and keeps the view where the user has it.
  function flush() {
    flushTimer = null;
    if (queue.length === 0) {
      return;
    }
    var frag = document.createDocumentFragment();
    queue.forEach(function (q) {
      frag.appendChild(lineElement(q[0], q[1], q[2], q[3]));
    });
    var added = queue.length;
    queue = [];
    // A scroll the user began since the last flush may not have reached
    // the scroll handler yet: it wins over following.
    if (follow && userScrolledUp()) {
      pause();
    }
    var top = logBox.scrollTop;
    logBox.appendChild(frag);
    shown += added;
    empty.hidden = true;
    var removed = 0;
    var excess = shown - maxLines;
    if (excess > 0) {
      var keep = logBox.children[excess];
      var before = keep.offsetTop;
      var range = document.createRange();
      range.setStartBefore(logBox.firstChild);
      range.setEndBefore(keep);
      range.deleteContents();
      removed = before - keep.offsetTop;
      shown -= excess;
      trimmed.hidden = false;
    }
    if (follow) {
      toBottom();
    } else {
      logBox.scrollTop = Math.max(0, top - removed);
      unseen += added;
      updateJump();
    }
  }

  function panelStatus() {
    var p = document.getElementById("job-panel");
    return p ? p.dataset.status : "";
  }

  function terminal(status) {
    return status === "succeeded" || status === "failed" || status === "cancelled" || status === "skipped";
  }

  function refreshPanel() {
    if (window.htmx) {
      window.htmx.ajax("GET", "/jobs/" + encodeURIComponent(jobID) + "/panel", { target: "#job-panel", swap: "outerHTML" });
    }
  }

  function onEvent(f) {
    var line = typeof f.line === "string" ? f.line : "";
    switch (f.type) {
      case "log":
        line.split("\n").forEach(function (l) {
          queueLine(f.stream === "stderr" ? "stderr" : "stdout", f.seq, f.time, l);
        });
        return;
      case "progress":
        var p = parse(line);
        if (p) {
          showProgress(p);
          queueLine("progress", f.seq, f.time, progressText(p));
        } else {
          queueLine("progress", f.seq, f.time, line);
        }
        return;
      case "summary":
        queueLine("summary", f.seq, f.time, summaryText(line));
        return;
      case "error":
        queueLine("error", f.seq, f.time, errorText(line));
        return;
      case "status":
        var s = parse(line);
        if (s && s.status) {
          queueLine("status", f.seq, f.time, statusText(s));
          // A replay of an ended job has its old status changes too:
          // only a job still going can have moved on.
          if (!s.final && !terminal(panelStatus()) && s.status !== panelStatus()) {
            refreshPanel();
          }
        } else {
          queueLine("status", f.seq, f.time, line);
        }
        return;
      default:
        queueLine("stdout", f.seq, f.time, line);
    }
  }

  function onEnd(status) {
    ended = true;
    flush();
    setState("ended", "ended");
    if (progress) {
      progress.hidden = true;
    }
    announce.textContent = "The job has ended: " + status + ".";
    if (status !== panelStatus()) {
      refreshPanel();
    }
  }

  // ---- the connection ----

  function setState(state, text) {
    stateEl.dataset.state = state;
    stateEl.textContent = text;
  }

  function connect() {
    setState(failures > 0 ? "reconnecting" : "connecting", failures > 0 ? "reconnecting…" : "connecting…");
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(scheme + "//" + location.host + "/api/v1/jobs/" + encodeURIComponent(jobID) +
      "/stream?after_seq=" + last);
    ws.onopen = function () {
      failures = 0;
      setState("live", "live");
    };
    ws.onmessage = function (m) {
      var f = parse(m.data);
      if (!f) {
        return;
      }
      if (f.frame === "event") {
        // A reconnect replays from the last seq this page has; anything
        // older is already on screen.
        if (typeof f.seq !== "number" || f.seq <= last) {
          return;
        }
        last = f.seq;
        onEvent(f);
      } else if (f.frame === "status") {
        onEnd(f.status || "ended");
      }
    };
    ws.onclose = function () {
      if (ended) {
        return;
      }
      failures++;
      if (failures > 8) {
        setState("stopped", "disconnected: reload the page to try again");
        return;
      }
      setState("reconnecting", "reconnecting…");
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, failures - 1)));
    };
  }

  connect();
})();
