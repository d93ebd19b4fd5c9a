// Beacon's own behaviour; everything works without it (plain forms, refresh links).
document.addEventListener("htmx:afterSwap", (event) => {
  // The dashboard board carries the page title, so a background tab shows unacknowledged incidents.
  const board = document.getElementById("board");
  if (board && board.dataset.title) {
    document.title = board.dataset.title;
  }
  // A note form that was just submitted comes back empty; put the cursor back in it.
  if (event.detail.target && event.detail.target.id === "timeline-section") {
    const field = document.querySelector("#note-form textarea");
    if (field && event.detail.xhr && event.detail.xhr.status === 200) field.focus();
  }
});

// A poll that meets an expired session gets the sign-in page: go there instead of
// pasting it into the dashboard.
document.addEventListener("htmx:beforeSwap", (event) => {
  const url = event.detail.xhr && event.detail.xhr.responseURL;
  if (url && new URL(url).pathname.startsWith("/accounts/login/")) {
    event.detail.shouldSwap = false;
    window.location.href = url;
  }
});
