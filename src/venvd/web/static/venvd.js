// venvd web UI: progressive enhancement only. Every page works without this file except the live
// progress, which falls back to a <meta refresh>.
"use strict";

function followBuild(box) {
  const source = new EventSource(box.dataset.events);
  const step = document.getElementById("progress-step");
  const bar = document.getElementById("progress-bar");
  const text = document.getElementById("progress-text");
  const status = document.getElementById("status");
  function show(doc) {
    const p = doc.progress || {};
    status.textContent = doc.status;
    status.className = "status status-" + doc.status;
    step.textContent = p.step || doc.status;
    bar.max = p.total || 1;
    bar.value = p.done || 0;
    text.textContent = (p.done || 0) + " / " + (p.total || "?") + " " + (p.package || "");
  }
  for (const kind of ["queued", "building"]) {
    source.addEventListener(kind, (e) => show(JSON.parse(e.data)));
  }
  for (const kind of ["ready", "failed"]) {
    source.addEventListener(kind, (e) => {
      show(JSON.parse(e.data));
      source.close();
      window.location.reload();  // the finished page: manifest, timings, downloads
    });
  }
}

function enableCopy(button) {
  const field = document.getElementById(button.dataset.copy);
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (err) {  // no clipboard permission (http on another host): select it for Ctrl+C
      field.select();
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
}

async function highlight(svg, name) {
  const answer = await fetch(`/environments/${svg.dataset.env}/why/${encodeURIComponent(name)}`,
                             {headers: {"Accept": "application/json"}});
  const box = document.getElementById("paths");
  if (!answer.ok) {
    box.textContent = `No path to ${name} (${answer.status}).`;
    return;
  }
  const why = await answer.json();
  const nodes = new Set();
  const edges = new Set();
  for (const path of why.paths) {
    path.forEach((n, i) => { nodes.add(n); if (i) edges.add(path[i - 1] + "\u0000" + n); });
  }
  svg.classList.add("highlighting");
  for (const node of svg.querySelectorAll(".node")) {
    node.classList.toggle("on", nodes.has(node.dataset.name));
    node.classList.toggle("target", node.dataset.name === name);
  }
  for (const edge of svg.querySelectorAll(".edges path")) {
    edge.classList.toggle("on", edges.has(edge.dataset.parent + "\u0000" + edge.dataset.child));
  }
  const count = why.paths.length;
  box.replaceChildren();
  const intro = document.createElement("p");
  intro.textContent = `${count} path${count === 1 ? "" : "s"} from a root to ${name}:`;
  const list = document.createElement("ul");
  for (const path of why.paths) {
    const item = document.createElement("li");
    item.textContent = path.join(" \u2192 ");
    list.append(item);
  }
  box.append(intro, list);
  document.getElementById("highlight").value = name;
  history.replaceState(null, "", `?highlight=${encodeURIComponent(name)}`);
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (box && window.EventSource) followBuild(box);
  for (const button of document.querySelectorAll(".copy-button")) enableCopy(button);
  const svg = document.getElementById("graph");
  if (svg) {
    svg.addEventListener("click", (event) => {
      const node = event.target.closest(".node");
      if (!node) return;
      event.preventDefault();
      highlight(svg, node.dataset.name);
    });
  }
});
