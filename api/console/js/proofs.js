// Proof Console: submit a formula, follow the job, show the verdict with its picture.
import { call, describeFailure, el, followEvents, formatMs } from "./api.js";
import { drawCountermodel, drawOutline, drawTableau, pretty } from "./draw.js";
import { initShell, whenSignedIn } from "./shell.js";

// From docs/formula-language.md (tests/unit/test_console_static.py checks they are there)
export const EXAMPLES = [
  "[](p -> q) -> ([]p -> []q)",
  "<>p -> []p",
  "[]p -> p",
  "<>p & <>q -> <>(p & q)",
  "!<>p <-> [] ~p",
  "◇□p → □p",
  "p & q & r | s",
];
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const $ = (id) => document.getElementById(id);
let following = null;

function showParseError(problem, text) {
  const box = $("parse-error");
  box.replaceChildren();
  const formula = $("formula");
  formula.setAttribute("aria-invalid", "true");
  const line = problem.line || 1;
  const column = problem.column || 1;
  const lines = text.split("\n");
  const source = lines[line - 1] ?? "";
  box.dataset.line = line;
  box.dataset.column = column;
  box.append(
    el("strong", { text: `Line ${line}, column ${column}: ` }),
    el("span", { text: (problem.detail || "").split("\n")[0].replace(/^line \d+, column \d+: /, "") }),
    el("pre", { class: "caret" },
      el("span", { class: "caret-source", text: source }), "\n",
      el("span", { class: "caret-mark", text: `${" ".repeat(column - 1)}^` })));
  box.hidden = false;
  // put the cursor where the error is
  const offset = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0) + column - 1;
  formula.focus();
  formula.setSelectionRange(offset, Math.min(offset + 1, text.length));
}

function clearParseError() {
  $("parse-error").hidden = true;
  $("formula").removeAttribute("aria-invalid");
}

function setStatus(text) {
  $("job-status").textContent = text;
}

function verdictBadge(result) {
  const box = $("verdict");
  box.className = `verdict verdict-${result.verdict}`;
  box.replaceChildren(
    el("span", { class: "verdict-word", id: "verdict-word", text: result.verdict.toUpperCase() }),
    el("span", { class: "szs", id: "szs", text: `SZS status ${result.szs_status}` }),
    result.formula ? el("code", { class: "verdict-formula", text: pretty(result.formula) }) : null);
  box.hidden = false;
}

function renderJob(doc) {
  const picture = $("picture");
  picture.replaceChildren();
  $("details").hidden = true;
  if (doc.status === "failed") {
    setStatus(`Job ${doc.id} failed: ${doc.error ? doc.error.detail : "no detail"}`);
    $("verdict").hidden = true;
    return;
  }
  if (doc.status === "cancelled") {
    setStatus(`Job ${doc.id} was cancelled.`);
    $("verdict").hidden = true;
    return;
  }
  if (!doc.result) return;
  const result = doc.result;
  setStatus(`Job ${doc.id} finished.`);
  verdictBadge(result);
  if (result.verdict === "invalid" && result.countermodel) {
    const modal = (doc.params.overlay || "modal") === "modal";
    picture.append(drawCountermodel(result.countermodel, modal ? doc.params.formula : null));
  } else if (result.verdict === "valid" && result.tableau) {
    picture.append(drawTableau(result.tableau));
  } else if (result.verdict === "valid" && result.outline) {
    picture.append(drawOutline(result.outline));
  } else if (result.verdict === "valid") {
    picture.append(el("p", { class: "legend", text: result.certificate
      ? "Valid, with a checked certificate (too large to show as formulas)."
      : `Valid; no certificate: ${result.certificate_omitted || "not given"}.` }));
  } else {
    picture.append(el("p", { class: "legend", text: "Unknown: the prover did not finish in "
      + "time (it never guesses). Try a longer timeout." }));
  }
  const timings = $("timings");
  timings.replaceChildren(...[
    ["Waiting in the queue", formatMs(result.queue_wait_ms)],
    ["Prover", formatMs(result.elapsed_ms)],
    ["Run (worker)", formatMs(result.run_ms)],
    ["Submitted", doc.submitted_at],
    ["Finished", doc.finished_at],
  ].flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v ?? "–" })]));
  $("trace").replaceChildren(...(result.trace || []).map((line) => el("li", { text: line })));
  const blob = new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
  const link = $("download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = `result-${doc.id}.json`;
  $("details").hidden = false;
}

async function follow(doc) {
  if (following) following.abort();
  following = new AbortController();
  const steps = { queued: "Queued, waiting for a worker…", started: "Running…" };
  setStatus(`Job ${doc.id}: ${steps[doc.status] || doc.status}`);
  let finalDoc = null;
  await followEvents(doc.links.events, (event) => {
    if (FINAL.has(event.event)) finalDoc = event.data;
    else if (event.event === "progress") {
      const pct = Math.round((event.data.progress || 0) * 100);
      setStatus(`Job ${doc.id}: running… ${pct}%`);
    } else setStatus(`Job ${doc.id}: ${steps[event.event] || event.event}`);
  }, { signal: following.signal, isFinal: (event) => FINAL.has(event.event) });
  if (!finalDoc) {
    const again = await call(doc.links.job);
    if (again.ok) finalDoc = again.data;
  }
  if (finalDoc && finalDoc.result !== undefined) renderJob(finalDoc);
  else if (finalDoc) setStatus(`Job ${doc.id}: ${finalDoc.status}`);
  loadRecent();
}

async function submit(event) {
  event.preventDefault();
  clearParseError();
  const text = $("formula").value;
  const overlay = $("overlay").value;
  let formula = text;
  if (overlay === "v4" || text.trim().startsWith("{")) {
    try {
      formula = JSON.parse(text);
    } catch (error) {
      showParseError({ line: 1, column: 1, detail: `not JSON: ${error.message}` }, text);
      return;
    }
  }
  const body = { formula, overlay, timeout: Number($("timeout").value) || 30 };
  $("submit").disabled = true;
  $("verdict").hidden = true;
  $("picture").replaceChildren();
  $("details").hidden = true;
  setStatus("Submitting…");
  try {
    const answer = await call("/v1/proofs", { method: "POST", json: body });
    if (answer.problem && answer.problem.line) {
      setStatus("The formula does not parse.");
      showParseError(answer.problem, text);
      return;
    }
    if (!answer.ok) {
      setStatus(describeFailure(answer));
      return;
    }
    if (FINAL.has(answer.data.status)) renderJob(answer.data);
    else await follow(answer.data);
  } finally {
    $("submit").disabled = false;
  }
}

function shorten(text, max = 90) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

async function loadRecent() {
  const list = $("recent");
  const answer = await call("/v1/jobs?kind=proof&limit=8");
  if (!answer.ok) {
    list.replaceChildren(el("li", { class: "muted", text: describeFailure(answer) }));
    return;
  }
  list.replaceChildren(...answer.data.items.map((job) => el("li", {},
    el("button", { type: "button", class: "link", onclick: async () => {
      const full = await call(job.links.job);
      if (!full.ok) return;
      $("formula").value = full.data.params.formula_text || "";
      if (FINAL.has(full.data.status)) renderJob(full.data);
      else follow(full.data);
    } }, el("code", { text: shorten(pretty(job.formula_preview || job.id)) })),
    " ",
    el("span", { class: `state state-${job.status}`, text: job.verdict
      ? `${job.status} · ${job.verdict}` : job.status }))));
  if (!answer.data.items.length) list.replaceChildren(el("li", { class: "muted", text: "None yet." }));
}

initShell();
const examples = $("examples");
examples.append(el("span", { class: "muted", text: "Examples: " }));
for (const example of EXAMPLES) {
  examples.append(el("button", { type: "button", class: "chip", onclick: () => {
    $("formula").value = example;
    $("overlay").value = "modal";
    clearParseError();
    $("formula").focus();
  } }, example));
}
$("proof-form").addEventListener("submit", submit);
$("formula").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("proof-form").requestSubmit();
});
whenSignedIn(() => loadRecent());
