// Copy buttons for the reproduction commands. Without this script the buttons stay hidden
// and the commands are plain selectable text.
function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copy(button) {
  const id = button.dataset.copy;
  const source = document.getElementById(id);
  const status = document.querySelector(`[data-copy-status="${id}"]`);
  selectText(source);
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    status.textContent = "Copied to the clipboard.";
  } catch {
    status.textContent = "Copying is not allowed here: the command is selected, press Ctrl+C (⌘C).";
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copy(button));
  button.hidden = false;
}
