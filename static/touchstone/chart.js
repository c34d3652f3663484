// Draws each chart whose figure the page carries as JSON: a <script type="application/json">
// block whose id is the chart's id followed by "-data". The page itself runs no inline script.
(function () {
  for (const block of document.querySelectorAll('script[type="application/json"][id$="-chart-data"]')) {
    const target = document.getElementById(block.id.slice(0, -"-data".length));
    if (!target || typeof Plotly === "undefined") continue;
    const figure = JSON.parse(block.textContent);
    Plotly.newPlot(target, figure.data, figure.layout, figure.config);
  }
})();
