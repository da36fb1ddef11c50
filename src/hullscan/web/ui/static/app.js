// hullscan UI behaviour: progressive enhancement only (every page works without it).
// No inline scripts: the Content-Security-Policy allows scripts from 'self' only.
"use strict";

function initSelectAll() {
  document.querySelectorAll("[data-select-all]").forEach(function (all) {
    var form = all.closest("form");
    all.addEventListener("change", function () {
      form.querySelectorAll('input[name="ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  });
}

function initReasonToggle() {
  document.querySelectorAll("[data-reason-toggle]").forEach(function (select) {
    var form = select.closest("form");
    var reason = form.querySelector("[data-reason]");
    if (!reason) { return; }
    function sync() { reason.hidden = select.value !== "dismissed"; }
    select.addEventListener("change", sync);
    sync();
  });
}

function initLiveLog() {
  var pre = document.querySelector("pre[data-log-url]");
  if (!pre) { return; }
  var offset = 0;
  var status = document.querySelector("[data-job-status]");
  function poll() {
    fetch(pre.dataset.logUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (text) {
        if (text.length > offset) {
          pre.textContent = text;  // textContent: the log is untrusted text, never HTML
          offset = text.length;
        }
        return fetch(pre.dataset.jobUrl, { credentials: "same-origin" });
      })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (job && status) { status.textContent = job.status; status.className = "status status-" + job.status; }
        var done = job && ["success", "failed", "canceled"].indexOf(job.status) >= 0;
        if (!done) { setTimeout(poll, 2000); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  poll();
}

document.addEventListener("DOMContentLoaded", function () {
  initSelectAll();
  initReasonToggle();
  initLiveLog();
});
