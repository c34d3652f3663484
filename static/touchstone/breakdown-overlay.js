// Overlays a second submission on every breakdown chart of a submission page. The visitor picks
// it in #overlay-choice (the server lists only submissions whose breakdowns may be shown); its
// API record's "breakdowns" gives the numbers, drawn the way touchstone/front/breakdown_charts.py
// draws the page's own, dotted and in another colour. Choosing "none" takes the overlay away.
(function () {
  const choice = document.getElementById("overlay-choice");
  if (!choice || typeof Plotly === "undefined") return;
  const status = document.getElementById("overlay-status");
  const OTHER = "#b26a00";
  const PALETTE = ["#1f5fa8", "#b26a00", "#2e7d32", "#b42318", "#7b1fa2", "#546e7a",
                   "#00838f", "#ad1457", "#6d4c41", "#827717", "#283593", "#ef6c00"];

  // plotly reads markup in labels: escaped, a name is shown as written (as charts.plain_text does).
  function plain(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function errorY(rows, low, high) {
    low = low || "low";
    high = high || "high";
    return {
      type: "data", symmetric: false,
      array: rows.map((r) => (r[high] == null || r.value == null ? null : r[high] - r.value)),
      arrayminus: rows.map((r) => (r[low] == null || r.value == null ? null : r.value - r[low])),
    };
  }

  function line(x, rows, name, colour, extra) {
    return Object.assign({
      type: "scatter", mode: "lines+markers", x: x, y: rows.map((r) => r.value), error_y: errorY(rows),
      line: {color: colour, dash: "dot"}, marker: {symbol: "circle-open", size: 8}, name: name,
      customdata: rows.map((r) => [r.low, r.high, r.n]),
      hovertemplate: "%{x}: %{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}]<extra>%{fullData.name}</extra>",
    }, extra || {});
  }

  // The colour of each of the page's own lines, by name: the other submission's line of the
  // same corruption or attack takes it, dotted.
  function lineColours(figure) {
    const colours = {};
    figure.data.forEach((trace) => { if (trace.mode === "lines+markers") colours[trace.name] = trace.line.color; });
    return colours;
  }

  // Each builder returns the traces to add and any change to the layout, or nothing.
  const builders = {
    severity(other, label, figure) {
      if (!other.corruptions || !other.corruptions.items) return null;
      const colours = lineColours(figure);
      const traces = other.corruptions.items.map((item, position) => {
        const name = plain(item.name);
        return line(item.severities.map((r) => r.severity), item.severities, name + " · " + label,
                    colours[name] || PALETTE[position % PALETTE.length]);
      });
      return {traces: traces};
    },
    confusion(other, label, figure) {
      if (!other.per_class) return null;
      const classes = other.per_class.classes.map((c) => plain(c));
      // Side by side: the page's matrix on the left half, the other one's on the right.
      const layout = {
        xaxis: Object.assign({}, figure.layout.xaxis, {domain: [0, 0.48]}),
        xaxis2: {domain: [0.52, 1], type: "category", anchor: "y", title: {text: label}},
      };
      return {
        traces: [{type: "heatmap", z: other.per_class.confusion, x: classes, y: classes, xaxis: "x2",
                  colorscale: [[0, "#ffffff"], [1, OTHER]], showscale: false, texttemplate: "%{z}", name: label,
                  hovertemplate: "true %{y}, predicted %{x}: %{z} items<extra>%{fullData.name}</extra>"}],
        layout: layout,
      };
    },
    reliability(other, label) {
      if (!other.reliability) return null;
      const rows = other.reliability.filter((r) => r.count).map((r) => (
        {value: r.accuracy, low: r.band_low, high: r.band_high, n: r.count, centre: (r.low + r.high) / 2}));
      return {traces: [line(rows.map((r) => r.centre), rows, label, OTHER)]};
    },
    slices(other, label, figure) {
      const table = other.slices && other.slices[figure.overlay.column];
      if (!table) return null;
      const rows = table.slices;
      return {traces: [{type: "bar", x: rows.map((r) => plain(r.slice)), y: rows.map((r) => r.value),
                        error_y: errorY(rows), marker: {color: OTHER}, name: label,
                        customdata: rows.map((r) => [r.low, r.high, r.n]),
                        hovertemplate: "%{x}: %{y:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}]" +
                          "<extra>%{fullData.name}</extra>"}]};
    },
    drift(other, label) {
      if (!other.drift) return null;
      const rows = other.drift.eras.filter((r) => r.n);
      return {traces: [line(rows.map((r) => plain(r.era)), rows, label, OTHER)]};
    },
    adversarial(other, label, figure) {
      if (!other.adversarial || !other.adversarial.attacks || !other.adversarial.attacks.length) return null;
      const colours = lineColours(figure);
      const names = Array.from(new Set(other.adversarial.attacks.map((a) => a.name))).sort();
      return {traces: names.map((name, position) => {
        const rows = other.adversarial.attacks.filter((a) => a.name === name).sort((a, b) => a.eps - b.eps);
        const attack = plain(name.toUpperCase());
        return line(rows.map((r) => r.eps), rows, attack + " · " + label,
                    colours[attack] || PALETTE[position % PALETTE.length]);
      })};
    },
  };

  function charts() {
    const found = [];
    for (const block of document.querySelectorAll('#breakdowns script[type="application/json"][id$="-chart-data"]')) {
      const target = document.getElementById(block.id.slice(0, -"-data".length));
      if (target) found.push({target: target, figure: JSON.parse(block.textContent)});
    }
    return found;
  }

  // Redraws every chart from the page's own figure, plus the other submission's traces if any.
  function draw(other, label) {
    for (const {target, figure} of charts()) {
      const builder = figure.overlay && builders[figure.overlay.kind];
      const added = other && builder ? builder(other, label, figure) : null;
      const data = added ? figure.data.concat(added.traces) : figure.data;
      const layout = added && added.layout ? Object.assign({}, figure.layout, added.layout) : figure.layout;
      Plotly.react(target, data, layout, figure.config);
    }
  }

  async function overlay() {
    const option = choice.selectedOptions[0];
    if (!option || !option.value) {
      draw(null, "");
      status.textContent = "";
      return;
    }
    status.textContent = "loading…";
    try {
      const response = await fetch(option.dataset.api, {headers: {"Accept": "application/json"}});
      if (!response.ok) throw new Error("the server answered " + response.status);
      const record = await response.json();
      if (!record.breakdowns) {
        draw(null, "");
        status.textContent = "that submission has no breakdowns to show";
        return;
      }
      draw(record.breakdowns, plain("#" + record.id + " " + record.model_name));
      status.textContent = "";
    } catch (error) {
      status.textContent = "could not load that submission (" + error.message + ")";
    }
  }

  choice.addEventListener("change", overlay);
  document.getElementById("overlay").hidden = false;
})();
