// Building DOM from API data. Every string goes in as a text node or an attribute value:
// owner-supplied names and probe answers can never become markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function when(iso) {
  if (!iso) return "–";
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(d.getTime()) ? String(iso) : DATE.format(d);
}

export function time(iso) {
  return el("time", { datetime: iso || null, text: when(iso) });
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function facts(pairs) {
  return el(
    "dl",
    { class: "facts" },
    ...pairs.map(([label, value, testid]) =>
      el("div", {}, el("dt", { text: label }), el("dd", { "data-testid": testid }, value)),
    ),
  );
}

export function table(caption, headers, rows, testid) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "board", "data-testid": testid },
      el("caption", { class: "visually-hidden", text: caption }),
      el(
        "thead",
        {},
        el("tr", {}, ...headers.map(([text, cls]) => el("th", { scope: "col", class: cls, text }))),
      ),
      el(
        "tbody",
        {},
        ...rows.map((cells) =>
          el("tr", {}, ...cells.map(([value, cls]) => el("td", { class: cls }, value))),
        ),
      ),
    ),
  );
}

export function status(value) {
  return el("span", { class: `pill status-${value}`, "data-status": value, text: value });
}

// Ratings as the leaderboard prints them: whole numbers, no grouping (1035, not 1,035).
export function rating(value) {
  return value === null || value === undefined ? "–" : String(Math.round(value));
}
