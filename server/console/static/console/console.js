/* Live updates of the console: progress of the jobs on a list, and of one job with its chunk
   grid on the detail page. Plain JavaScript, polling JSON every 1.5 s while something runs. */
(function () {
  "use strict";
  var POLL_MS = 1500;
  var JOB_TONES = {}, CHUNK_TONES = {};  /* from server/console/formatting.py, via #tones */

  function tone(map, status) { return map[status] || "other"; }
  function num(n) { return Number(n || 0).toLocaleString("en-US"); }
  function money(v) { v = Number(v || 0); return "$" + (v > 0 && v < 0.1 ? v.toFixed(3) : v.toFixed(2)); }
  function duration(s) {
    if (s === null || s === undefined) { return "—"; }
    s = Math.floor(s);
    if (s < 60) { return s + "s"; }
    if (s < 3600) { return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s"; }
    return Math.floor(s / 3600) + "h " + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  }
  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge tone-" + tone(JOB_TONES, status);
    span.dataset.status = status;
    span.textContent = status.replace(/_/g, " ");
    return span;
  }
  function setBar(bar, progress, status) {
    if (!bar) { return; }
    bar.setAttribute("aria-valuenow", progress);
    var fill = bar.querySelector(".progress-fill");
    fill.style.width = progress + "%";
    fill.className = "progress-fill tone-" + tone(JOB_TONES, status);
  }
  function getJSON(url, done) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
        return r.json();
      })
      .then(done)
      .catch(function () { /* next poll retries */ });
  }

  function pollList() {
    var config = document.getElementById("live-config");
    if (!config) { return; }
    var url = JSON.parse(config.textContent).jobsUrl;
    function tick() {
      var rows = document.querySelectorAll("tr[data-job-id][data-active='1']");
      if (!rows.length) { return; }
      var query = Array.prototype.map.call(rows, function (r) { return "id=" + r.dataset.jobId; }).join("&");
      getJSON(url + "?" + query, function (data) {
        rows.forEach(function (row) {
          var job = data.jobs[row.dataset.jobId];
          if (!job) { return; }
          setBar(row.querySelector(".progress"), job.progress, job.status);
          var cell = function (name) { return row.querySelector("[data-field='" + name + "']"); };
          if (cell("progress")) { cell("progress").textContent = job.progress + "%"; }
          if (cell("status")) { cell("status").replaceChildren(badge(job.status)); }
          if (cell("kept") && job.kind === "scrape") {
            cell("kept").textContent = num(job.kept) + " / " + (job.target ? num(job.target) : "∞");
          }
          if (cell("cost") && job.kind === "scrape") { cell("cost").textContent = money(job.cost_usd); }
          if (cell("elapsed")) { cell("elapsed").textContent = duration(job.elapsed); }
          if (!job.active) {
            row.dataset.active = "0";
            var cancel = row.querySelector("form[action$='/cancel']");
            if (cancel) { cancel.remove(); }
          }
        });
        setTimeout(tick, POLL_MS);
      });
    }
    setTimeout(tick, POLL_MS);
  }

  function pollDetail() {
    var root = document.getElementById("job-detail");
    if (!root || root.dataset.active !== "1") { return; }
    function tick() {
      getJSON(root.dataset.liveUrl, function (data) {
        var job = data.job;
        setBar(document.getElementById("job-bar"), job.progress, job.status);
        document.getElementById("job-progress").textContent = job.progress + "%";
        document.getElementById("job-elapsed").textContent = duration(job.elapsed);
        document.getElementById("job-status").replaceChildren(badge(job.status));
        var set = function (id, html) { var el = document.getElementById(id); if (el) { el.innerHTML = html; } };
        set("stat-kept", num(job.kept) + '<span class="stat-sub"> / ' + (job.target ? num(job.target) : "no limit") + "</span>");
        set("stat-read", num(job.items_read));
        set("stat-chunks", num(job.chunks_done) + '<span class="stat-sub"> / ' + num(job.chunks_total) + "</span>");
        set("stat-cost", money(job.cost_usd));
        var cells = document.querySelectorAll("#chunk-grid .chunk");
        data.chunks.forEach(function (status, i) {
          if (cells[i]) { cells[i].className = "chunk tone-" + tone(CHUNK_TONES, status); }
        });
        if (!job.active) { window.location.reload(); return; }
        setTimeout(tick, POLL_MS);
      });
    }
    setTimeout(tick, POLL_MS);
  }

  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
      });
    });
  }

  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var tones = document.getElementById("tones");
    if (tones) {
      tones = JSON.parse(tones.textContent);
      JOB_TONES = tones.job;
      CHUNK_TONES = tones.chunk;
    }
    pollList();
    pollDetail();
    confirmForms();
    autoSubmit();
  });
})();
