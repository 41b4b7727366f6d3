// ParWatch's time-series chart: SVG lines or bars for one or more series over the same
// buckets, a dashed target line, and a hover guide with every series' value at the bucket
// under the pointer. Redraws itself when its box is resized. Years of daily points stay fast:
// positions are computed once per draw and hovering finds the bucket by arithmetic. For
// keyboards and screen readers the chart is an image named by its title, kind and period,
// followed by a disclosure holding its values as a table. Structural breaks (changes of the
// agencies counted) are vertical marks at their dates, named on hover and listed below.

import { t } from './i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#1d4f91', '#d0661a', '#2a8a4f', '#b3262e', '#6f4bb0', '#8a6a12', '#1b8fa6', '#c0468c', '#56606b'];
const HEIGHT = 240;
const MARGIN = { left: 58, right: 14, top: 14, bottom: 30 };

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** About `count` round tick values covering [lo, hi]; whole numbers only when `integer`. */
function ticks(lo, hi, integer, count = 5) {
  if (hi === lo) hi = lo + 1;
  const raw = Math.max((hi - lo) / count, integer ? 1 : 0);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw && (!integer || Number.isInteger(s))) || 10 * mag;
  const out = [];
  const last = Math.ceil(hi / step - 1e-9);
  for (let k = Math.floor(lo / step + 1e-9); k <= last; k += 1) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/**
 * Draws into `el` (emptied first). `spec`:
 * - `title`: what the chart shows, the start of its accessible name and of its table's caption;
 * - `kind`: "line" or "bar";
 * - `buckets`: bucket start dates (YYYY-MM-DD), shared by every series;
 * - `series`: [{ label, values: [number|null], details: [string] }] (details shown on hover);
 * - `target`: a value drawn as a dashed line, or null; `targetLabel`: its text;
 * - `integer`: whole-number axis ticks (counts);
 * - `breaks`: [{ date (YYYY-MM-DD), label (the date as shown), text (what changed) }], marked
 *   where they fall between `buckets[0]` and `end` (the last day shown); others are left out;
 * - `formatY(v)` (values), `formatTick(v)` (axis), `formatX(bucket)` (axis), `formatXLong(bucket)`.
 */
export function drawChart(el, spec) {
  // A table the reader opened stays open when new data redraws the chart.
  const open = el.querySelector(':scope > details.chart-data')?.open || false;
  const plot = document.createElement('div');
  plot.className = 'chart-plot';
  const breaks = placedBreaks(spec);
  el.replaceChildren(plot, dataTable(spec, open), ...breakList(breaks));
  let width = 0;
  const draw = () => {
    width = Math.max(260, Math.floor(plot.clientWidth || 600));
    plot.replaceChildren();
    render(plot, spec, width, breaks);
  };
  draw();
  if (el.chartObserver) el.chartObserver.disconnect();
  el.chartObserver = new ResizeObserver(() => {
    if (Math.abs(Math.floor(plot.clientWidth) - width) > 4) requestAnimationFrame(draw);
  });
  el.chartObserver.observe(plot);
}

/** The chart's accessible name: "Title (line chart, 01/2024 – 06/2024)". */
function chartName(spec) {
  const kind = t(spec.kind === 'bar' ? 'chart_bar' : 'chart_line');
  const { buckets } = spec;
  if (!buckets.length) return t('chart_empty', { title: spec.title, kind });
  return t('chart_name', {
    title: spec.title, kind, from: spec.formatXLong(buckets[0]), to: spec.formatXLong(buckets[buckets.length - 1]),
  });
}

function cell(tag, attrs, text) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.textContent = text;
  return el;
}

/**
 * The chart's values as a table inside a disclosure (a keyboard reaches its summary; Enter or
 * Space opens it): a row per bucket, a column per series. Built when first opened, so years
 * of daily points cost nothing until someone asks for them.
 */
function dataTable(spec, open) {
  const details = document.createElement('details');
  details.className = 'chart-data';
  const summary = document.createElement('summary');
  summary.append(t('chart_table'), cell('span', { class: 'sr-only' }, `: ${spec.title}`));
  details.append(summary);
  const fill = () => {
    const table = document.createElement('table');
    table.append(cell('caption', { class: 'sr-only' }, spec.title));
    const head = document.createElement('tr');
    head.append(cell('th', { scope: 'col' }, t('chart_bucket')), ...spec.series.map((s) => cell('th', { scope: 'col', class: 'num' }, s.label)));
    const body = document.createElement('tbody');
    spec.buckets.forEach((b, i) => {
      const row = document.createElement('tr');
      row.append(cell('th', { scope: 'row' }, spec.formatXLong(b)), ...spec.series.map((s) => {
        const v = s.values[i];
        const detail = v !== null && v !== undefined && s.details?.[i] ? ` (${s.details[i]})` : '';
        return cell('td', { class: 'num' }, `${spec.formatY(v)}${detail}`);
      }));
      body.append(row);
    });
    const thead = document.createElement('thead');
    thead.append(head);
    table.append(thead, body);
    const wrap = cell('div', { class: 'table-wrap' }, '');
    wrap.append(table);
    details.append(wrap);
    if (spec.targetLabel) details.append(cell('p', { class: 'muted' }, spec.targetLabel));
  };
  details.addEventListener('toggle', () => {
    if (details.open && details.childElementCount === 1) fill();
  });
  if (open) {
    fill();
    details.open = true;
  }
  return details;
}

/** Days since 1970-01-01 of `YYYY-MM-DD…`. */
function dayOf(iso) {
  return Date.parse(`${iso.slice(0, 10)}T00:00:00Z`) / 86400000;
}

/**
 * The breaks inside the chart's days, each with where it falls: `at`, the index of its bucket
 * plus the share of that bucket's days before it.
 */
function placedBreaks(spec) {
  const { buckets } = spec;
  if (!spec.breaks?.length || !buckets.length || !spec.end) return [];
  const starts = buckets.map(dayOf);
  const end = dayOf(spec.end) + 1;
  return spec.breaks.flatMap((b) => {
    const d = dayOf(b.date);
    if (d < starts[0] || d >= end) return [];
    let i = starts.length - 1;
    while (starts[i] > d) i -= 1;
    const next = i + 1 < starts.length ? starts[i + 1] : end;
    return [{ ...b, bucket: i, at: i + (d - starts[i]) / Math.max(1, next - starts[i]) }];
  });
}

/** The breaks shown, as a list under the chart (what the marks say, for every reader). */
function breakList(breaks) {
  if (!breaks.length) return [];
  const list = document.createElement('p');
  list.className = 'chart-breaks muted';
  list.append(cell('strong', {}, `${t('breaks_title')}: `), breaks.map((b) => `${b.label} ${b.text}`).join('; '));
  return [list];
}

function render(el, spec, width, breaks) {
  const { buckets, series } = spec;
  const n = buckets.length;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  if (spec.target !== null && spec.target !== undefined) all.push(spec.target);
  const lo = Math.min(0, ...all);
  const hiRaw = all.length ? Math.max(...all) : 1;
  const yTicks = ticks(lo, hiRaw > lo ? hiRaw : lo + 1, spec.integer);
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const y = (v) => MARGIN.top + plotH - ((v - y0) / (y1 - y0)) * plotH;
  const band = plotW / Math.max(n, 1);
  const x = (i) => MARGIN.left + (i + 0.5) * band;

  const root = svg('svg', {
    viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, role: 'img', class: 'chart-svg',
    'aria-label': chartName(spec), 'data-buckets': n, 'data-series': series.length,
  });
  for (const v of yTicks) {
    root.append(svg('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v), class: 'grid' }));
    const label = svg('text', { x: MARGIN.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' });
    label.textContent = (spec.formatTick || spec.formatY)(v);
    root.append(label);
  }
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(plotW / 72))));
  for (let i = 0; i < n; i += every) {
    const label = svg('text', { x: x(i), y: HEIGHT - 10, 'text-anchor': 'middle', class: 'axis' });
    label.textContent = spec.formatX(buckets[i]);
    root.append(label);
  }

  series.forEach((s, k) => {
    const color = PALETTE[k % PALETTE.length];
    if (spec.kind === 'bar') {
      const group = band * 0.8;
      const w = Math.max(1, group / series.length);
      const base = y(Math.max(0, y0));
      const g = svg('g', { fill: color });
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const top = y(v);
        g.append(svg('rect', {
          x: x(i) - group / 2 + k * w, y: Math.min(top, base), width: Math.max(w - 0.5, 0.5), height: Math.max(Math.abs(base - top), 0.5),
        }));
      });
      root.append(g);
    } else {
      let d = '';
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      root.append(svg('path', { d, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-linejoin': 'round', class: 'series' }));
      // Dots on every point of short series, and on lone points a line cannot show.
      const missing = (i) => i < 0 || i >= n || s.values[i] === null || s.values[i] === undefined;
      s.values.forEach((v, i) => {
        if (!missing(i) && (n <= 60 || (missing(i - 1) && missing(i + 1)))) {
          root.append(svg('circle', { cx: x(i), cy: y(v), r: 2.5, fill: color }));
        }
      });
    }
  });

  if (spec.target !== null && spec.target !== undefined) {
    const ty = y(spec.target);
    root.append(svg('line', { x1: MARGIN.left, x2: width - MARGIN.right, y1: ty, y2: ty, class: 'target-line' }));
    const label = svg('text', { x: width - MARGIN.right - 4, y: ty - 4, 'text-anchor': 'end', class: 'target-label' });
    label.textContent = spec.targetLabel || '';
    root.append(label);
  }

  // Structural breaks: a dotted vertical line at the date, the date above it.
  for (const b of breaks) {
    const bx = MARGIN.left + b.at * band;
    const mark = svg('g', { class: 'break', 'data-date': b.date });
    const title = svg('title');
    title.textContent = `${b.label} ${b.text}`;
    const label = svg('text', { x: bx + 3, y: MARGIN.top + 9, class: 'break-label' });
    label.textContent = b.label;
    mark.append(title, svg('line', { x1: bx, x2: bx, y1: MARGIN.top, y2: MARGIN.top + plotH, class: 'break-line' }), label);
    root.append(mark);
  }

  // Hover: a guide at the bucket under the pointer and a box with every series' value.
  const guide = svg('line', { y1: MARGIN.top, y2: MARGIN.top + plotH, class: 'guide', visibility: 'hidden' });
  root.append(guide);
  const overlay = svg('rect', { x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH, fill: 'transparent', class: 'overlay' });
  root.append(overlay);
  el.append(root);
  const tip = document.createElement('div');
  tip.className = 'chart-tip';
  tip.hidden = true;
  el.append(tip);

  const show = (event) => {
    const box = root.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * width;
    const i = Math.min(n - 1, Math.max(0, Math.floor((px - MARGIN.left) / band)));
    if (n === 0) return;
    guide.setAttribute('x1', x(i));
    guide.setAttribute('x2', x(i));
    guide.setAttribute('visibility', 'visible');
    const title = document.createElement('div');
    title.className = 'tip-title';
    title.textContent = spec.formatXLong(buckets[i]);
    const rows = series.map((s, k) => {
      const row = document.createElement('div');
      row.className = 'tip-row';
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = PALETTE[k % PALETTE.length];
      const text = document.createElement('span');
      const known = s.values[i] !== null && s.values[i] !== undefined;
      const detail = known && s.details?.[i] ? ` (${s.details[i]})` : '';
      text.textContent = `${series.length > 1 ? `${s.label}: ` : ''}${spec.formatY(s.values[i])}${detail}`;
      row.append(swatch, text);
      return row;
    });
    const changes = breaks.filter((b) => b.bucket === i).map((b) => {
      const row = document.createElement('div');
      row.className = 'tip-row tip-break';
      row.textContent = `${b.label} ${b.text}`;
      return row;
    });
    tip.replaceChildren(title, ...rows, ...changes);
    tip.hidden = false;
    const left = (x(i) / width) * box.width;
    tip.style.left = `${Math.min(Math.max(0, left + 12), Math.max(0, box.width - tip.offsetWidth))}px`;
    tip.style.top = `${MARGIN.top}px`;
  };
  overlay.addEventListener('pointermove', show);
  overlay.addEventListener('pointerenter', show);
  overlay.addEventListener('pointerleave', () => {
    guide.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  });

  if (series.length > 1) {
    const legend = document.createElement('div');
    legend.className = 'legend';
    series.forEach((s, k) => {
      const item = document.createElement('span');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = PALETTE[k % PALETTE.length];
      item.append(swatch, document.createTextNode(s.label));
      legend.append(item);
    });
    el.append(legend);
  }
}
