// lockgate's web UI: buttons and forms that call the JSON API, the live log tail, and charts.
"use strict";

function csrf() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

function flash(text, bad) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = bad ? "flash bad" : "flash";
  box.hidden = false;
}

// A form's fields as the API's JSON body ("inputs" holds name=value lines).
function body(form) {
  if (!form) return undefined;
  const data = {};
  for (const [name, value] of new FormData(form)) {
    if (name === "inputs") {
      data.inputs = {};
      for (const line of value.split("\n")) {
        const at = line.indexOf("=");
        if (at > 0) data.inputs[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
    } else if (name === "environments") {
      data.environments = value.split(",").filter(Boolean);
    } else if (name === "steps") {
      data.steps = value.split(",").map((step) => step.trim()).filter(Boolean);
    } else if (name === "override" && !value) {
      continue; // no reason given: no override
    } else if (name === "bypass") {
      data.bypass = (data.bypass || []).concat(value); // checkboxes: the gates ticked
    } else if (name === "drill") {
      data.drill = true;
    } else if (name === "change") { // the merge queue's: a branch, or #N for a pull request
      if (/^#?[0-9]+$/.test(value.trim())) data.pull = Number(value.trim().replace("#", ""));
      else data.branch = value.trim();
    } else {
      data[name] = value;
    }
  }
  return JSON.stringify(data);
}

async function call(element, form) {
  if (element.dataset.confirm && !window.confirm(element.dataset.confirm)) return;
  element.disabled = true;
  try {
    const response = await fetch(element.dataset.api, {
      method: element.dataset.method || "POST",
      headers: {"X-CSRF-Token": csrf(), "Content-Type": "application/json"},
      credentials: "same-origin",
      body: form ? body(form) : element.dataset.body,
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail);
      flash(`${response.status}: ${detail}`, true);
      return;
    }
    if (element.dataset.then === "queued" && answer.id) window.location = `/queue/${answer.id}`;
    else window.location.reload();
  } finally {
    element.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-api]");
  if (button) call(button, null);
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-api]");
  if (form) {
    event.preventDefault();
    call(form, form);
  }
});

// The live tail: each new line goes under its job and step, as it arrives.
function stepLog(job, step) {
  const section = document.querySelector(`section.job[data-job="${CSS.escape(job)}"]`);
  if (!section) return null;
  let details = section.querySelector(`details.step[data-step="${step}"]`);
  if (!details) {
    details = document.createElement("details");
    details.className = "step o-running";
    details.dataset.step = step;
    details.open = true;
    const summary = document.createElement("summary");
    summary.textContent = step === 0 ? "Set up job" : `Step ${step}`;
    const pre = document.createElement("pre");
    pre.className = "log";
    details.append(summary, pre);
    section.querySelector(".steps").append(details);
  }
  if (!(openedByReader()[`${job}:${step}`] === false)) details.open = true;
  return details.querySelector("pre.log");
}

// A line as the server renders it: its number in the step (a link to it), its time, its text.
function logLine(section, step, number, line) {
  const id = `L${section.id.slice(4)}-${step}-${number}`;
  const span = document.createElement("span");
  span.className = "line";
  span.id = id;
  span.dataset.line = line.id;
  const link = document.createElement("a");
  link.className = "ln";
  link.href = `#${id}`;
  link.textContent = number;
  const time = document.createElement("time");
  time.textContent = new Date(line.ts * 1000).toISOString().slice(11, 23);
  const text = document.createElement("span");
  text.className = "text";
  text.innerHTML = line.html;  // escaped by the server (ansi.to_html)
  span.append(link, time, text);
  return span;
}

function tail() {
  const run = document.getElementById("run");
  if (!run || run.dataset.live !== "yes") return;
  const source = new EventSource(`/api/v1/runs/${run.dataset.run}/logs?after=${run.dataset.after}`);
  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    const log = stepLog(line.key, line.step);
    if (!log) return;  // a job that started after the page: the graph's refresh brings it
    const section = log.closest("section.job");
    log.append(logLine(section, line.step, log.querySelectorAll(".line").length + 1, line));
  });
  source.addEventListener("end", (event) => {
    source.close();
    const outcome = document.getElementById("outcome");
    if (outcome) outcome.textContent = JSON.parse(event.data).conclusion || "completed";
    // The final page (conclusions, annotations, summaries) a moment after the last line;
    // the steps the reader opened or closed, and where they were, stay as they were.
    sessionStorage.setItem(`lockgate-scroll-${run.dataset.run}`, String(window.scrollY));
    window.setTimeout(() => window.location.reload(), 1000);
  });
}

// The steps a reader opened or closed on this run's page, kept across its reloads.
function openedByReader() {
  const run = document.getElementById("run");
  if (!run) return {};
  return JSON.parse(sessionStorage.getItem(`lockgate-open-${run.dataset.run}`) || "{}");
}

function keepOpenedSteps() {
  const run = document.getElementById("run");
  if (!run) return;
  const key = (details) => `${details.closest("section.job").dataset.job}:${details.dataset.step}`;
  const chosen = openedByReader();
  for (const details of document.querySelectorAll("details.step")) {
    if (key(details) in chosen) details.open = chosen[key(details)];
  }
  // `toggle` does not bubble: caught on the way down, for steps the live tail adds too
  document.addEventListener("toggle", (event) => {
    const details = event.target;
    if (!details.matches || !details.matches("details.step")) return;
    const now = openedByReader();
    now[key(details)] = details.open;
    sessionStorage.setItem(`lockgate-open-${run.dataset.run}`, JSON.stringify(now));
  }, true);
  const scroll = sessionStorage.getItem(`lockgate-scroll-${run.dataset.run}`);
  if (scroll !== null) {
    sessionStorage.removeItem(`lockgate-scroll-${run.dataset.run}`);
    window.scrollTo(0, Number(scroll));
  }
}

// A link to a line (#L<job>-<step>-<n>) opens its step and shows it.
function showLinkedLine() {
  const id = window.location.hash.slice(1);
  if (!id.startsWith("L")) return;
  const line = document.getElementById(id);
  if (!line) return;
  const details = line.closest("details");
  if (details) details.open = true;
  for (const old of document.querySelectorAll(".line.linked")) old.classList.remove("linked");
  line.classList.add("linked");
  line.scrollIntoView({block: "center"});
}

// Timestamps on every log line, shown or not (remembered in this browser).
function timestamps() {
  const box = document.getElementById("show-times");
  if (!box) return;
  box.checked = localStorage.getItem("lockgate-times") === "yes";
  document.body.classList.toggle("times", box.checked);
  box.addEventListener("change", () => {
    localStorage.setItem("lockgate-times", box.checked ? "yes" : "no");
    document.body.classList.toggle("times", box.checked);
  });
}

// Search in one job's log: only matching lines show, in the steps that hold them.
function search(input) {
  const section = input.closest("section.job");
  const wanted = input.value.trim().toLowerCase();
  let found = 0;
  for (const details of section.querySelectorAll("details.step")) {
    let here = 0;
    for (const line of details.querySelectorAll(".line")) {
      const text = line.querySelector(".text") || line;
      const hit = !wanted || text.textContent.toLowerCase().includes(wanted);
      line.classList.toggle("miss", !hit);
      if (hit && wanted) here += 1;
    }
    if (here) details.open = true;
    found += here;
  }
  section.querySelector(".found").textContent = wanted ? `${found} matching line${found === 1 ? "" : "s"}` : "";
}

document.addEventListener("input", (event) => {
  if (event.target.matches("input.log-search")) search(event.target);
});

// The job graph's `needs` edges, drawn over it (again when it is refreshed or resized).
const SVG = "http://www.w3.org/2000/svg";
function edges() {
  for (const graph of document.querySelectorAll(".graph")) {
    graph.querySelector("svg.edges")?.remove();
    const svg = document.createElementNS(SVG, "svg");
    svg.classList.add("edges");
    svg.setAttribute("width", graph.scrollWidth);
    svg.setAttribute("height", graph.scrollHeight);
    const origin = graph.getBoundingClientRect();
    const at = (box) => ({
      left: box.left - origin.left + graph.scrollLeft, right: box.right - origin.left + graph.scrollLeft,
      top: box.top - origin.top + graph.scrollTop, bottom: box.bottom - origin.top + graph.scrollTop,
    });
    for (const node of graph.querySelectorAll(".node[data-needs]")) {
      const to = at(node.getBoundingClientRect());
      for (const need of JSON.parse(node.dataset.needs)) {
        for (const source of graph.querySelectorAll(`.node[data-node="${CSS.escape(need)}"]`)) {
          const from = at(source.getBoundingClientRect());
          const path = document.createElementNS(SVG, "path");
          let d;
          if (to.left >= from.right) {  // side by side: right edge to left edge
            const y1 = (from.top + from.bottom) / 2, y2 = (to.top + to.bottom) / 2;
            const mid = (from.right + to.left) / 2;
            d = `M${from.right},${y1} C${mid},${y1} ${mid},${y2} ${to.left},${y2}`;
          } else {  // stacked (a phone): bottom to top
            const x1 = (from.left + from.right) / 2, x2 = (to.left + to.right) / 2;
            const mid = (from.bottom + to.top) / 2;
            d = `M${x1},${from.bottom} C${x1},${mid} ${x2},${mid} ${x2},${to.top}`;
          }
          path.setAttribute("d", d);
          path.dataset.from = need;
          path.dataset.to = node.dataset.node;
          svg.append(path);
        }
      }
    }
    graph.prepend(svg);
  }
}

document.addEventListener("htmx:afterSwap", edges);
window.addEventListener("resize", edges);
window.addEventListener("hashchange", showLinkedLine);

// Charts: a canary's samples (canary against baseline; a flag's on against off), or a series
// over runs.
function charts() {
  if (typeof uPlot === "undefined") return;
  for (const box of document.querySelectorAll(".chart")) {
    const width = Math.min(box.clientWidth || 600, 720);
    let data, series;
    if (box.dataset.samples) {
      const samples = JSON.parse(box.dataset.samples);
      const canary = samples.canary || [], baseline = samples.baseline || [];
      const [treated, control] = (box.dataset.sides || "canary,baseline").split(",");
      const n = Math.max(canary.length, baseline.length);
      const x = Array.from({length: n}, (_, i) => i + 1);
      const pad = (a) => x.map((_, i) => (i < a.length ? a[i] : null));
      data = [x, pad(canary), pad(baseline)];
      series = [{label: "sample"}, {label: treated, stroke: "#d1495b"}, {label: control, stroke: "#2e86ab"}];
    } else {
      const values = JSON.parse(box.dataset.series);
      data = [values.map((_, i) => i + 1), values];
      series = [{label: "run"}, {label: "seconds", stroke: "#2e86ab"}];
    }
    if (data[0].length === 0) {
      box.textContent = "no samples";
      continue;
    }
    const options = {title: box.dataset.title, width, height: 200, series, scales: {x: {time: false}}};
    new uPlot(options, data, box);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  timestamps();
  keepOpenedSteps();
  showLinkedLine();
  edges();
  tail();
  charts();
});
