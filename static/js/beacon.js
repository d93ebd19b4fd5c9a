// Beacon's own behaviour; everything works without it (plain forms, <details>, refresh links).

// Whether the "Older entries" fold of the timeline is open, kept across the timeline's refresh.
let olderEntriesOpen = false;

document.addEventListener("htmx:beforeSwap", (event) => {
  // A poll that meets an expired session gets the sign-in page: go there instead of
  // pasting it into the dashboard.
  const url = event.detail.xhr && event.detail.xhr.responseURL;
  if (url && new URL(url).pathname.startsWith("/accounts/login/")) {
    event.detail.shouldSwap = false;
    window.location.href = url;
    return;
  }
  const older = document.getElementById("older-entries");
  olderEntriesOpen = Boolean(older && older.open);
});

document.addEventListener("htmx:afterSwap", (event) => {
  // The dashboard board carries the page title, so a background tab shows unacknowledged incidents.
  const board = document.getElementById("board");
  if (board && board.dataset.title) {
    document.title = board.dataset.title;
  }
  const older = document.getElementById("older-entries");
  if (older && olderEntriesOpen) older.open = true;
});

document.addEventListener("htmx:afterSettle", (event) => {
  // After a form swapped itself (a note, a status update), the cursor goes back into it; when it
  // came back with errors, to the error summary, which is a role=alert and so is read out.
  const target = event.detail.target;
  if (!target || !event.detail.requestConfig || event.detail.requestConfig.verb !== "post") return;
  const formId = { "timeline-section": "note-form", "updates-panel": "update-form" }[target.id];
  const form = formId && document.getElementById(formId);
  if (!form) return;
  const errors = form.querySelector(".form-errors");
  const field = form.querySelector("textarea, input:not([type=hidden])");
  if (errors) errors.focus();
  else if (field) field.focus();
});
