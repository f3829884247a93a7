// Draws every chart on the page (and in each fragment htmx swaps in) with uPlot. A chart is
// <div class="chart" data-chart> holding <script type="application/json">{title, labels,
// x, ys}</script>; the series are aligned on x in Python (null where a series has no point).
(function () {
  var COLORS = ["#2f5bd3", "#e07b00", "#1a7f37", "#c62828", "#7b3fb5"];
  window.forgeCharts = window.forgeCharts || {};

  function draw(root) {
    var found = root.querySelectorAll ? root.querySelectorAll("[data-chart]") : [];
    if (root.matches && root.matches("[data-chart]")) found = [root];
    Array.prototype.forEach.call(found, function (el) {
      var spec = JSON.parse(el.querySelector("script").textContent);
      var series = [{ label: "step" }];
      spec.labels.forEach(function (label, i) {
        series.push({ label: label, stroke: COLORS[i % COLORS.length], width: 2,
                      spanGaps: true, points: { show: spec.x.length < 60 } });
      });
      var opts = { title: spec.title, width: Math.max(300, el.clientWidth - 12), height: 240,
                   series: series, scales: { x: { time: false } },
                   axes: [{ label: "step" }, {}] };
      var plot = new uPlot(opts, [spec.x].concat(spec.ys), el);
      el.setAttribute("data-points", String(spec.x.length));
      window.forgeCharts[spec.title] = plot;
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:load", function (evt) {
    if (evt.detail && evt.detail.elt && evt.detail.elt !== document.body) draw(evt.detail.elt);
  });
})();
