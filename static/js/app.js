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

// The printed runbook is rendered with the page. Once a poll or an action brings a newer plan
// version, its printout says so and asks for a reload (static/css/print.css shows the note).
document.addEventListener("htmx:afterSettle", () => {
  const runbook = document.getElementById("print-runbook");
  const poller = document.getElementById("poller");
  if (runbook && poller && poller.dataset.version !== runbook.dataset.version) {
    runbook.dataset.stale = "true";
  }
});
