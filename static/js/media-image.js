/* evalsite — media viewer: images, zoomed and panned to full resolution (fit, 1:1,
   wheel, drag, pinch, double-click to fit; the root's data-zoom and data-fit).
   One of the media-*.js parts; see media-viewer.js, which documents the hooks and,
   loaded last, builds the viewers. Loading this file only defines a class on
   window.evalsite.media; M.clamp and M.requestFull come from media-viewer.js,
   which defines them before it builds any viewer. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const M = (ns.media = ns.media || {});

  const dpr = () => window.devicePixelRatio || 1;

  M.ImageViewer = class ImageViewer {
    constructor(root) {
      this.root = root;
      this.stage = root.querySelector(".stage");
      this.img = root.querySelector("img");
      this.label = root.querySelector("[data-zoom-label]");
      this.scale = 1; this.x = 0; this.y = 0; this.fitScale = 1; this.atFit = true;
      this.pointers = new Map();
      this.pinch = null;
      if (this.img.complete && this.img.naturalWidth) this.fit();
      else this.img.addEventListener("load", () => this.fit(), { once: true });
      if ("ResizeObserver" in window) {
        new ResizeObserver(() => (this.atFit ? this.fit() : this.apply())).observe(this.stage);
      }
      this.stage.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
      this.stage.addEventListener("pointerdown", (e) => this.onDown(e));
      this.stage.addEventListener("pointermove", (e) => this.onMove(e));
      for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
        this.stage.addEventListener(type, (e) => this.onUp(e));
      }
      this.stage.addEventListener("dblclick", () => this.fit());
      root.addEventListener("fullscreenchange", () => requestAnimationFrame(() => this.fit()));
      root.querySelectorAll("[data-zoom-action]").forEach((button) =>
        button.addEventListener("click", () => this.action(button.dataset.zoomAction)));
    }

    natural() {
      return [this.img.naturalWidth || Number(this.img.getAttribute("width")) || 1,
              this.img.naturalHeight || Number(this.img.getAttribute("height")) || 1];
    }

    size() { return [this.stage.clientWidth || 1, this.stage.clientHeight || 1]; }

    limits() {
      return [Math.min(this.fitScale, 1 / dpr()), Math.max(this.fitScale, 1) * 8];
    }

    fit() {
      const [w, h] = this.natural();
      const [W, H] = this.size();
      // never enlarge by default: an upscaled output would misrepresent its brushwork
      this.fitScale = Math.min(W / w, H / h, 1);
      this.scale = this.fitScale;
      this.atFit = true;
      this.apply();
    }

    zoomAt(factor, cx, cy) {
      const [lo, hi] = this.limits();
      const next = M.clamp(this.scale * factor, lo, hi);
      const px = (cx - this.x) / this.scale;
      const py = (cy - this.y) / this.scale;
      this.x = cx - px * next;
      this.y = cy - py * next;
      this.scale = next;
      this.atFit = Math.abs(next - this.fitScale) < 1e-3;
      this.apply();
    }

    zoomCentre(factor) {
      const [W, H] = this.size();
      this.zoomAt(factor, W / 2, H / 2);
    }

    actual() {
      this.zoomCentre(1 / dpr() / this.scale); // one image pixel per screen pixel
    }

    action(name) {
      if (name === "in") this.zoomCentre(1.25);
      else if (name === "out") this.zoomCentre(0.8);
      else if (name === "fit") this.fit();
      else if (name === "actual") this.actual();
      else if (name === "fullscreen") M.requestFull(this.root);
    }

    clampPosition() {
      const [w, h] = this.natural();
      const [W, H] = this.size();
      const sw = w * this.scale;
      const sh = h * this.scale;
      this.x = sw <= W ? (W - sw) / 2 : M.clamp(this.x, W - sw, 0);
      this.y = sh <= H ? (H - sh) / 2 : M.clamp(this.y, H - sh, 0);
    }

    apply() {
      if (this.atFit) {
        const [w, h] = this.natural();
        const [W, H] = this.size();
        // never enlarge by default: an upscaled output would misrepresent its brushwork
        this.fitScale = Math.min(W / w, H / h, 1);
        this.scale = this.fitScale;
      }
      this.clampPosition();
      const [w, h] = this.natural();
      this.img.style.width = `${w}px`;
      this.img.style.height = `${h}px`;
      this.img.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
      this.root.classList.toggle("pixelated", this.scale * dpr() >= 3);
      this.root.dataset.zoom = this.scale.toFixed(3);
      this.root.dataset.fit = String(this.atFit);
      if (this.label) this.label.textContent = `${Math.round(this.scale * dpr() * 100)}%`;
    }

    onWheel(e) {
      e.preventDefault();
      const rect = this.stage.getBoundingClientRect();
      const lines = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1;
      this.zoomAt(Math.exp(-e.deltaY * lines * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
    }

    onDown(e) {
      if (e.button !== undefined && e.button > 0) return;
      this.stage.setPointerCapture?.(e.pointerId);
      this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      this.stage.classList.add("dragging");
      if (this.pointers.size === 2) this.pinch = this.pinchState();
    }

    pinchState() {
      const [a, b] = [...this.pointers.values()];
      const rect = this.stage.getBoundingClientRect();
      return { dist: Math.hypot(a.x - b.x, a.y - b.y) || 1,
               cx: (a.x + b.x) / 2 - rect.left, cy: (a.y + b.y) / 2 - rect.top };
    }

    onMove(e) {
      const previous = this.pointers.get(e.pointerId);
      if (!previous) return;
      const current = { x: e.clientX, y: e.clientY };
      this.pointers.set(e.pointerId, current);
      if (this.pointers.size === 1) {
        this.x += current.x - previous.x;
        this.y += current.y - previous.y;
        this.atFit = false;
        this.apply();
      } else if (this.pointers.size === 2 && this.pinch) {
        const now = this.pinchState();
        this.x += now.cx - this.pinch.cx;
        this.y += now.cy - this.pinch.cy;
        this.zoomAt(now.dist / this.pinch.dist, now.cx, now.cy);
        this.pinch = now;
      }
    }

    onUp(e) {
      this.pointers.delete(e.pointerId);
      if (this.pointers.size < 2) this.pinch = null;
      if (!this.pointers.size) this.stage.classList.remove("dragging");
    }
  };
})();
