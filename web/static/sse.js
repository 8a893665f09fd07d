// Server-sent events over fetch (EventSource cannot POST): yields each JSON `data:` payload
// and stops at `[DONE]`. Comments (": ping") and malformed events are skipped.
const BOUNDARY = /\r?\n\r?\n/;

function payload(block) {
  const data = block
    .split(/\r?\n/)
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""))
    .join("\n");
  return data || null;
}

export async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let match;
      while ((match = BOUNDARY.exec(buffer)) !== null) {
        const data = payload(buffer.slice(0, match.index));
        buffer = buffer.slice(match.index + match[0].length);
        if (data === null) continue;
        if (data === "[DONE]") return;
        try {
          yield JSON.parse(data);
        } catch {
          // A broken event is dropped; the stream's own error events say what went wrong.
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}
