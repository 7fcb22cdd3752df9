/* evalsite — viewers for blind outputs: images (zoom and pan to full resolution),
   videos (loop, frame step, speed, full screen; a pair plays in sync) and texts
   (serif/sans, size). Plain modern JS, no libraries, no build step.

   Hooks (see also rating.js):
     [data-viewer="image"]   .stage > img; buttons [data-zoom-action="in|out|fit|actual|fullscreen"];
                             the root's data-zoom is the current scale (1 = one image pixel per CSS
                             pixel) and data-fit="true" while the image is fitted to the stage.
     [data-viewer="video"]   video; [data-video-action="play|back|forward|loop|fullscreen|speed"];
                             the frame step is one frame at the rate the browser measures while the
                             video plays (requestVideoFrameCallback), else data-fps (probed at
                             collection), else 25; data-frame-rate and data-frame-rate-source
                             ("browser" | "file" | "default") say which is in use.
     [data-viewer="text"]    [data-text-action="font|smaller|larger"].
     #video-sync             checkbox: a pair's videos play, pause, seek and change speed together.
   window.evalsiteMedia = {zoom(dir), reset(), togglePlay(), step(dir), toggleLoop(),
                           fullscreen(), anyPlaying()} is what rating.js's keyboard calls.
*/
(() => {
  "use strict";

  const strings = (() => {
    const node = document.getElementById("ui-strings");
    try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
  })();

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const dpr = () => window.devicePixelRatio || 1;

  function requestFull(element) {
    if (document.fullscreenElement) return document.exitFullscreen();
    if (element.requestFullscreen) return element.requestFullscreen().catch(() => {});
    if (element.webkitRequestFullscreen) return element.webkitRequestFullscreen();
    if (element.webkitEnterFullscreen) return element.webkitEnterFullscreen(); // iOS video
    return undefined;
  }

  class ImageViewer {
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
      const next = clamp(this.scale * factor, lo, hi);
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
      else if (name === "fullscreen") requestFull(this.root);
    }

    clampPosition() {
      const [w, h] = this.natural();
      const [W, H] = this.size();
      const sw = w * this.scale;
      const sh = h * this.scale;
      this.x = sw <= W ? (W - sw) / 2 : clamp(this.x, W - sw, 0);
      this.y = sh <= H ? (H - sh) / 2 : clamp(this.y, H - sh, 0);
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
  }

  class VideoViewer {
    constructor(root) {
      this.root = root;
      this.video = root.querySelector("video");
      this.fileFps = Number(root.dataset.fps) || 0; // probed at collection; 0 = not known
      this.gaps = []; // seconds between frames presented one after another, as the browser saw them
      this.shownAt = null; // media time of the frame on screen
      this.playButton = root.querySelector('[data-video-action="play"]');
      this.loopButton = root.querySelector('[data-video-action="loop"]');
      this.timeLabel = root.querySelector("[data-time-label]");
      this.video.loop = true;
      root.querySelectorAll("button[data-video-action]").forEach((button) =>
        button.addEventListener("click", () => this.action(button.dataset.videoAction)));
      const speed = root.querySelector('select[data-video-action="speed"]');
      speed?.addEventListener("change", () => { this.video.playbackRate = Number(speed.value) || 1; });
      this.video.addEventListener("ratechange", () => {
        if (speed) speed.value = String(this.video.playbackRate);
      });
      for (const type of ["play", "pause", "ended"]) {
        this.video.addEventListener(type, () => this.render());
      }
      this.video.addEventListener("timeupdate", () => this.renderTime());
      this.video.addEventListener("seeked", () => this.renderTime());
      this.watchFrames();
      this.render();
    }

    /* requestVideoFrameCallback reports the media time of each frame the browser
       presents: the frame on screen, and, for frames presented one after another
       while playing, the time between frames. Measured by the browser, it also holds
       for videos collected before their rate was stored, or not at the rate probed. */
    watchFrames() {
      const video = this.video;
      if (typeof video.requestVideoFrameCallback !== "function") return;
      let last = null;
      video.addEventListener("seeking", () => { last = null; }); // a loop or a jump is no frame gap
      const onFrame = (_now, frame) => {
        this.shownAt = frame.mediaTime;
        if (last && !video.paused) {
          const frames = frame.presentedFrames - last.frames;
          const gap = (frame.mediaTime - last.time) / frames;
          if (frames > 0 && frames <= 4 && gap >= 1 / 240 && gap <= 1) {
            this.gaps = [...this.gaps.slice(-14), gap];
            if (this.gaps.length === 3) this.renderTime();
          }
        }
        last = video.paused ? null : { frames: frame.presentedFrames, time: frame.mediaTime };
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }

    /* [seconds per frame, where the rate comes from]: a few frames seen by the browser
       (the median, so that one late frame does not count), else the file's, else 25. */
    frameStep() {
      if (this.gaps.length >= 3) return [median(this.gaps), "browser"];
      if (this.fileFps > 0) return [1 / this.fileFps, "file"];
      return [1 / 25, "default"];
    }

    // the index of the frame on screen (frames start at 0 s: the sanitiser resets timestamps)
    frameIndex(dt) {
      const t = this.video.currentTime || 0;
      // the browser's frame, unless a seek has moved past it and its frame is not shown yet
      const shown = this.shownAt !== null && this.shownAt <= t + 1e-6 && t < this.shownAt + dt
        ? this.shownAt : t;
      return Math.max(0, Math.floor(shown / dt + 1e-3));
    }

    action(name) {
      if (name === "play") this.toggle();
      else if (name === "back") this.step(-1);
      else if (name === "forward") this.step(1);
      else if (name === "loop") this.setLoop(!this.video.loop);
      else if (name === "fullscreen") requestFull(this.video);
    }

    toggle() { return this.video.paused ? this.play() : this.video.pause(); }
    play() { return this.video.play().catch(() => {}); }

    step(direction) {
      this.video.pause();
      const [dt] = this.frameStep();
      const end = Number.isFinite(this.video.duration) ? this.video.duration : Infinity;
      // a hair past the frame's start, so that rounding cannot show the frame before it
      const target = (this.frameIndex(dt) + direction) * dt + Math.min(dt / 10, 0.001);
      this.video.currentTime = clamp(target, 0, end);
    }

    setLoop(on) {
      this.video.loop = on;
      this.render();
    }

    render() {
      if (this.playButton) {
        this.playButton.textContent = this.video.paused ? strings.paused || "▶" : strings.playing || "❚❚";
        this.playButton.setAttribute("aria-pressed", String(!this.video.paused));
      }
      this.loopButton?.setAttribute("aria-pressed", String(this.video.loop));
      this.root.dataset.playing = String(!this.video.paused);
      this.root.dataset.loop = String(this.video.loop);
      this.renderTime();
    }

    renderTime() {
      const t = this.video.currentTime || 0;
      const [dt, source] = this.frameStep();
      this.root.dataset.time = t.toFixed(3);
      this.root.dataset.frameRate = (1 / dt).toFixed(2);
      this.root.dataset.frameRateSource = source;
      if (this.timeLabel) {
        this.timeLabel.textContent = `${t.toFixed(2)} s · #${this.frameIndex(dt) + 1}`;
      }
    }
  }

  class TextViewer {
    constructor(root) {
      this.root = root;
      this.body = root.querySelector(".output-text");
      const prefs = TextViewer.load();
      this.size = prefs.size || 1.1;
      this.sans = Boolean(prefs.sans);
      root.querySelectorAll("[data-text-action]").forEach((button) =>
        button.addEventListener("click", () => this.action(button.dataset.textAction)));
      this.render();
    }

    static load() {
      try { return JSON.parse(localStorage.getItem("evalsite:text-prefs") || "{}"); } catch { return {}; }
    }

    action(name) {
      if (name === "font") this.sans = !this.sans;
      if (name === "smaller") this.size = clamp(this.size - 0.1, 0.8, 2);
      if (name === "larger") this.size = clamp(this.size + 0.1, 0.8, 2);
      try {
        localStorage.setItem("evalsite:text-prefs", JSON.stringify({ size: this.size, sans: this.sans }));
      } catch { /* private mode: preferences last for this page only */ }
      document.querySelectorAll('[data-viewer="text"]').forEach((node) => node.__viewer?.sync(this));
    }

    sync(other) {
      this.size = other.size;
      this.sans = other.sans;
      this.render();
    }

    render() {
      this.root.classList.toggle("sans", this.sans);
      this.body.style.fontSize = `${this.size.toFixed(2)}rem`;
      this.root.querySelector('[data-text-action="font"]')?.setAttribute("aria-pressed", String(this.sans));
    }
  }

  /* Keep two videos together. Each handler only acts when the other video is not
     already in the wanted state, so the echo of a change it caused does nothing. */
  function syncVideos(a, b, toggle) {
    const on = () => !toggle || toggle.checked;
    const pairs = [[a, b], [b, a]];
    for (const [self, other] of pairs) {
      self.addEventListener("play", () => {
        if (!on() || !other.paused) return;
        other.currentTime = self.currentTime;
        other.play().catch(() => {});
      });
      self.addEventListener("pause", () => {
        if (on() && !other.paused) other.pause();
      });
      self.addEventListener("seeking", () => {
        if (on() && Math.abs(other.currentTime - self.currentTime) > 0.04) {
          other.currentTime = self.currentTime;
        }
      });
      self.addEventListener("ratechange", () => {
        if (on() && other.playbackRate !== self.playbackRate) other.playbackRate = self.playbackRate;
      });
    }
    // drift correction while playing (the left video leads)
    a.addEventListener("timeupdate", () => {
      if (!on() || a.paused || b.paused || b.seeking) return;
      if (Math.abs(a.duration - b.duration) > 0.1) return;
      if (Math.abs(a.currentTime - b.currentTime) > 0.12) b.currentTime = a.currentTime;
    });
  }

  const viewers = [];
  document.querySelectorAll("[data-viewer]").forEach((root) => {
    const type = root.dataset.viewer;
    const viewer = type === "image" ? new ImageViewer(root)
      : type === "video" ? new VideoViewer(root)
      : new TextViewer(root);
    root.__viewer = viewer;
    viewers.push(viewer);
  });
  const videos = viewers.filter((v) => v instanceof VideoViewer);
  const images = viewers.filter((v) => v instanceof ImageViewer);
  if (videos.length === 2) syncVideos(videos[0].video, videos[1].video, document.getElementById("video-sync"));

  window.evalsiteMedia = {
    hasImages: images.length > 0,
    hasVideos: videos.length > 0,
    zoom(direction) { images.forEach((v) => v.zoomCentre(direction > 0 ? 1.25 : 0.8)); },
    reset() { images.forEach((v) => v.fit()); },
    anyPlaying() { return videos.some((v) => !v.video.paused); },
    togglePlay() {
      if (this.anyPlaying()) videos.forEach((v) => v.video.pause());
      else videos.forEach((v) => v.play());
    },
    step(direction) { videos.forEach((v) => v.step(direction)); },
    toggleLoop() {
      const on = !(videos[0] && videos[0].video.loop);
      videos.forEach((v) => v.setLoop(on));
    },
    fullscreen() {
      if (viewers.length === 1 && videos.length === 1) return requestFull(videos[0].video);
      const pane = document.getElementById("media");
      return pane ? requestFull(viewers.length === 1 ? viewers[0].root : pane) : undefined;
    },
  };
})();
