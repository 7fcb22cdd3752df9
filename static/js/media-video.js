/* evalsite — media viewer: videos (play/pause, loop, speed, full screen, one-frame
   steps at the measured or stored frame rate) and a pair's synchronisation (#video-sync).
   One of the media-*.js parts; see media-viewer.js, which documents the hooks and,
   loaded last, builds the viewers. Loading this file only defines a class and a
   function on window.evalsite.media; M.clamp, M.requestFull and M.strings come from
   media-viewer.js, which defines them before it builds any viewer. */
(() => {
  "use strict";

  const ns = (window.evalsite = window.evalsite || {});
  const M = (ns.media = ns.media || {});

  const median = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };

  M.VideoViewer = class VideoViewer {
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
      else if (name === "fullscreen") M.requestFull(this.video);
    }

    toggle() { return this.video.paused ? this.play() : this.video.pause(); }
    play() { return this.video.play().catch(() => {}); }

    step(direction) {
      this.video.pause();
      const [dt] = this.frameStep();
      const end = Number.isFinite(this.video.duration) ? this.video.duration : Infinity;
      // a hair past the frame's start, so that rounding cannot show the frame before it
      const target = (this.frameIndex(dt) + direction) * dt + Math.min(dt / 10, 0.001);
      this.video.currentTime = M.clamp(target, 0, end);
    }

    setLoop(on) {
      this.video.loop = on;
      this.render();
    }

    render() {
      if (this.playButton) {
        this.playButton.textContent = this.video.paused ? M.strings.paused || "▶" : M.strings.playing || "❚❚";
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
  };

  /* Keep two videos together. Each handler only acts when the other video is not
     already in the wanted state, so the echo of a change it caused does nothing. */
  M.syncVideos = function syncVideos(a, b, toggle) {
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
  };
})();
