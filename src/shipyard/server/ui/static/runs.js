/* Runs table: pick 2-10 runs with the checkboxes, then Compare (a GET form). */
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = form.querySelector("[data-testid=compare]");
  const note = form.querySelector("[data-testid=selected]");
  const boxes = () => Array.from(form.querySelectorAll("input[name=run]"));
  const all = form.querySelector("[data-select-all]");

  function update() {
    const n = boxes().filter((b) => b.checked).length;
    button.disabled = n < 2 || n > 10;
    note.textContent = n === 0 ? "select 2–10 runs to compare"
      : n > 10 ? `${n} selected: at most 10 can be compared` : `${n} selected`;
  }
  form.addEventListener("change", (event) => {
    if (event.target === all) boxes().forEach((b) => { b.checked = all.checked; });
    update();
  });
  update();
});
