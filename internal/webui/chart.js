// Charts for the moat dashboard and the studio, drawn as inline SVG with no library:
// timeChart for series over time (or any numeric x), barChart for labelled
// bars. Colours come from the CSS classes s0…s9, so the page needs no
// inline style (the Content-Security-Policy forbids it).

const SVG = 'http://www.w3.org/2000/svg';
const PALETTE = 10;

function svgEl(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function text(parent, x, y, s, cls, anchor) {
  const t = svgEl('text', { x, y, class: cls || 'tick', 'text-anchor': anchor || 'start' }, parent);
  t.textContent = s;
  return t;
}

function title(parent, s) {
  svgEl('title', {}, parent).textContent = s;
}

// niceStep returns a round step (1, 2 or 5 × 10^k) that cuts span into at
// most n parts.
function niceStep(span, n) {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

// formatNumber writes large values with k/M suffixes and small ones with
// enough decimals.
export function formatNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '';
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(1) : String(parseFloat(v.toPrecision(2)));
}

const MINUTE = 60e3, HOUR = 60 * MINUTE, DAY = 24 * HOUR;
const TIME_STEPS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];

function pad(n) { return String(n).padStart(2, '0'); }

// timeLabel formats a UTC instant for an axis whose ticks are step apart.
function timeLabel(ms, step) {
  const d = new Date(ms);
  const hm = pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
  const md = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' }) + ' ' + d.getUTCDate();
  if (step >= DAY) return md;
  return hm === '00:00' ? md : hm;
}

function legend(el, names) {
  if (names.length < 2) return;
  const box = document.createElement('div');
  box.className = 'legend';
  names.forEach((n, i) => {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.className = 'sw s' + (i % PALETTE);
    item.append(sw, document.createTextNode(n));
    box.append(item);
  });
  el.append(box);
}

// timeChart draws lines: opts.series is [{name, points: [[x, y], …]}] with
// x in epoch milliseconds (opts.numericX for plain numbers). Returns the SVG.
export function timeChart(el, opts) {
  el.replaceChildren();
  const series = opts.series.filter(s => s.points.length > 0);
  const W = Math.max(el.clientWidth || 0, 320), H = opts.height || 220;
  const m = { l: 48, r: 24, t: 10, b: 24 };
  const svg = svgEl('svg', { class: 'chart time', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img' });
  if (opts.label) svg.setAttribute('aria-label', opts.label);
  el.append(svg);
  if (series.length === 0) {
    text(svg, W / 2, H / 2, 'no data', 'empty', 'middle');
    return svg;
  }
  let x0 = Infinity, x1 = -Infinity, y1 = 0, y0 = 0, integral = true;
  for (const s of series) for (const [x, y] of s.points) {
    if (!Number.isInteger(y)) integral = false;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y > y1) y1 = y;
    if (y < y0) y0 = y;
  }
  if (x0 === x1) { x0 -= opts.numericX ? 1 : MINUTE; x1 += opts.numericX ? 1 : MINUTE; }
  // Counts get whole-number ticks.
  const ystep = integral ? Math.max(1, niceStep(y1 - y0 || 1, 4)) : niceStep(y1 - y0 || 1, 4);
  y1 = Math.ceil((y1 || 1) / ystep) * ystep;
  y0 = Math.floor(y0 / ystep) * ystep;
  const px = x => m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r);
  const py = y => H - m.b - (y - y0) / (y1 - y0) * (H - m.t - m.b);

  const grid = svgEl('g', { class: 'grid' }, svg);
  for (let y = y0; y <= y1 + ystep / 2; y += ystep) {
    svgEl('line', { x1: m.l, x2: W - m.r, y1: py(y), y2: py(y) }, grid);
    text(svg, m.l - 6, py(y) + 4, formatNumber(y), 'tick', 'end');
  }
  const want = Math.max(2, Math.floor((W - m.l - m.r) / 90));
  let xstep;
  if (opts.numericX) {
    xstep = niceStep(x1 - x0, want);
  } else {
    xstep = TIME_STEPS.find(s => (x1 - x0) / s <= want) || 30 * DAY;
  }
  for (let x = Math.ceil(x0 / xstep) * xstep; x <= x1; x += xstep) {
    svgEl('line', { x1: px(x), x2: px(x), y1: H - m.b, y2: H - m.b + 4, class: 'axis' }, svg);
    text(svg, px(x), H - 6, opts.numericX ? formatNumber(x) : timeLabel(x, xstep), 'tick', 'middle');
  }
  svgEl('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }, svg);

  series.forEach((s, i) => {
    const pts = s.points.slice().sort((a, b) => a[0] - b[0]);
    const g = svgEl('g', { class: 'series s' + (i % PALETTE), 'data-series': s.name }, svg);
    svgEl('polyline', { points: pts.map(([x, y]) => px(x).toFixed(1) + ',' + py(y).toFixed(1)).join(' ') }, g);
    if (pts.length <= 200) {
      for (const [x, y] of pts) {
        const c = svgEl('circle', { cx: px(x).toFixed(1), cy: py(y).toFixed(1), r: pts.length === 1 ? 4 : 2.5 }, g);
        const at = opts.numericX ? formatNumber(x) : new Date(x).toISOString().replace('T', ' ').replace('.000Z', 'Z');
        title(c, `${s.name} at ${at}: ${y}`);
      }
    }
  });
  legend(el, series.map(s => s.name));
  return svg;
}

// barChart draws horizontal bars: opts.rows is [{label, values: [n, …]}]
// with one value per opts.names entry, stacked (opts.stacked) or side by
// side. The total is written at the end of each bar. Returns the SVG.
export function barChart(el, opts) {
  el.replaceChildren();
  const rows = opts.rows;
  const names = opts.names;
  const W = Math.max(el.clientWidth || 0, 320);
  const group = opts.stacked ? 1 : names.length;
  const band = Math.max(22, 10 + 12 * group);
  const m = { l: Math.min(180, W * 0.35), r: 64, t: 4, b: 4 };
  const H = m.t + m.b + Math.max(1, rows.length) * band;
  const svg = svgEl('svg', { class: 'chart bar', viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img' });
  if (opts.label) svg.setAttribute('aria-label', opts.label);
  el.append(svg);
  if (rows.length === 0) {
    text(svg, W / 2, H / 2 + 4, 'no data', 'empty', 'middle');
    return svg;
  }
  const total = r => r.values.reduce((a, v) => a + Math.max(0, v || 0), 0);
  const max = Math.max(1, ...rows.map(r => opts.stacked ? total(r) : Math.max(0, ...r.values.map(v => v || 0))));
  const scale = v => Math.max(0, v || 0) / max * (W - m.l - m.r);
  rows.forEach((r, i) => {
    const y = m.t + i * band;
    const g = svgEl('g', { class: 'bar-row', 'data-label': r.label }, svg);
    const label = r.label.length > 28 ? r.label.slice(0, 27) + '…' : r.label;
    const lt = text(g, m.l - 8, y + band / 2 + 4, label, 'label', 'end');
    title(lt, r.label);
    let x = m.l;
    r.values.forEach((v, j) => {
      const h = opts.stacked ? band - 8 : (band - 8) / group;
      const by = opts.stacked ? y + 4 : y + 4 + j * h;
      const w = scale(v);
      const rect = svgEl('rect', { x: opts.stacked ? x : m.l, y: by, width: Math.max(w, 0.5), height: Math.max(h - 1, 2), class: 's' + (j % PALETTE) }, g);
      title(rect, `${r.label} — ${names[j]}: ${v}`);
      if (opts.stacked) x += w;
      else text(g, m.l + w + 4, by + h / 2 + 4, formatValue(v, opts), 'value');
    });
    if (opts.stacked) text(g, x + 4, y + band / 2 + 4, formatValue(total(r), opts), 'value');
  });
  legend(el, names);
  return svg;
}

function formatValue(v, opts) {
  return opts.format ? opts.format(v) : formatNumber(v);
}
