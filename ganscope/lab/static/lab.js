// ganscope lab: plain JavaScript on canvases, no library. Every number comes from the server
// (/api/dirac: ganscope.analysis.dirac; /api/train: the engine's Game); this file only draws.
"use strict";

const $ = (id) => document.getElementById(id);
const lab = { dirac: null, runs: {}, stats: { diracLatency: [], frames: 0 } };
window.lab = lab;

// ---------------------------------------------------------------- shared drawing helpers
function fmt(x, digits = 4) {
  if (x === null || x === undefined) return "undefined";
  if (x === "inf") return "∞";
  return Number(x).toFixed(digits);
}
function complexText(pair) { return `${pair[0] >= 0 ? "+" : ""}${pair[0].toFixed(4)}${pair[1] >= 0 ? "+" : ""}${pair[1].toFixed(4)}i`; }
function showError(box, message) {
  box.hidden = !message;
  box.textContent = message || "";
}
async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers["content-type"] = "application/json"; }
  const res = await fetch(url, init);
  const data = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(data.error || `${res.status}`);
  return data;
}
function scaler(canvas, lim, pad = 0) {
  const w = canvas.width, h = canvas.height;
  return { x: (v) => pad + (v + lim) / (2 * lim) * (w - 2 * pad), y: (v) => h - pad - (v + lim) / (2 * lim) * (h - 2 * pad),
           ix: (px) => (px - pad) / (w - 2 * pad) * 2 * lim - lim, iy: (py) => (h - pad - py) / (h - 2 * pad) * 2 * lim - lim };
}
function arrow(ctx, x0, y0, x1, y1, head = 4) {
  const a = Math.atan2(y1 - y0, x1 - x0);
  ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
  ctx.lineTo(x1 - head * Math.cos(a - 0.5), y1 - head * Math.sin(a - 0.5));
  ctx.moveTo(x1, y1); ctx.lineTo(x1 - head * Math.cos(a + 0.5), y1 - head * Math.sin(a + 0.5));
  ctx.stroke();
}

// ---------------------------------------------------------------- pane 1: the Dirac-GAN
const D_KEYS = ["loss", "reg", "gamma", "sigma", "clip", "target", "scheme", "order", "h", "n_g", "n_d", "steps", "theta", "psi"];
const dirac = { params: {}, answer: null, frame: 0, playing: false, timer: null, request: null, seq: 0 };
lab.dirac_seq = () => dirac.seq;  // the newest request (the tests wait until it is drawn)
lab.dirac_playing = () => dirac.playing;

function diracQuery() {
  const q = new URLSearchParams();
  const reg = $("d-reg").value, scheme = $("d-scheme").value;
  q.set("loss", $("d-loss").value); q.set("reg", reg);
  for (const p of Object.keys(dirac.params[reg] || {})) if ($(`d-${p}`).value !== "") q.set(p, $(`d-${p}`).value);
  q.set("scheme", scheme);
  if (scheme === "altgd") { q.set("order", $("d-order").value); q.set("n_g", $("d-n_g").value); q.set("n_d", $("d-n_d").value); }
  for (const k of ["h", "steps", "theta", "psi"]) q.set(k, $(`d-${k}`).value);
  return q;
}
function diracFromUrl() {
  const q = new URLSearchParams(location.search);
  const aliases = { standard: "minimax", gp0: "wgan-gp", "wgan-clip": "clip" };
  for (const k of D_KEYS) {
    if (!q.has(k)) continue;
    const v = q.get(k);
    $(`d-${k}`).value = (k === "loss" || k === "reg") && aliases[v] ? aliases[v] : v;
  }
  if (q.get("reg") === "gp0" && !q.has("target")) $("d-target").value = "0";
}
function diracShowParams(fresh) {
  const reg = $("d-reg").value, params = dirac.params[reg] || {};
  for (const el of document.querySelectorAll("#d-controls .param")) {
    const p = el.dataset.param, on = p in params;
    el.hidden = !on;
    if (on && (fresh || $(`d-${p}`).value === "")) $(`d-${p}`).value = params[p];
  }
  const alt = $("d-scheme").value === "altgd";
  for (const el of document.querySelectorAll("#d-controls .alt")) el.hidden = !alt;
}
function diracUpdate() {
  const q = diracQuery(), t0 = performance.now(), seq = ++dirac.seq;
  history.replaceState(null, "", `?${q}`);
  if (dirac.request) dirac.request.abort();
  dirac.request = new AbortController();
  fetch(`/api/dirac?${q}`, { signal: dirac.request.signal })
    .then(async (res) => ({ res, data: await res.json() }))
    .then(({ res, data }) => {
      if (seq !== dirac.seq) return;
      if (!res.ok) { showError($("d-error"), data.error); return; }
      showError($("d-error"), "");
      dirac.answer = data;
      diracNumbers(data);
      diracMap(data);
      dirac.frame = dirac.playing ? 0 : data.trajectory.length - 1;
      diracField();
      const ms = performance.now() - t0;
      lab.stats.diracLatency.push(ms);
      document.body.dataset.diracSeq = String(seq);
    })
    .catch((err) => { if (err.name !== "AbortError") showError($("d-error"), String(err)); });
}
function diracNumbers(data) {
  const a = data.analysis;
  const cell = (id, text, value) => { $(id).textContent = text; $(id).dataset.value = JSON.stringify(value); };
  cell("d-eigs", a.eigenvalues ? a.eigenvalues.map(complexText).join(", ") : "undefined", a.eigenvalues);
  cell("d-upd", a.update_eigenvalues ? a.update_eigenvalues.map(complexText).join(", ") : "undefined", a.update_eigenvalues);
  cell("d-rho", a.spectral_radius === null ? "undefined" : a.spectral_radius.toFixed(6), a.spectral_radius);
  cell("d-maxstep", a.max_step === null ? "undefined" : a.max_step === "inf" ? "∞" : a.max_step.toFixed(6), a.max_step);
  cell("d-local", a.local_verdict, a.local_verdict);
  cell("d-traj", a.trajectory_verdict, a.trajectory_verdict);
  for (const id of ["d-local", "d-traj"]) $(id).className = `verdict ${$(id).textContent}`;
  $("d-command").textContent = data.command;
  $("d-notes").textContent = a.notes.join(" ");
  diracEig(a);
}
function diracField() {
  const data = dirac.answer; if (!data) return;
  const c = $("d-field"), ctx = c.getContext("2d"), lim = data.field.lim, s = scaler(c, lim, 10);
  ctx.clearRect(0, 0, c.width, c.height);
  if (data.clip !== null) {  // the clipping band |ψ| ≤ c
    ctx.fillStyle = "rgba(80,140,220,0.12)";
    const top = s.y(Math.min(data.clip, lim)), bottom = s.y(-Math.min(data.clip, lim));
    ctx.fillRect(0, top, c.width, bottom - top);
  }
  ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(s.x(0), 0); ctx.lineTo(s.x(0), c.height);
  ctx.moveTo(0, s.y(0)); ctx.lineTo(c.width, s.y(0)); ctx.stroke();
  const arrows = data.field.arrows;
  const vmax = Math.max(1e-12, ...arrows.map((r) => Math.hypot(r[2], r[3])).filter(Number.isFinite));
  const cellPx = (c.width - 20) / 17 * 0.9;
  ctx.strokeStyle = "#8a8a8a"; ctx.lineWidth = 1;
  for (const [th, ps, v1, v2] of arrows) {
    const n = Math.hypot(v1, v2); if (!Number.isFinite(n) || n === 0) continue;
    const len = cellPx * Math.sqrt(n / vmax), x0 = s.x(th), y0 = s.y(ps);
    arrow(ctx, x0, y0, x0 + len * v1 / n, y0 - len * v2 / n, 3);
  }
  const traj = data.trajectory, end = Math.min(dirac.frame, traj.length - 1);
  ctx.strokeStyle = "#d2521d"; ctx.lineWidth = 1.5; ctx.beginPath();
  let started = false;
  for (let k = 0; k <= end; k++) {
    const p = traj[k]; if (p[0] === null || p[1] === null) break;
    const x = s.x(Math.max(-4 * lim, Math.min(4 * lim, p[0]))), y = s.y(Math.max(-4 * lim, Math.min(4 * lim, p[1])));
    if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
  }
  ctx.stroke();
  const p = traj[end];
  if (p && p[0] !== null) { ctx.fillStyle = "#d2521d"; ctx.beginPath(); ctx.arc(s.x(p[0]), s.y(p[1]), 4, 0, 7); ctx.fill(); }
  ctx.fillStyle = "#222"; ctx.beginPath(); ctx.arc(s.x(0), s.y(0), 3, 0, 7); ctx.fill();
  $("d-frame").textContent = ` · iterate ${end} of ${traj.length - 1}`;
}
function diracEig(a) {
  const c = $("d-eig"), ctx = c.getContext("2d"), w = c.width / 2, h = c.height;
  ctx.clearRect(0, 0, c.width, c.height);
  const plane = (x0, pts, circle, title) => {
    const lim = Math.max(1.5, ...pts.flat().map(Math.abs).filter(Number.isFinite)) * 1.15;
    const sx = (v) => x0 + w / 2 + v / lim * (w / 2 - 8), sy = (v) => h / 2 - v / lim * (h / 2 - 8);
    ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(x0 + 4, sy(0)); ctx.lineTo(x0 + w - 4, sy(0)); ctx.moveTo(sx(0), 4); ctx.lineTo(sx(0), h - 4); ctx.stroke();
    if (circle) { ctx.strokeStyle = "#4a8"; ctx.beginPath(); ctx.ellipse(sx(0), sy(0), sx(1) - sx(0), sy(0) - sy(1), 0, 0, 7); ctx.stroke(); }
    else { ctx.fillStyle = "rgba(60,170,110,0.10)"; ctx.fillRect(x0 + 4, 4, sx(0) - x0 - 4, h - 8); }
    ctx.fillStyle = "#444"; ctx.font = "11px sans-serif"; ctx.fillText(title, x0 + 8, 14);
    ctx.fillStyle = "#c33";
    for (const [re, im] of pts) { ctx.beginPath(); ctx.arc(sx(re), sy(im), 4, 0, 7); ctx.fill(); }
  };
  plane(0, a.eigenvalues || [], false, a.eigenvalues ? "λ of v′(0,0)" : "λ undefined");
  plane(w, a.update_eigenvalues || [], true, a.update_eigenvalues ? "eig F′h (unit circle)" : "undefined");
}
function diracMap(data) {
  const c = $("d-map"), ctx = c.getContext("2d"), m = data.map;
  ctx.clearRect(0, 0, c.width, c.height);
  const L = 40, B = 24, W = c.width - L - 8, H = c.height - B - 8;
  ctx.font = "11px sans-serif"; ctx.fillStyle = "#444";
  if (!m) { ctx.fillText("undefined: the field is not differentiable at (0, 0)", L, H / 2); return; }
  $("d-map-param").textContent = m.param === "sigma" ? "σ" : m.param === "gamma" ? "γ" : "no parameter";
  const hs = m.hs, vals = m.values, lh0 = Math.log10(hs[0]), lh1 = Math.log10(hs[hs.length - 1]);
  const vmax = vals[vals.length - 1] || 1;
  const px = (h) => L + (Math.log10(h) - lh0) / (lh1 - lh0) * W;
  const py = (v) => 8 + H - (vals.length > 1 ? v / vmax : 0.5) * H;
  const rows = vals.length, cols = hs.length, cw = W / cols, rh = H / rows;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    const r = m.radius[i][j], t = Math.max(-1, Math.min(1, Math.log(r) * 3));
    ctx.fillStyle = r < 1 - 1e-9 ? `rgba(40,150,80,${0.25 + 0.6 * -t})` : r <= 1 + 1e-9 ? "#ddd" : `rgba(200,50,40,${0.25 + 0.6 * t})`;
    ctx.fillRect(L + j * cw, 8 + H - (i + 1) * rh, cw + 0.5, rh + 0.5);
  }
  ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5; ctx.beginPath();
  let on = false;
  m.bound.forEach((b, i) => {
    if (b === null || b === "inf" || b <= hs[0]) { on = false; return; }
    const x = px(Math.min(b, hs[hs.length - 1])), y = 8 + H - (i + 0.5) * rh;
    if (!on) { ctx.moveTo(x, y); on = true; } else ctx.lineTo(x, y);
  });
  ctx.stroke();
  const h = data.analysis.h, yi = vals.length > 1 ? 8 + H - (m.current / vmax) * H : 8 + H / 2;
  ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(px(h), yi, 6, 0, 7); ctx.stroke();
  ctx.fillStyle = "#444";
  for (const e of [-3, -2, -1, 0, 1]) ctx.fillText(`1e${e}`, Math.min(px(10 ** e) - 10, c.width - 26), c.height - 6);
  if (vals.length > 1) { ctx.fillText("0", 4, 8 + H); ctx.fillText(vmax.toFixed(2), 4, 16); }
  ctx.fillText("h →", L + W / 2, c.height - 6);
}
function diracAnimate(run) {
  dirac.playing = run;
  clearInterval(dirac.timer);
  if (!run || !dirac.answer) return;
  if (dirac.frame >= dirac.answer.trajectory.length - 1) dirac.frame = 0;
  dirac.timer = setInterval(() => {
    const n = dirac.answer.trajectory.length - 1;
    dirac.frame = Math.min(n, dirac.frame + Math.max(1, Math.round(n / 150)));
    diracField();
    if (dirac.frame >= n) diracAnimate(false);
  }, 30);
}
function diracSetup(options) {
  const o = options.dirac;
  dirac.params = o.params;
  $("d-loss").innerHTML = o.losses.map((l) => `<option>${l}</option>`).join("");
  $("d-reg").innerHTML = o.regs.map((r) => `<option>${r}</option>`).join("");
  diracFromUrl();
  const fresh = !new URLSearchParams(location.search).has("reg");
  diracShowParams(fresh);
  const hs = $("d-h-slider");
  hs.value = Math.log10(Number($("d-h").value) || 0.1);
  hs.addEventListener("input", () => { $("d-h").value = Number((10 ** hs.value).toPrecision(3)); diracUpdate(); });
  $("d-h").addEventListener("input", () => { if (Number($("d-h").value) > 0) hs.value = Math.log10(Number($("d-h").value)); });
  for (const el of document.querySelectorAll("#d-controls [data-key]")) {
    el.addEventListener(el.tagName === "SELECT" ? "change" : "input", () => {
      if (el.id === "d-reg") diracShowParams(true);
      if (el.id === "d-scheme") diracShowParams(false);
      diracUpdate();
    });
  }
  $("d-play").addEventListener("click", () => diracAnimate(true));
  $("d-pause").addEventListener("click", () => diracAnimate(false));
  $("d-step").addEventListener("click", () => {
    diracAnimate(false);
    if (!dirac.answer) return;
    if (dirac.frame >= dirac.answer.trajectory.length - 1) dirac.frame = -1;
    dirac.frame += 1; diracField();
  });
  diracUpdate();
}

// ---------------------------------------------------------------- pane 2: a real 2-D training
const T_LIVE = ["lr_g", "lr_d", "weight", "sigma", "scheme", "n_d"];
const train = { options: null, points: [] };

class Run {
  constructor(slot) {
    this.slot = slot; this.box = $(`run-${slot}`); this.id = null; this.source = null;
    this.history = []; this.frames = 0; this.stamps = []; this.fps = 0; this.frame = null;
    lab.runs[slot] = this;
  }
  async start(settings) {
    this.close();
    const answer = await api("POST", "/api/train", settings);
    this.id = answer.id; this.history = []; this.frames = 0;
    this.source = new EventSource(`/api/train/${this.id}/stream`);
    this.source.addEventListener("frame", (ev) => this.onFrame(JSON.parse(ev.data)));
    this.source.addEventListener("end", (ev) => {  // the training ended on the server: nothing left to stop
      const info = JSON.parse(ev.data || "{}");
      if (info.error) showError($("t-error"), `run ${this.slot}: ${info.error}`);
      this.id = null; this.close();
    });
    this.box.querySelector(".label").textContent = `· ${settings.preset}`;
  }
  async control(action, settings) {
    if (!this.id) return null;
    return api("POST", `/api/train/${this.id}`, settings ? { action, settings } : { action });
  }
  close() {
    if (this.source) this.source.close();
    if (this.id) fetch(`/api/train/${this.id}`, { method: "DELETE" }).catch(() => {});
    this.source = null; this.id = null;
  }
  onFrame(f) {
    const now = performance.now();  // frames/s: frames made while playing, over the last 3 s
    if (f.playing) this.stamps.push(now); else this.stamps = [];
    while (this.stamps.length && this.stamps[0] < now - 3000) this.stamps.shift();
    const n = this.stamps.length;
    this.fps = n > 1 ? (n - 1) * 1000 / (this.stamps[n - 1] - this.stamps[0]) : 0;
    this.frames += 1; lab.stats.frames += 1;
    if (this.history.length && f.step < this.history[this.history.length - 1].step) this.history = [];
    if (f.metrics && (!this.history.length || f.step > this.history[this.history.length - 1].step)) this.history.push({ step: f.step, ...f.metrics });
    if (!f.metrics) f.metrics = this.frame && this.frame.metrics ? this.frame.metrics : {};
    this.frame = f;
    if (f.error) showError($("t-error"), `run ${this.slot}: ${f.error}`);
    this.drawSamples(f); this.drawCurves();
    const m = f.metrics;
    this.box.querySelector(".stats").textContent =
      `step ${f.step} · ${f.steps_per_s} steps/s · ${this.fps.toFixed(1)} frames/s · W1 ${fmt(m.w1, 3)}` +
      (f.n_modes ? ` · modes ${m.modes_covered}/${f.n_modes}` : "") + ` · E‖∇D‖² real ${fmt(m.grad_sq_real, 4)}`;
    this.box.dataset.step = String(f.step);
  }
  drawSamples(f) {
    const c = this.box.querySelector(".samples"), ctx = c.getContext("2d"), s = scaler(c, f.surface.lim);
    const n = f.surface.n, vals = f.surface.values, img = ctx.createImageData(n, n);
    const vmax = Math.max(1e-6, ...vals.map(Math.abs));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      const v = Math.tanh(2 * vals[i * n + j] / vmax), k = 4 * ((n - 1 - i) * n + j);
      img.data[k] = v > 0 ? 255 : Math.round(255 * (1 + v)); img.data[k + 1] = Math.round(255 * (1 - Math.abs(v)) * 0.9 + 20);
      img.data[k + 2] = v < 0 ? 255 : Math.round(255 * (1 - v)); img.data[k + 3] = 110;
    }
    const off = document.createElement("canvas"); off.width = n; off.height = n;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.clearRect(0, 0, c.width, c.height); ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, c.width, c.height);
    ctx.fillStyle = "rgba(60,60,60,0.7)";
    for (const [x, y] of f.real) ctx.fillRect(s.x(x) - 1.5, s.y(y) - 1.5, 3, 3);
    if (train.points.length && this.slot === "A" && $("t-data").value === "drawn") {
      ctx.fillStyle = "rgba(0,0,0,0.9)";
      for (const [x, y] of train.points) ctx.fillRect(s.x(x) - 1, s.y(y) - 1, 2, 2);
    }
    ctx.fillStyle = "#f08020";
    for (const [x, y] of f.fake) { if (x !== null && y !== null) { ctx.beginPath(); ctx.arc(s.x(x), s.y(y), 2.2, 0, 7); ctx.fill(); } }
    const gmax = Math.max(1e-12, ...f.arrows.map((a) => Math.hypot(a[2], a[3])).filter(Number.isFinite));
    ctx.strokeStyle = "rgba(20,20,20,0.8)"; ctx.lineWidth = 1;
    for (const [x, y, gx, gy] of f.arrows) {
      const g = Math.hypot(gx, gy); if (!Number.isFinite(g) || g === 0 || x === null) continue;
      const len = 22 * g / gmax; arrow(ctx, s.x(x), s.y(y), s.x(x) + len * gx / g, s.y(y) - len * gy / g, 3);
    }
  }
  drawCurves() {
    const c = this.box.querySelector(".curves"), ctx = c.getContext("2d"), hist = this.history;
    ctx.clearRect(0, 0, c.width, c.height);
    const panels = [["w1", "W1", false], ["modes_covered", "modes covered (mixtures)", false], ["grad_sq_real", "E‖∇D‖² on real", true],
                    ["speed_g", "speed of G / D (per step)", true]];
    const pw = c.width / 2, ph = c.height / 2;
    panels.forEach(([key, title, log], idx) => {
      const x0 = (idx % 2) * pw, y0 = Math.floor(idx / 2) * ph;
      ctx.fillStyle = "#444"; ctx.font = "11px sans-serif"; ctx.fillText(title, x0 + 6, y0 + 12);
      ctx.strokeStyle = "#ddd"; ctx.strokeRect(x0 + 4, y0 + 16, pw - 8, ph - 22);
      const keys = key === "speed_g" ? ["speed_g", "speed_d"] : [key];
      const tr = (v) => (log ? Math.log10(Math.max(v, 1e-12)) : v);
      const all = hist.flatMap((r) => keys.map((k) => r[k])).filter((v) => v !== null && v !== undefined && Number.isFinite(v)).map(tr);
      if (!all.length || hist.length < 2) return;
      let lo = Math.min(...all), hi = Math.max(...all); if (!log) lo = Math.min(lo, 0); if (hi - lo < 1e-9) hi = lo + 1;
      const s0 = hist[0].step, s1 = Math.max(hist[hist.length - 1].step, s0 + 1);
      const X = (s) => x0 + 6 + (s - s0) / (s1 - s0) * (pw - 12), Y = (v) => y0 + ph - 8 - (tr(v) - lo) / (hi - lo) * (ph - 28);
      keys.forEach((k, ki) => {
        ctx.strokeStyle = ki ? "#3a6fd0" : "#d2521d"; ctx.lineWidth = 1.3; ctx.beginPath();
        let on = false;
        for (const r of hist) { const v = r[k]; if (v === null || v === undefined || !Number.isFinite(v)) { on = false; continue; }
          if (!on) { ctx.moveTo(X(r.step), Y(v)); on = true; } else ctx.lineTo(X(r.step), Y(v)); }
        ctx.stroke();
      });
      ctx.fillStyle = "#666";
      ctx.fillText(log ? `1e${hi.toFixed(1)}` : hi.toPrecision(3), x0 + pw - 60, y0 + 28);
      ctx.fillText(`step ${s1}`, x0 + pw - 60, y0 + ph - 10);
    });
  }
}

function trainSettings(preset) {
  const s = { data: $("t-data").value, preset: preset || $("t-preset").value, seed: Number($("t-seed").value) || 0 };
  for (const k of T_LIVE) {
    const el = $(`t-${k}`);
    if (el.disabled || el.value === "") continue;
    s[k] = el.tagName === "SELECT" ? el.value : Number(el.value);
  }
  if (s.data === "drawn") s.points = train.points;
  return s;
}
function presetFill() {
  const p = train.options.presets[$("t-preset").value];
  $("t-lr_g").value = p.lr_g; $("t-lr_d").value = p.lr_d; $("t-sigma").value = p.sigma;
  $("t-scheme").value = p.scheme; $("t-n_d").value = p.n_d;
  $("t-weight").disabled = p.weight === null; $("t-weight").value = p.weight === null ? "" : p.weight;
}
async function trainGuard(promise) {
  try { const r = await promise; showError($("t-error"), ""); return r; } catch (err) { showError($("t-error"), err.message); return null; }
}
function runsOn() { return ["A", "B"].map((k) => lab.runs[k]).filter((r) => r && r.id); }
async function trainStart() {
  const a = trainGuard(lab.runs.A.start(trainSettings()));
  let b = null;
  if ($("t-compare").checked) {
    const s = trainSettings($("t-preset-b").value);
    const pb = train.options.presets[s.preset];  // run B: its own preset's lrs, weight and scheme, the same data and seed
    for (const k of T_LIVE) delete s[k];
    if (pb) b = trainGuard(lab.runs.B.start(s));
  }
  await a; await b;
}
async function trainSet(key) {
  const live = T_LIVE.includes(key);
  if (!live || !lab.runs.A.id) return trainStart();
  const a = trainGuard(lab.runs.A.control("set", trainSettings()));
  await a;
}
function trainSetup(options) {
  train.options = options;
  $("t-data").innerHTML = options.data.map((d) => `<option>${d}</option>`).join("");
  const presets = Object.keys(options.presets);
  $("t-preset").innerHTML = presets.map((p) => `<option>${p}</option>`).join("");
  $("t-preset-b").innerHTML = presets.map((p) => `<option>${p}</option>`).join("");
  $("t-preset").value = "r1"; $("t-preset-b").value = "nonsaturating";
  presetFill();
  new Run("A"); new Run("B");
  for (const el of document.querySelectorAll("#t-controls [data-key]")) {
    el.addEventListener("change", () => {
      if (el.id === "t-preset") presetFill();
      if (el.id === "t-data" && el.value === "drawn" && train.points.length < options.points[0]) {
        showError($("t-error"), `draw at least ${options.points[0]} points on run A's canvas, then press reset`); return;
      }
      trainSet(el.dataset.key);
    });
  }
  $("t-play").addEventListener("click", () => runsOn().forEach((r) => trainGuard(r.control("play"))));
  $("t-pause").addEventListener("click", () => runsOn().forEach((r) => trainGuard(r.control("pause"))));
  $("t-step").addEventListener("click", () => runsOn().forEach((r) => trainGuard(r.control("step"))));
  $("t-reset").addEventListener("click", () => trainStart());
  $("t-compare").addEventListener("change", () => {
    $("run-B").hidden = !$("t-compare").checked;
    if ($("t-compare").checked) trainStart(); else lab.runs.B.close();
  });
  $("t-preset-b").addEventListener("change", () => { if ($("t-compare").checked) trainStart(); });
  $("t-clear").addEventListener("click", () => { train.points = []; if (lab.runs.A.frame) lab.runs.A.drawSamples(lab.runs.A.frame); });
  const canvas = lab.runs.A.box.querySelector(".samples");
  let drawing = false;
  const add = (ev) => {
    if ($("t-data").value !== "drawn" && !ev.shiftKey) return;
    const r = canvas.getBoundingClientRect(), s = scaler(canvas, options.view);
    const x = s.ix((ev.clientX - r.left) * canvas.width / r.width), y = s.iy((ev.clientY - r.top) * canvas.height / r.height);
    if (Math.abs(x) <= options.view && Math.abs(y) <= options.view && train.points.length < options.points[1]) {
      train.points.push([Number(x.toFixed(3)), Number(y.toFixed(3))]);
      const ctx = canvas.getContext("2d"); ctx.fillStyle = "#000"; ctx.fillRect(ev.clientX - r.left - 1, ev.clientY - r.top - 1, 3, 3);
    }
  };
  canvas.addEventListener("mousedown", (ev) => { drawing = true; add(ev); });
  canvas.addEventListener("mousemove", (ev) => { if (drawing) add(ev); });
  window.addEventListener("mouseup", () => { drawing = false; });
  window.addEventListener("pagehide", () => runsOn().forEach((r) => r.close()));
  trainStart();
}

// ---------------------------------------------------------------- start
api("GET", "/api/options").then((options) => {
  lab.options = options;
  diracSetup(options);
  trainSetup(options);
  document.body.dataset.ready = "1";
}).catch((err) => showError($("d-error"), `cannot load the lab's options: ${err.message}`));
