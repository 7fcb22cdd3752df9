/* evalsite — rating page: the network layer. JSON POSTs with the CSRF token and a
   timeout, a fresh CSRF token after logging in again, and submission keys.
   One of the rating-*.js parts; see rating.js. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const R = (ns.rating = ns.rating || {});

  R.createNet = function createNet() {
    let csrfToken = R.$('meta[name="csrf-token"]')?.content || "";

    async function postJSON(url, body, { timeout = 20000, keepalive = false } = {}) {
      const controller = new AbortController();
      const timeoutId = setTimeout(() => controller.abort(), timeout);
      try {
        return await fetch(url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken, Accept: "application/json" },
          body: JSON.stringify(body),
          signal: controller.signal,
          keepalive,
        });
      } finally {
        clearTimeout(timeoutId);
      }
    }

    // After logging in again in another tab the CSRF token changes: read the fresh one
    // from this very page.
    async function refreshCsrf() {
      try {
        const response = await fetch(location.pathname, { credentials: "same-origin" });
        const html = await response.text();
        const match = html.match(/<meta name="csrf-token" content="([^"]+)"/);
        if (match) csrfToken = match[1];
        return Boolean(match);
      } catch {
        return false;
      }
    }

    return { postJSON, refreshCsrf };
  };

  R.newKey = function newKey() {
    if (window.crypto?.randomUUID) return crypto.randomUUID();
    // crypto.randomUUID needs a secure context; plain http on a LAN falls back to this
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
})();
