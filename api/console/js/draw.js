// Pictures of results: the closed tableau as a tree, the countermodel as worlds.
import { el, svg } from "./api.js";
import { evaluate, renderFormula } from "./formula.js";

/** ASCII PXL text with the Unicode operators. */
export function pretty(text) {
  return text
    .replace(/<->/g, "↔").replace(/->/g, "→").replace(/<>/g, "◇").replace(/\[\]/g, "□")
    .replace(/~/g, "¬").replace(/&/g, "∧").replace(/\|/g, "∨")
    .replace(/\btrue\b/g, "⊤").replace(/\bfalse\b/g, "⊥");
}

const RULE_NAMES = { goal: "assumption", alpha: "α", beta: "β", nu: "ν", pi: "π" };

function entryRow(entry, node, first) {
  const why = node.rule === "goal" ? "assume false"
    : first ? `${RULE_NAMES[node.rule]} from ${node.premise}` : "";
  return el("div", { class: "tentry", "data-entry": entry.id },
    el("span", { class: "eid", text: `${entry.id}.` }),
    el("span", { class: "world", text: `w${entry.world}` }),
    el("span", { class: entry.sign === "T" ? "sign sign-t" : "sign sign-f",
      title: entry.sign === "T" ? "true at this world" : "false at this world",
      text: entry.sign === "T" ? "⊨" : "⊭" }),
    el("span", { class: "tformula", text: pretty(entry.formula) }),
    el("span", { class: "why", text: why }));
}

/** The tableau (flat node list) as nested boxes: each box is a run of one-child steps. */
export function drawTableau(tableau) {
  const kids = tableau.nodes.map(() => []);
  for (const node of tableau.nodes) if (node.parent !== null) kids[node.parent].push(node.id);
  const branch = (start) => {
    const box = el("div", { class: "tbox" });
    let id = start;
    for (;;) {
      const node = tableau.nodes[id];
      node.entries.forEach((entry, i) => box.append(entryRow(entry, node, i === 0)));
      if (kids[id].length !== 1) break;
      id = kids[id][0];
    }
    const end = tableau.nodes[id];
    const wrapper = el("div", { class: "tnode" }, box);
    if (end.closed) {
      box.append(el("div", { class: "closed", text: end.closed.length === 2
        ? `✕ closed: ${end.closed[0]} and ${end.closed[1]} contradict`
        : `✕ closed: ${end.closed[0]} is impossible` }));
    } else {
      wrapper.append(el("div", { class: "tkids" },
        kids[id].map((k) => el("div", { class: "tbranch" }, branch(k)))));
    }
    return wrapper;
  };
  return el("div", { class: "tableau-wrap" },
    el("p", { class: "legend" }, "A closed S5 tableau, checked by the server's independent "
      + "checker. Start: the formula is false at world w1 (⊭). Each step follows from an "
      + "earlier line (α: both parts, β: a split into cases, π: a new world, ν: every world). "
      + "Every branch ends in a contradiction (✕), so no world can falsify the formula: it is "
      + "valid."),
    el("div", { class: "tableau", id: "tableau" }, branch(0)));
}

/** The countermodel's worlds as an SVG; hovering (or focusing) a subformula colours the
 * worlds where it is true. */
export function drawCountermodel(model, formulaJson) {
  const n = model.worlds.length;
  const width = 420;
  const height = n <= 2 ? 150 : n === 3 ? 250 : 320;
  const cx = width / 2;
  const cy = n <= 2 ? 60 : height / 2 - 10;
  const radius = n === 1 ? 0 : n === 2 ? 110 : Math.min(120, height / 2 - 60);
  const position = (i) => n === 2
    ? [cx + (i === 0 ? -radius : radius), cy]
    : [cx + radius * Math.sin((2 * Math.PI * i) / n), cy - radius * Math.cos((2 * Math.PI * i) / n)];
  const picture = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "worlds",
    role: "img", "aria-label": `Countermodel with ${n} worlds` });
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      const [x1, y1] = position(i);
      const [x2, y2] = position(j);
      picture.append(svg("line", { x1, y1, x2, y2, class: "access" }));
    }
  }
  const circles = model.worlds.map((world, i) => {
    const [x, y] = position(i);
    const actual = world.id === model.actual_world;
    const group = svg("g", { class: actual ? "world actual" : "world", "data-world": world.id });
    group.append(
      svg("circle", { cx: x, cy: y, r: 38 }),
      svg("text", { x, y: y - 6, class: "wname", text: world.id }),
      svg("text", { x, y: y + 14, class: "watoms",
        text: world.true_atoms.length ? world.true_atoms.join(", ") : "∅" }));
    if (actual) {
      group.append(svg("text", { x, y: y + 58, class: "wfails", text: "✗ formula false here" }));
    }
    picture.append(group);
    return group;
  });
  const caption = el("p", { class: "hover-info", id: "hover-info", "aria-live": "polite",
    text: "Hover or focus a part of the formula to see the worlds where it is true." });
  const parts = [
    el("p", { class: "legend" }, `A countermodel, re-checked by the server: ${n} worlds, each `
      + "listing the atoms true there (∅: none). In S5 every world sees every world (the "
      + "lines). The formula is false at the world marked in red, so it is not valid."),
    picture,
  ];
  if (formulaJson) {
    const { element, subformulas } = renderFormula(formulaJson);
    const show = (event) => {
      const target = event.target.closest(".sub");
      if (!target) return;
      event.stopPropagation();
      element.querySelectorAll(".sub.active").forEach((s) => s.classList.remove("active"));
      target.classList.add("active");
      const values = evaluate(subformulas[Number(target.dataset.sub)], model);
      circles.forEach((c, i) => {
        c.classList.toggle("holds", values[i]);
        c.classList.toggle("fails", !values[i]);
      });
      const names = (want) => model.worlds.filter((_, i) => values[i] === want).map((w) => w.id);
      caption.textContent = `${target.textContent}: true at ${names(true).join(", ") || "no world"}`
        + `; false at ${names(false).join(", ") || "no world"}`;
    };
    element.addEventListener("mouseover", show);
    element.addEventListener("focusin", show);
    parts.push(el("p", { class: "formula-hover", id: "formula-hover" }, element), caption);
    show({ target: element, stopPropagation() {} }); // start with the whole formula
  }
  return el("div", { class: "countermodel", id: "countermodel" }, parts);
}

/** The certificate's lemmas as formulas (workers/prover/outline.py). */
export function drawOutline(outline) {
  if (outline.kind === "worlds") {
    return el("p", { class: "legend" }, `Proof by exhaustion: no model of up to `
      + `${outline.worlds} worlds falsifies the formula, and none needs more (a DRUP `
      + "refutation the certificate checker replayed).");
  }
  const items = outline.lemmas.map((lemma) => el("li", {},
    el("code", { text: pretty(lemma.box) }), ", because ",
    el("code", { text: pretty(lemma.hypotheses.length
      ? `${lemma.hypotheses.join(" ∧ ")} → ${lemma.argument}` : lemma.argument) }),
    lemma.cut ? " follows (cutting planes)" : " is propositional"));
  return el("div", { class: "outline" },
    el("p", { class: "legend" }, "The certificate's necessitation lemmas, each checked by the "
      + "certificate checker; with them the formula follows propositionally."),
    items.length ? el("ol", {}, items) : el("p", { text: "No lemma needed: propositional." }),
    outline.not_listed ? el("p", { class: "muted", text: `… and ${outline.not_listed} more` }) : null);
}
