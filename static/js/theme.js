// The colour scheme, before the page is drawn. A user who chose Light or Dark gets it from
// the server (data-bs-theme on <html>); "Auto" follows the device's prefers-color-scheme here,
// and keeps following it while the page is open. Without JavaScript "Auto" is the light scheme.
(() => {
  const root = document.documentElement;
  if (root.dataset.themeChoice !== "auto" || !window.matchMedia) return;
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () => root.setAttribute("data-bs-theme", dark.matches ? "dark" : "light");
  apply();
  dark.addEventListener("change", apply);
})();
