// A counter under the message box: characters used of the box's maxlength (the server's
// ARENA_MAX_MESSAGE_CHARS, rendered into the page), so the limit is seen before it is hit.
const box = document.getElementById("prompt");
const limit = box ? Number(box.getAttribute("maxlength")) : 0;
if (box && limit > 0) {
  const count = document.createElement("p");
  count.className = "side-note";
  count.id = "prompt-count";
  count.dataset.testid = "prompt-count";
  const format = new Intl.NumberFormat("en");
  const update = () => {
    count.textContent = `${format.format(box.value.length)} / ${format.format(limit)} characters`;
  };
  box.after(count);
  box.addEventListener("input", update);
  update();
}
