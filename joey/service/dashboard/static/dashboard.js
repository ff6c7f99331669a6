// joey dashboard: the workspace picker submits on change; the pipeline page draws its charts
// (uPlot, vendored in vendor/uplot) from the series route. No inline script (the pages' CSP).
(function () {
  "use strict";

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.value) { select.form.submit(); }
    });
  });

  var charts = document.getElementById("charts");
  if (!charts) { return; }
  if (typeof uPlot === "undefined") {
    charts.dataset.error = "uPlot did not load";
    return;
  }

  var LINES = {
    rps: [{ label: "requests/s", key: "rps", stroke: "#2563eb" }],
    rows_per_s: [{ label: "rows/s", key: "rows_per_s", stroke: "#059669" }],
    latency: [
      { label: "p50 ms", key: "p50", stroke: "#2563eb" },
      { label: "p95 ms", key: "p95", stroke: "#d97706" },
      { label: "p99 ms", key: "p99", stroke: "#dc2626" }
    ]
  };
  var drawn = [];

  function widthOf(element) {
    return Math.max(element.clientWidth || 0, 280);
  }

  function draw(data) {
    charts.querySelectorAll("[data-chart]").forEach(function (figure) {
      var lines = LINES[figure.dataset.chart];
      var plot = figure.querySelector(".plot");
      var options = {
        width: widthOf(plot),
        height: 200,
        tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
        axes: [{}, { size: 56 }],
        series: [{ label: "UTC" }].concat(lines.map(function (line) {
          return { label: line.label, stroke: line.stroke, width: 2, points: { show: true, size: 5 } };
        }))
      };
      var values = [data.t].concat(lines.map(function (line) { return data[line.key]; }));
      var chart = new uPlot(options, values, plot);
      drawn.push([chart, plot]);
      var max = 0;
      lines.forEach(function (line) {
        data[line.key].forEach(function (value) { if (value !== null && value > max) { max = value; } });
      });
      figure.dataset.max = String(max);
      figure.dataset.points = String(data.t.length);
      figure.dataset.drawn = "true";
    });
    charts.dataset.requests = String(data.requests);
    charts.dataset.rows = String(data.rows);
    charts.dataset.drawn = "true";
  }

  window.addEventListener("resize", function () {
    drawn.forEach(function (pair) { pair[0].setSize({ width: widthOf(pair[1]), height: 200 }); });
  });

  fetch(charts.dataset.seriesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error("the series answered " + response.status); }
      return response.json();
    })
    .then(draw)
    .catch(function (error) {
      charts.dataset.error = String(error);
      charts.classList.add("failed");
    });
})();
