// What every page has: the provenance banner, the navigation and the sign-in panel.
import { call, el, onProvenance, provenance, setToken, signInWithClient, tokenClaims } from "./api.js";

const PAGES = [
  ["/", "Home"],
  ["/proofs", "Proof Console"],
  ["/overlays", "Overlay Inspector"],
  ["/health", "Health Dashboard"],
];
// Provenance values that mean "cannot be verified"
const WARN = /^(unknown|unchecked|stale|failed)\b|-dirty$/;

const signInListeners = [];

/** Run `listener` now if signed in, and again after each sign-in. */
export function whenSignedIn(listener) {
  signInListeners.push(listener);
  if (tokenClaims()) listener(tokenClaims());
}

function takeTokenFromFragment() {
  // `pxl up` prints the console URL with #token=…: the fragment never reaches a server;
  // it is moved into sessionStorage and removed from the address bar and history at once.
  const match = /^#token=([A-Za-z0-9._~-]+)$/.exec(window.location.hash);
  if (match) {
    setToken(match[1]);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

function banner() {
  const fields = [
    ["Build", "build"],
    ["Coq check", "coqchk"],
    ["v4 table", "v4"],
  ];
  const box = el("div", { id: "provenance", class: "provenance", role: "status",
    "aria-label": "Provenance" });
  const render = () => {
    box.replaceChildren();
    let warnings = 0;
    for (const [label, key] of fields) {
      const value = provenance[key];
      const bad = value === null || WARN.test(value);
      warnings += bad ? 1 : 0;
      const shown = value === null ? "…" : key === "coqchk" ? value : value.slice(0, 12);
      box.append(el("span", { class: bad ? "prov-item prov-warn" : "prov-item",
        "data-field": key, title: value || "" }, `${label}: `, el("code", { text: shown })));
    }
    box.classList.toggle("warn", warnings > 0);
    if (warnings) {
      box.prepend(el("strong", { class: "prov-alert",
        text: "⚠ Provenance not verified" }));
    }
  };
  onProvenance(render);
  render();
  return box;
}

function nav() {
  const here = window.location.pathname;
  return el("nav", { "aria-label": "Pages" },
    el("a", { class: "brand", href: "/" }, "LOGOS PXL Core"),
    el("ul", {}, PAGES.slice(1).map(([href, label]) =>
      el("li", {}, el("a", { href, "aria-current": href === here ? "page" : null }, label)))));
}

function signInPanel() {
  const panel = el("section", { id: "signin", class: "signin", "aria-label": "Sign in" });
  const render = () => {
    const claims = tokenClaims();
    panel.replaceChildren();
    if (claims) {
      const expires = claims.exp ? new Date(claims.exp * 1000).toLocaleString() : "never";
      panel.append(el("p", { id: "signed-in", class: "signed-in" },
        "Signed in as ", el("strong", { text: claims.sub }),
        el("span", { class: "muted", text: ` · scopes ${claims.scope || "–"} · until ${expires}` }),
        " ", el("button", { type: "button", class: "link", onclick: () => {
          setToken(null);
          render();
        } }, "Sign out")));
      return;
    }
    const error = el("p", { class: "error", role: "alert", id: "signin-error" });
    const tokenInput = el("input", { id: "token-input", type: "password", autocomplete: "off",
      placeholder: "eyJ…", "aria-label": "Access token" });
    const clientId = el("input", { id: "client-id", autocomplete: "username",
      "aria-label": "Client id" });
    const secret = el("input", { id: "client-secret", type: "password",
      autocomplete: "current-password", "aria-label": "Client secret" });
    const signedIn = () => {
      render();
      signInListeners.forEach((listener) => listener(tokenClaims()));
    };
    panel.append(
      el("h2", { text: "Sign in" }),
      el("p", { class: "muted", text: "The token stays in this tab only (session storage) "
        + "and is sent as an Authorization header. `pxl up` prints one." }),
      el("div", { class: "signin-forms" },
        el("form", { id: "token-form", onsubmit: async (event) => {
          event.preventDefault();
          setToken(tokenInput.value);
          const check = await call("/v1/jobs?limit=1");
          if (check.status === 401) {
            setToken(null);
            error.textContent = "That token was refused (401): expired, malformed or signed "
              + "with another key.";
            return;
          }
          signedIn();
        } },
        el("label", { for: "token-input", text: "Paste an access token" }), tokenInput,
        el("button", { type: "submit", id: "token-submit" }, "Use token")),
        el("form", { id: "client-form", onsubmit: async (event) => {
          event.preventDefault();
          const failure = await signInWithClient(clientId.value, secret.value);
          if (failure) error.textContent = failure;
          else signedIn();
        } },
        el("label", { for: "client-id", text: "or a client id" }), clientId,
        el("label", { for: "client-secret", text: "and its secret" }), secret,
        el("button", { type: "submit" }, "Get a token"))),
      error);
  };
  render();
  return panel;
}

/** Build the page frame; `needsSignIn` shows the sign-in panel when there is no token. */
export function initShell({ needsSignIn = true } = {}) {
  takeTokenFromFragment();
  const header = document.getElementById("shell");
  header.replaceChildren(banner(), nav());
  if (needsSignIn) header.append(signInPanel());
  // provenance comes from response headers: ask the one route that needs no token
  call("/v1/health");
}
