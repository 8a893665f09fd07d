// The board's choices (view, category, filters, show retired) apply as soon as one changes;
// without this script the Apply button does it.
const form = document.querySelector("form.filters");
if (form) {
  for (const control of form.querySelectorAll("select, input")) {
    control.addEventListener("change", () => form.requestSubmit());
  }
  const apply = form.querySelector("[data-apply]");
  if (apply) apply.classList.add("js-hidden");
}
