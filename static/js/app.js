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
