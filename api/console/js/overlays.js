// Overlay Inspector: run a chrono or v4 operation; input and output side by side.
import { call, describeFailure, el, followEvents } from "./api.js";
import { pretty } from "./draw.js";
import { initShell } from "./shell.js";

const OPERATIONS = { chrono: ["normalize", "transform", "validate"],
  v4: ["translate", "validate", "adapt"] };
// From docs/overlays.md
const EXAMPLES = {
  chrono: ["~[](p & At(2, <>q)) -> Eternal(r)", "At(3, p) -> Until(q, Knows(1, r))",
    "Knows(1, p) -> p", "Believes(2, p) -> p"],
  v4: ['{"kind": "action", "pre": "p", "action": "open", "post": "q"}',
    '{"kind": "knowledge", "claim": "[]p -> p"}', '{"kind": "value", "x": 3, "y": 5}'],
};
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const $ = (id) => document.getElementById(id);

function tokens(text) {
  return text.match(/\s+|[A-Za-z_][A-Za-z0-9_]*|\d+|<->|->|<>|\[\]|./g) || [];
}

/** Token diff (longest common subsequence): marks what only one side has. */
export function diff(before, after) {
  const a = tokens(before);
  const b = tokens(after);
  const table = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const left = [];
  const right = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      left.push([a[i], false]); right.push([b[j], false]); i += 1; j += 1;
    } else if (j < b.length && (i >= a.length || table[i][j + 1] >= table[i + 1][j])) {
      right.push([b[j], true]); j += 1;
    } else {
      left.push([a[i], true]); i += 1;
    }
  }
  const paint = (parts, cls) => parts.map(([text, changed]) =>
    changed && text.trim() ? el("mark", { class: cls, text: pretty(text) }) : pretty(text));
  return [paint(left, "del"), paint(right, "ins")];
}

function setOperations() {
  const kind = $("overlay-kind").value;
  $("operation").replaceChildren(...OPERATIONS[kind].map((op) => el("option", { value: op, text: op })));
  $("direction-label").hidden = true;
  $("input-label").textContent = kind === "chrono" ? "CPX formula" : "v4 object (JSON)";
  $("overlay-input").value = EXAMPLES[kind][0];
  const examples = $("overlay-examples");
  examples.replaceChildren(el("span", { class: "muted", text: "Examples: " }),
    ...EXAMPLES[kind].map((example) => el("button", { type: "button", class: "chip",
      onclick: () => { $("overlay-input").value = example; } }, example)));
}

function asText(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "string") return value;
  if (value.text !== undefined) return value.text;
  return JSON.stringify(value, null, 1);
}

function render(doc) {
  const status = $("overlay-status");
  if (doc.status !== "succeeded") {
    status.textContent = `Job ${doc.id} ${doc.status}: ${doc.error ? doc.error.detail : ""}`;
    return;
  }
  const result = doc.result;
  status.textContent = `Job ${doc.id} finished: ${result.overlay} ${result.operation}.`;
  // normalize has no verdict of its own: its self-check says whether input <-> output is valid
  const checked = !result.verdict && result.check;
  const verdict = result.verdict || (checked && result.check.verdict);
  const badge = $("overlay-verdict");
  if (verdict) {
    badge.className = `verdict verdict-${verdict}`;
    badge.replaceChildren(
      el("span", { class: "verdict-word", id: "overlay-verdict-word",
        text: checked && verdict === "valid" ? "EQUIVALENT" : verdict.toUpperCase() }),
      el("span", { class: "szs", text: checked
        ? `self-check (${result.check.method}): the prover confirms input ↔ output is S5-valid`
        : result.guard ? "conservativity guard" : result.szs_status || "" }));
    badge.hidden = false;
  } else badge.hidden = true;
  // chrono: formula in, formula out, so a diff; v4: an object in, its translation out
  const comparable = result.input && result.input.text !== undefined;
  const [left, right] = comparable ? diff(asText(result.input), asText(result.output))
    : [[asText(result.input)], [pretty(asText(result.output))]];
  $("diff-input").replaceChildren(...left);
  $("diff-output").replaceChildren(...right);
  $("diff").hidden = false;
  const loss = $("loss");
  loss.replaceChildren();
  if (result.loss) {
    const rows = (result.loss.nodes || []).map((n) => el("tr", {},
      el("td", { text: n.operator }), el("td", {}, el("code", { text: pretty(n.node) })),
      el("td", {}, el("code", { text: pretty(n.image) })),
      el("td", { text: Object.entries(n.lost || {}).map(([k, v]) => `${k}: ${v}`).join("; ") })));
    loss.append(el("h3", { text: `Loss report: ${result.loss.lossless ? "lossless" : "lossy"}` }),
      rows.length ? el("table", { class: "loss" },
        el("thead", {}, el("tr", {}, ["Operator", "Node", "Image", "Lost"].map((h) => el("th", { text: h })))),
        el("tbody", {}, rows)) : el("p", { class: "muted", text: "Nothing lost." }));
  }
  if (result.guard && result.guard.checks) {
    loss.append(el("h3", { text: "Guard checks" }), el("ul", {}, result.guard.checks.map((c) =>
      el("li", {}, el("strong", { text: c.name || c.obligation || "check" }), `: ${c.holds === undefined ? (c.verdict || "") : c.holds ? "holds" : "fails"}`))));
  }
  const trace = result.chrono_trace || result.v4_trace || [];
  $("overlay-trace").replaceChildren(...trace.map((line) => el("li", { text: line })));
}

async function run(event) {
  event.preventDefault();
  const kind = $("overlay-kind").value;
  const operation = $("operation").value;
  const text = $("overlay-input").value;
  const error = $("overlay-error");
  error.hidden = true;
  const body = { operation };
  if (kind === "chrono") {
    body.formula = text;
    if (operation === "transform") body.options = { direction: $("direction").value };
  } else {
    try {
      body.object = JSON.parse(text);
    } catch (e) {
      error.textContent = `Not JSON: ${e.message}`;
      error.hidden = false;
      return;
    }
  }
  $("run").disabled = true;
  $("overlay-status").textContent = "Submitting…";
  try {
    const answer = await call(`/v1/overlays/${kind}`, { method: "POST", json: body });
    if (!answer.ok) {
      error.textContent = describeFailure(answer);
      error.hidden = false;
      $("overlay-status").textContent = "Refused.";
      return;
    }
    let doc = answer.data;
    if (!FINAL.has(doc.status)) {
      $("overlay-status").textContent = `Job ${doc.id}: ${doc.status}…`;
      await followEvents(doc.links.events, (e) => {
        if (FINAL.has(e.event)) doc = e.data;
        else $("overlay-status").textContent = `Job ${doc.id}: ${e.event}…`;
      }, { isFinal: (e) => FINAL.has(e.event) });
      if (!FINAL.has(doc.status)) doc = (await call(doc.links.job)).data;
    }
    render(doc);
  } finally {
    $("run").disabled = false;
  }
}

initShell();
$("overlay-kind").addEventListener("change", setOperations);
$("operation").addEventListener("change", () => {
  $("direction-label").hidden = $("operation").value !== "transform";
});
$("overlay-form").addEventListener("submit", run);
setOperations();
