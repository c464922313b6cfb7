// Progressive enhancement only: every control works without this file.
document.documentElement.classList.add("js");

function copyText(text, button) {
  navigator.clipboard.writeText(text).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy], .copy-code");
  if (!button) return;
  if (button.dataset.copy) {
    const input = document.getElementById(button.dataset.copy);
    if (input) copyText(input.value, button);
  } else {
    const code = button.parentElement.querySelector("code");
    if (code) copyText(code.textContent, button);
  }
});

function addCopyButtons(root) {
  root.querySelectorAll("pre.command").forEach((pre) => {
    if (pre.querySelector(".copy-code")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code secondary small";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy this command");
    pre.appendChild(button);
  });
}

document.addEventListener("DOMContentLoaded", () => addCopyButtons(document));
document.addEventListener("htmx:afterSettle", (event) => addCopyButtons(event.target));

// The start page asks for the new server's polling port only when the plan will have a new
// server: the approach chosen, or (none chosen) the recommendation, which is a new server
// whenever one can be provisioned. Without this script the field shows and, when there is no
// new server, the planner ignores it.
function plansNewServer(form) {
  const approach = form.querySelector("[name='approach']");
  if (approach && approach.value) return approach.value === "new-server";
  const provision = form.querySelector("[name='can_provision_new_server']");
  return provision ? provision.checked : true;
}

function syncNewServerFields(form) {
  const show = plansNewServer(form);
  form.querySelectorAll("[data-new-server-only]").forEach((element) => {
    element.hidden = !show;
    element.querySelectorAll("input, select, textarea").forEach((input) => {
      input.disabled = !show;
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form.plan-form").forEach(syncNewServerFields);
});
document.addEventListener("change", (event) => {
  const form = event.target.closest("form.plan-form");
  if (form && ["approach", "can_provision_new_server"].includes(event.target.name)) {
    syncNewServerFields(form);
  }
});

// --- Keep your place: an action answers in place (the server swaps the clicked step's card or
// row, or the Tentacle table for a bulk action); the card stays where it was on screen, and
// focus moves to the outcome written inside it.
let place = null;

document.addEventListener("htmx:beforeRequest", (event) => {
  const source = event.detail.elt;
  if (!source || source.id === "poller") return;
  const card = source.closest("#bulk-form, [id^='step-']");
  if (!card) return;
  place = { id: card.id, top: card.getBoundingClientRect().top };
});

function restorePlace() {
  if (!place) return;
  const card = document.getElementById(place.id);
  const wanted = place;
  place = null;
  if (!card) return;
  const moved = card.getBoundingClientRect().top - wanted.top;
  if (Math.abs(moved) > 1) window.scrollBy(0, moved);
  const outcome = card.querySelector("[data-outcome]");
  if (outcome) outcome.focus({ preventScroll: true });
}

document.addEventListener("htmx:afterSettle", restorePlace);
document.addEventListener("htmx:afterRequest", (event) => {
  // An action answered without a swap (a replaced link) settles nothing: restore here.
  if (event.detail.successful && event.detail.xhr.getResponseHeader("HX-Reswap") === "none") {
    setTimeout(restorePlace, 40);
  }
});

// --- Live view honesty: when a poll or an action cannot reach the server, say so, and say
// when it is back. htmx keeps polling after an error; the next answer hides the notice.
function connectionNotice(show) {
  const notice = document.getElementById("connection");
  if (notice) notice.hidden = !show;
}

document.addEventListener("htmx:sendError", () => connectionNotice(true));
document.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr.status >= 500) connectionNotice(true);
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful) connectionNotice(false);
});

// --- Bulk actions: offer only what every selected step allows. Each row's checkbox lists its
// step's actions; "all matching" lists what every step matching the filters allows. Without
// this script every action is offered and the server reports each refusal.
function bulkForm() {
  return document.getElementById("bulk-form");
}

function updateBulk() {
  const form = bulkForm();
  if (!form) return;
  const scope = form.querySelector("input[name='scope']");
  const rows = Array.from(document.querySelectorAll("input[name='step'][form='bulk-form']"));
  const ticked = rows.filter((row) => row.checked);
  let allowed = null;
  const chosen = scope && scope.checked ? [scope] : ticked;
  chosen.forEach((box) => {
    const actions = new Set((box.dataset.actions || "").split(" ").filter(Boolean));
    allowed = allowed === null ? actions : new Set([...allowed].filter((a) => actions.has(a)));
  });
  form.querySelectorAll("[data-bulk-action]").forEach((button) => {
    button.disabled = !(allowed && allowed.has(button.dataset.bulkAction));
  });
  rows.forEach((row) => { row.disabled = Boolean(scope && scope.checked); });
  const count = form.querySelector("[data-selected-count]");
  if (count) {
    if (scope && scope.checked) count.textContent = "every matching step is selected";
    else count.textContent = ticked.length ? `${ticked.length} ticked below` : "or tick rows below";
  }
  const all = document.querySelector("[data-select-page]");
  if (all) all.checked = rows.length > 0 && ticked.length === rows.length;
}

document.addEventListener("change", (event) => {
  const box = event.target;
  if (box.matches("[data-select-page]")) {
    document.querySelectorAll("input[name='step'][form='bulk-form']").forEach((row) => {
      row.checked = box.checked;
    });
  }
  if (box.matches("[data-select-page], input[name='step'], #bulk-form input[name='scope']")) {
    updateBulk();
  }
});

document.addEventListener("DOMContentLoaded", updateBulk);
document.addEventListener("htmx:afterSettle", updateBulk);

// The printed runbook is rendered with the page. Once a poll or an action brings a newer plan
// version, its printout says so and asks for a reload (static/css/print.css shows the note).
document.addEventListener("htmx:afterSettle", () => {
  const runbook = document.getElementById("print-runbook");
  const poller = document.getElementById("poller");
  if (runbook && poller && poller.dataset.version !== runbook.dataset.version) {
    runbook.dataset.stale = "true";
  }
});

// --- Team: a name asked once per browser before its first change. A page that asks marks its
// name box with data-ask-name; the first step, assignee or bulk action then opens the name
// dialog, and the answer (a name, or carrying on without one) rides along with that request
// and every later one from this page; the server keeps it for this browser's session. The
// name is also kept in localStorage, so a new session sends it without asking again. Without
// this script the server refuses the first change and shows the name box next to it.
const NAME_KEY = "upgrade-planner:actor";
let nameAnswer = null; // { actor: "Ana" } or { anonymous: "on" }

function storedName() {
  try { return localStorage.getItem(NAME_KEY) || ""; } catch { return ""; }
}

function storeName(name) {
  try { if (name) localStorage.setItem(NAME_KEY, name); } catch { /* private mode: session only */ }
}

function isChange(elt) {
  return Boolean(elt && elt.id !== "poller" && elt.closest("form")
    && elt.closest("#bulk-form, [id^='step-']"));
}

document.addEventListener("htmx:confirm", (event) => {
  const elt = event.detail.elt;
  if (nameAnswer || !document.querySelector("[data-ask-name]") || !isChange(elt)) return;
  const remembered = storedName();
  if (remembered) {
    nameAnswer = { actor: remembered };
    return;
  }
  const dialog = document.getElementById("name-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return; // the server asks instead
  event.preventDefault();
  const input = dialog.querySelector("input[name='actor']");
  dialog.addEventListener("close", () => {
    const name = input.value.trim();
    if (dialog.returnValue === "save" && name) {
      nameAnswer = { actor: name };
      storeName(name);
      const box = document.getElementById("actor-name");
      if (box) box.value = name;
    } else if (dialog.returnValue === "anonymous") {
      nameAnswer = { anonymous: "on" };
    } else {
      return; // cancelled: nothing is sent
    }
    event.detail.issueRequest(true);
  }, { once: true });
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
});

document.addEventListener("htmx:configRequest", (event) => {
  if (!nameAnswer || !isChange(event.detail.elt)) return;
  Object.entries(nameAnswer).forEach(([key, value]) => {
    event.detail.parameters[key] = value;
  });
});

// A name saved in the name box (or next to a refused step) is remembered by this browser too.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.matches("form.actor, form.name-prompt")) return;
  const input = form.querySelector("input[name='actor']");
  if (input && input.value.trim()) storeName(input.value.trim());
});
