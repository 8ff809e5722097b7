// qtasks dashboard: live fragments and the throughput chart. No inline script (CSP).
"use strict";

const REFRESH_MS = 2000;

// Every element with data-live="URL" is replaced by a fresh server-rendered fragment
// (escaped by the server's templates) every REFRESH_MS, unless it says data-still or
// the user is typing in a form inside it.
function liveFragments() {
  for (const box of document.querySelectorAll("[data-live]")) {
    if (box.dataset.still) continue;
    const tick = async () => {
      if (document.hidden || box.contains(document.activeElement)) return;
      try {
        const response = await fetch(box.dataset.live, { credentials: "same-origin" });
        if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
        box.innerHTML = await response.text();
        box.dataset.updated = String(Date.now());
        box.classList.remove("stale");
      } catch (error) {
        box.classList.add("stale");
        box.title = `live update failed: ${error.message}`;
      }
    };
    setInterval(tick, REFRESH_MS);
  }
}

function chart() {
  const box = document.getElementById("chart");
  if (!box || typeof uPlot === "undefined") return;
  const series = [
    ["enqueued", "#6b7280"],
    ["succeeded", "#16a34a"],
    ["failed", "#dc2626"],
    ["retried", "#d97706"],
  ];
  let plot = null;
  const draw = async () => {
    if (document.hidden) return;
    let data;
    try {
      const response = await fetch(box.dataset.src, { credentials: "same-origin" });
      data = await response.json();
    } catch (error) {
      box.classList.add("stale");
      return;
    }
    box.classList.remove("stale");
    const columns = [data.time || [], ...series.map(([name]) => data[name] || [])];
    if (plot === null) {
      plot = new uPlot(
        {
          width: Math.max(320, box.clientWidth),
          height: 220,
          series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 2 }))],
          axes: [{}, { label: "tasks / minute" }],
        },
        columns,
        box,
      );
    } else {
      plot.setData(columns);
    }
    box.dataset.points = String(columns[0].length);
    box.dataset.total = String(columns.slice(1).flat().reduce((a, b) => a + b, 0));
  };
  draw();
  setInterval(draw, REFRESH_MS * 2);
}

// A form with data-confirm="question" (purging dead letters) asks before it acts.
function confirmations() {
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  confirmations();
  liveFragments();
  chart();
});
