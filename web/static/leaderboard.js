// Filters apply as soon as a choice changes; without this script the Apply button does it.
const form = document.querySelector("form.filters");
if (form) {
  for (const select of form.querySelectorAll("select")) {
    select.addEventListener("change", () => form.requestSubmit());
  }
  const apply = form.querySelector("[data-apply]");
  if (apply) apply.classList.add("js-hidden");
}
