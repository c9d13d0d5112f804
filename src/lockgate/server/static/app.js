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
      body: body(form),
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
  details.open = true;
  return details.querySelector("pre.log");
}

function tail() {
  const run = document.getElementById("run");
  if (!run || run.dataset.live !== "yes") return;
  const source = new EventSource(`/api/v1/runs/${run.dataset.run}/logs?after=${run.dataset.after}`);
  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    const log = stepLog(line.key, line.step);
    if (!log) return;  // a job that started after the page: the graph's refresh brings it
    const span = document.createElement("span");
    span.className = "line";
    span.dataset.line = line.id;
    span.innerHTML = line.html;  // escaped by the server (ansi.to_html)
    log.append(span, "\n");
  });
  source.addEventListener("end", (event) => {
    source.close();
    const outcome = document.getElementById("outcome");
    if (outcome) outcome.textContent = JSON.parse(event.data).conclusion || "completed";
    // The final page (conclusions, annotations, summaries) a moment after the last line.
    window.setTimeout(() => window.location.reload(), 1000);
  });
}

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
  tail();
  charts();
});
