/* evalsite — viewers for blind outputs: images (zoom and pan to full resolution),
   videos (loop, frame step, speed, full screen; a pair plays in sync) and texts
   (serif/sans, size). Plain modern JS, no libraries, no build step.

   WHERE EACH PART LIVES (classic deferred scripts, loaded in this order by
   templates/scoring/assignment.html, before the rating-*.js scripts; each part only
   defines on window.evalsite.media, and this file — loaded last — builds the viewers):
   media-image.js    ImageViewer: fit, 1:1, wheel, drag, pinch
   media-video.js    VideoViewer: play, loop, speed, frame steps; syncVideos for a pair
   media-viewer.js   this contract, the shared helpers, TextViewer, and the wiring
   Why not ES modules: see rating.js (hashed names, immutable /static/ caching).

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
   (window.evalsite.media holds the parts; it is not a contract.)
*/
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const M = (ns.media = ns.media || {});

  // Shared by the parts; defined here, before any viewer is built below.
  M.strings = (() => {
    const node = document.getElementById("ui-strings");
    try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
  })();

  M.clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  M.requestFull = function requestFull(element) {
    if (document.fullscreenElement) return document.exitFullscreen();
    if (element.requestFullscreen) return element.requestFullscreen().catch(() => {});
    if (element.webkitRequestFullscreen) return element.webkitRequestFullscreen();
    if (element.webkitEnterFullscreen) return element.webkitEnterFullscreen(); // iOS video
    return undefined;
  };

  M.TextViewer = class TextViewer {
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
      if (name === "smaller") this.size = M.clamp(this.size - 0.1, 0.8, 2);
      if (name === "larger") this.size = M.clamp(this.size + 0.1, 0.8, 2);
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
  };

  const viewers = [];
  document.querySelectorAll("[data-viewer]").forEach((root) => {
    const type = root.dataset.viewer;
    const viewer = type === "image" ? new M.ImageViewer(root)
      : type === "video" ? new M.VideoViewer(root)
      : new M.TextViewer(root);
    root.__viewer = viewer;
    viewers.push(viewer);
  });
  const videos = viewers.filter((v) => v instanceof M.VideoViewer);
  const images = viewers.filter((v) => v instanceof M.ImageViewer);
  if (videos.length === 2) M.syncVideos(videos[0].video, videos[1].video, document.getElementById("video-sync"));

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
      if (viewers.length === 1 && videos.length === 1) return M.requestFull(videos[0].video);
      const pane = document.getElementById("media");
      return pane ? M.requestFull(viewers.length === 1 ? viewers[0].root : pane) : undefined;
    },
  };
})();
