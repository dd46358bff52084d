// PXL formulas in their JSON form (docs/formula-language.md): print, render as hoverable
// subformulas, and evaluate on a countermodel (S5: the relation is universal).
import { el } from "./api.js";

const PREC = { iff: 1, implies: 2, or: 3, and: 4, not: 5, box: 5, dia: 5, atom: 6, const: 6 };
const SYMBOL = { not: "¬", box: "□", dia: "◇", and: " ∧ ", or: " ∨ ", implies: " → ", iff: " ↔ " };

export function kind(node) {
  return Object.keys(node)[0];
}

function children(node) {
  const k = kind(node);
  if (k === "atom" || k === "const") return [];
  const value = node[k];
  return Array.isArray(value) ? value : [value];
}

// Where the canonical printer puts parentheses (workers/prover/printer.py)
function needsParens(parent, child, index, count) {
  const p = PREC[kind(parent)];
  const c = PREC[kind(child)];
  const k = kind(parent);
  if (p === 5) return c < 5;
  if (k === "and" || k === "or") return c <= p;
  if (index === 0 && count === 2) return c <= p;
  return c < p;
}

/** Render `node` as nested spans, one per subformula; returns {element, subformulas}. */
export function renderFormula(node) {
  const subformulas = [];
  const build = (n) => {
    const k = kind(n);
    const span = el("span", { class: "sub", tabindex: "0", "data-sub": subformulas.length });
    subformulas.push(n);
    if (k === "atom") span.append(n.atom);
    else if (k === "const") span.append(n.const ? "⊤" : "⊥");
    else {
      const parts = children(n);
      parts.forEach((child, i) => {
        if (SYMBOL[k].trim() !== SYMBOL[k] && i > 0) span.append(SYMBOL[k]);
        if (PREC[k] === 5) span.append(SYMBOL[k]);
        const inner = build(child);
        if (needsParens(n, child, i, parts.length)) span.append("(", inner, ")");
        else span.append(inner);
      });
    }
    return span;
  };
  const element = build(node);
  return { element, subformulas };
}

/** Truth of `node` at each world: an array of booleans in the model's world order. */
export function evaluate(node, model) {
  const worlds = model.worlds.map((w) => new Set(w.true_atoms));
  const values = (n) => {
    const k = kind(n);
    const args = children(n).map(values);
    switch (k) {
      case "atom": return worlds.map((w) => w.has(n.atom));
      case "const": return worlds.map(() => n.const);
      case "not": return args[0].map((v) => !v);
      case "and": return worlds.map((_, i) => args.every((a) => a[i]));
      case "or": return worlds.map((_, i) => args.some((a) => a[i]));
      case "implies": return worlds.map((_, i) => !args[0][i] || args[1][i]);
      case "iff": return worlds.map((_, i) => args[0][i] === args[1][i]);
      case "box": { const all = args[0].every(Boolean); return worlds.map(() => all); }
      case "dia": { const any = args[0].some(Boolean); return worlds.map(() => any); }
      default: throw new Error(`unknown formula node ${k}`);
    }
  };
  return values(node);
}
