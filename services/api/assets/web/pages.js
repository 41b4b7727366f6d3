// The pages: a dashboard (tiles, charts, rankings, tables from a dashboard file), the agency
// ranking, the data-quality page and the SQL console. Each page function fills `root` and
// returns { refresh } so the app can redraw it in place when new events land. Dashboards and
// the ranking show figures as recorded or restated to the units of a date (`units`,
// `units_date` in the address), charts marking the changes of units.

import { drawChart } from './chart.js';
import {
  agencyLabel, columnName, fmtAgo, fmtBucket, fmtDate, fmtNumber, fmtTime, fmtValue, metricName, parseDate, pick, t,
} from './i18n.js';

/** Builds an element: `h('div', { class: 'x', onclick: f }, child, 'text')`. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (typeof v === 'boolean') el[k] = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/**
 * A table row that opens `href` (an address `#/…`): one Tab stop with a visible focus ring,
 * opened by a click, Enter or Space. One of its cells should be a {@link linkCell} to the same
 * address, so that screen readers announce what the row does.
 */
export function linkRow(href, props, ...cells) {
  const open = () => { location.hash = href; };
  return h('tr', {
    ...props,
    class: 'clickable',
    tabindex: '0',
    onclick: (e) => { if (!e.target.closest('a')) open(); },
    onkeydown: (e) => {
      if (e.target === e.currentTarget && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        open();
      }
    },
  }, ...cells);
}

/** The cell naming a {@link linkRow}: a link out of the Tab order (the row is the Tab stop). */
export function linkCell(href, text) {
  return h('td', {}, h('a', { href, tabindex: '-1' }, text));
}

/** An error message box. */
export function errorBox(error) {
  return h('div', { class: 'error', role: 'alert' }, `${t('error')}: ${error.message || error}`);
}

const OPS = { '>=': '≥', '<=': '≤' };

/** "Target ≥ 80%". */
function targetText(target, unit) {
  return `${t('target')} ${OPS[target.op] || target.op} ${fmtValue(target.value, unit)}`;
}

/** Axis labels: whole percentages for shares, plain numbers otherwise. */
function tickFormat(unit) {
  return unit === 'ratio' ? (v) => `${fmtNumber(v * 100, 0)}%` : (v) => fmtNumber(v, Math.abs(v) < 10 && !Number.isInteger(v) ? 1 : 0);
}

/**
 * A point's value in its unit, or "x" when a public embed withholds it (too few dossiers, or
 * one that would give such a point back: the server's disclosure control).
 */
function pointValue(point, unit) {
  return point.suppressed ? 'x' : fmtValue(point.value, unit);
}

/** "8.123/10.000" for a rate; the dossiers measured for a median; nothing for a count. */
function ratioText(point, unit) {
  if (point.denominator === null || point.denominator === undefined) return '';
  if (unit === 'days') return t('median_of', { n: fmtNumber(point.denominator) });
  return `${fmtNumber(point.numerator)}/${fmtNumber(point.denominator)}`;
}

/**
 * The view of the figures the address asks for: `{ units: 'restated', units_date }` restated
 * to the units of a date (the server's today when none), `{}` as recorded. Spread into API
 * parameters and page addresses.
 */
export function unitsView(params) {
  if (params.get('units') !== 'restated') return {};
  return { units: 'restated', units_date: params.get('units_date') || undefined };
}

/** What one structural break says: "Split: C1 → N1, N2 (decision)". */
function breakText(b) {
  const basis = b.basis ? ` (${b.basis})` : '';
  if (!b.agency_code) return `${t(`break_${b.kind}`)}: ${t('break_changes', { n: b.changes })}${basis}`;
  const to = b.successors.length ? ` → ${b.successors.map(agencyLabel).join(', ')}` : '';
  return `${t(`break_${b.kind}`)}: ${agencyLabel(b.agency_code)}${to}${basis}`;
}

/** An answer's structural breaks as a chart marks them: one mark per date. */
export function breakMarks(units) {
  const byDate = new Map();
  for (const b of units?.breaks || []) {
    if (!byDate.has(b.date)) byDate.set(b.date, []);
    byDate.get(b.date).push(breakText(b));
  }
  return [...byDate].map(([date, texts]) => ({ date, label: fmtDate(date), text: texts.join('; ') }));
}

/**
 * The view switch: as recorded, or restated to the units of a date (`today` until the reader
 * types another). The choice goes into the page address.
 */
export function unitsControl(ctx, view, today) {
  const restated = view.units === 'restated';
  const dateInput = h('input', {
    type: 'text', class: 'date', name: 'units_date', value: fmtDate(view.units_date || today),
    placeholder: t('date_placeholder'), 'aria-label': t('units_date'),
  });
  const message = h('span', { class: 'control-error', role: 'status' });
  const restate = () => {
    const d = parseDate(dateInput.value);
    if (!d) {
      message.textContent = t('bad_date', { d: dateInput.value });
      return;
    }
    ctx.setParams({ units: 'restated', units_date: d });
  };
  dateInput.addEventListener('keydown', (e) => e.key === 'Enter' && restate());
  const hint = restated ? t('units_hint_restated', { d: fmtDate(view.units_date || today) }) : t('units_hint_recorded');
  return h('div', { class: 'control units-switch', role: 'group', 'aria-label': t('units'), title: hint },
    h('span', { class: 'label' }, t('units')),
    h('button', {
      type: 'button', name: 'as_recorded', class: restated ? 'view' : 'view active', 'aria-pressed': String(!restated),
      onclick: () => ctx.setParams({ units: '', units_date: '' }),
    }, t('units_as_recorded')),
    h('button', {
      type: 'button', name: 'restated', class: restated ? 'view active' : 'view', 'aria-pressed': String(restated), onclick: restate,
    }, t('units_restated_to')),
    dateInput, message);
}

/**
 * Range, bucket, agency, comparison and (with `view`) units controls; each change goes into
 * the page address.
 */
function controls(ctx, { from, to, presets, bucket, agencyChoice, agency, compare, comparable, view, today }) {
  const bar = h('div', { class: 'controls' });
  const fromInput = h('input', { type: 'text', class: 'date', value: fmtDate(from), placeholder: t('date_placeholder'), 'aria-label': t('from'), name: 'from' });
  const toInput = h('input', { type: 'text', class: 'date', value: fmtDate(to), placeholder: t('date_placeholder'), 'aria-label': t('to'), name: 'to' });
  const message = h('span', { class: 'control-error', role: 'status' });
  const apply = () => {
    const [f, tt] = [parseDate(fromInput.value), parseDate(toInput.value)];
    if (!f || !tt) {
      message.textContent = t('bad_date', { d: !f ? fromInput.value : toInput.value });
      return;
    }
    if (f > tt) {
      message.textContent = t('bad_range');
      return;
    }
    ctx.setParams({ from: f, to: tt });
  };
  for (const input of [fromInput, toInput]) input.addEventListener('keydown', (e) => e.key === 'Enter' && apply());
  const presetButtons = (presets || []).map((p) => h('button', {
    type: 'button',
    class: p.from === from && p.to === to ? 'preset active' : 'preset',
    dataset: { preset: p.spec },
    onclick: () => ctx.setParams({ from: p.from, to: p.to }),
  }, t(`preset_${p.spec}`)));
  bar.append(h('div', { class: 'control' },
    h('span', { class: 'label' }, t('period')),
    fromInput, ' – ', toInput,
    h('button', { type: 'button', onclick: apply, class: 'apply' }, t('apply')),
    ...presetButtons, message));
  if (bucket !== undefined) {
    const select = h('select', { name: 'bucket', onchange: (e) => ctx.setParams({ bucket: e.target.value }) },
      h('option', { value: '' }, t('bucket_default')),
      ...['day', 'week', 'month', 'quarter', 'year'].map((b) => h('option', { value: b, selected: b === bucket }, t(`bucket_${b}`))));
    bar.append(h('label', { class: 'control' }, h('span', { class: 'label' }, t('bucket')), select));
  }
  if (agencyChoice) {
    const { codes, required } = agencyChoice;
    const select = h('select', { name: 'agency', onchange: (e) => ctx.setAgency(e.target.value) },
      required ? null : h('option', { value: '' }, t('whole_province')),
      ...codes.map((c) => h('option', { value: c, selected: c === agency }, agencyLabel(c))));
    bar.append(h('label', { class: 'control' }, h('span', { class: 'label' }, t('agency')), select));
    if (comparable) {
      const chips = compare.map((c) => h('span', { class: 'chip' }, agencyLabel(c),
        h('button', { type: 'button', title: t('remove'), 'aria-label': `${t('remove')} ${c}`, onclick: () => ctx.setParams({ compare: compare.filter((x) => x !== c).join(',') }) }, '×')));
      const add = h('select', { name: 'compare', onchange: (e) => e.target.value && ctx.setParams({ compare: [...compare, e.target.value].join(',') }) },
        h('option', { value: '' }, t('compare_add')),
        ...codes.filter((c) => c !== agency && !compare.includes(c)).map((c) => h('option', { value: c }, agencyLabel(c))));
      bar.append(h('div', { class: 'control' }, h('span', { class: 'label' }, t('compare')), ...chips, add));
    }
  }
  if (view) bar.append(unitsControl(ctx, view, today));
  return bar;
}

/** Rows a ranking shows before "show all". */
const RANKING_ROWS = 10;

/** A ranking as a table; rows open the agency at `linkOf(code)` when given; long ones fold. */
function rankingTable(rows, unit, linkOf, fold = false) {
  const body = rows.map((r) => {
    let change = '–';
    if (r.change > 0) change = t('up_n', { n: r.change });
    else if (r.change < 0) change = t('down_n', { n: -r.change });
    else if (r.change === 0) change = t('unchanged');
    const cls = r.change > 0 ? 'up' : r.change < 0 ? 'down' : '';
    const href = linkOf ? linkOf(r.agency_code) : null;
    const cells = [
      h('td', { class: 'num' }, r.rank ?? t('unranked')),
      href ? linkCell(href, agencyLabel(r.agency_code)) : h('td', {}, agencyLabel(r.agency_code)),
      h('td', { class: 'num value', title: r.suppressed ? t('suppressed_point') : null }, pointValue(r, unit)),
      h('td', { class: 'num' }, ratioText(r, unit) || '–'),
      h('td', { class: 'num' }, r.previous_rank ?? '–'),
      h('td', { class: `num change ${cls}` }, change),
    ];
    const props = { dataset: { agency: r.agency_code } };
    return href ? linkRow(href, props, ...cells) : h('tr', props, ...cells);
  });
  const numeric = new Set(['rank', 'value', 'ratio', 'previous_rank', 'change']);
  const table = h('table', { class: 'ranking' },
    h('thead', {}, h('tr', {}, ...['rank', 'agency', 'value', 'ratio', 'previous_rank', 'change'].map((k) => h('th', { class: numeric.has(k) ? 'num' : '' }, t(k))))),
    h('tbody', {}, body));
  if (!fold || rows.length <= RANKING_ROWS) return table;
  body.slice(RANKING_ROWS).forEach((row) => { row.hidden = true; });
  const more = h('button', { type: 'button', class: 'more', onclick: () => {
    body.forEach((row) => { row.hidden = false; });
    more.remove();
  } }, t('show_all', { n: rows.length }));
  return h('div', {}, table, more);
}

/** Rows of an SQL answer as a table (at most `limit` shown). */
function resultTable(data, limit = 500) {
  const shown = data.rows.slice(0, limit);
  const cell = (v, type) => {
    if (v === null) return h('td', { class: 'null' }, 'NULL');
    if (typeof v === 'number') return h('td', { class: 'num' }, fmtNumber(v, Number.isInteger(v) ? 0 : 3));
    if (/^Timestamp/.test(type)) return h('td', {}, fmtTime(v));
    if (type === 'Date32' || type === 'Date64') return h('td', {}, fmtDate(v));
    return h('td', {}, typeof v === 'object' ? JSON.stringify(v) : String(v));
  };
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'result' },
      h('thead', {}, h('tr', {}, ...data.columns.map((c) => h('th', { class: /^(U?Int|Float|Decimal)/.test(c.type) ? 'num' : '' }, columnName(c.name))))),
      h('tbody', {}, shown.map((row) => h('tr', {}, row.map((v, i) => cell(v, data.columns[i].type)))))),
    data.rows.length > limit ? h('p', { class: 'muted' }, t('rows_shown', { n: fmtNumber(limit) })) : null);
}

/** The SQL answer of a chart panel: the first column is the x axis, the others are series. */
function sqlChart(el, panel, data, bucket) {
  const buckets = data.rows.map((r) => String(r[0]));
  const isDate = buckets.every((b) => /^\d{4}-\d{2}-\d{2}/.test(b));
  const format = (b) => (isDate ? fmtBucket(b.slice(0, 10), bucket) : b);
  drawChart(el, {
    title: pick(panel.title),
    kind: panel.chart,
    buckets,
    series: data.columns.slice(1).map((c, k) => ({ label: columnName(c.name), values: data.rows.map((r) => (r[k + 1] === null ? null : Number(r[k + 1]))) })),
    formatY: (v) => fmtNumber(v, Number.isInteger(v) ? 0 : 1),
    formatTick: tickFormat(null),
    formatX: format,
    formatXLong: (b) => (isDate ? fmtBucket(b.slice(0, 10), bucket, true) : b),
  });
}

function statBody(panel, data) {
  const unit = data.unit;
  const cur = data.value;
  const prev = data.previous.value;
  let change = null;
  if (cur.value !== null && prev.value !== null) {
    const better = data.better;
    let delta;
    let text;
    if (unit === 'ratio') {
      delta = (cur.value - prev.value) * 100;
      text = `${fmtNumber(Math.abs(delta), 1)} ${t('points')}`;
    } else if (prev.value !== 0) {
      delta = ((cur.value - prev.value) / Math.abs(prev.value)) * 100;
      text = `${fmtNumber(Math.abs(delta), 1)}%`;
    }
    if (delta !== undefined) {
      const [arrow, word] = delta > 0.05 ? ['▲', 'change_up'] : delta < -0.05 ? ['▼', 'change_down'] : ['=', 'change_none'];
      const good = better === 'neither' || arrow === '=' ? '' : ((delta > 0) === (better === 'higher') ? 'good' : 'bad');
      change = h('div', { class: `tile-change ${good}` },
        h('span', { 'aria-hidden': 'true' }, arrow), h('span', { class: 'sr-only' }, t(word)), ` ${text} ${t('vs_previous')}`);
    }
  }
  const target = data.target
    ? h('div', { class: `tile-target ${data.target_met === true ? 'met' : data.target_met === false ? 'missed' : ''}` },
      targetText(data.target, unit),
      data.target_met === null ? '' : ` · ${data.target_met ? t('target_met') : t('target_missed')}`)
    : null;
  return [
    h('div', { class: 'tile-value', title: cur.suppressed ? t('suppressed_point') : null }, pointValue(cur, unit)),
    h('div', { class: 'tile-ratio' }, ratioText(cur, unit) ? `${ratioText(cur, unit)}${unit === 'ratio' ? ` ${t('dossiers')}` : ''}` : ''),
    change,
    h('div', { class: 'tile-previous muted' }, t('previous_value', { from: fmtDate(data.previous.from), to: fmtDate(data.previous.to), v: pointValue(prev, unit) })),
    target,
  ];
}

function seriesChart(el, panel, data) {
  const unit = data.unit;
  const buckets = data.series[0]?.points.map((p) => p.bucket) || [];
  drawChart(el, {
    title: pick(panel.title),
    kind: panel.chart,
    buckets,
    series: data.series.map((s) => ({
      label: s.agency_code ? agencyLabel(s.agency_code) : t('whole_province'),
      values: s.points.map((p) => p.value),
      details: s.points.map((p) => (p.suppressed ? t('suppressed_point') : unit === 'ratio' || unit === 'days' ? ratioText(p, unit) : '')),
    })),
    target: panel.target ? panel.target.value : null,
    targetLabel: panel.target ? targetText(panel.target, unit) : '',
    formatY: (v) => fmtValue(v, unit),
    formatTick: tickFormat(unit),
    integer: unit === 'dossiers',
    formatX: (b) => fmtBucket(b, data.bucket),
    formatXLong: (b) => fmtBucket(b, data.bucket, true),
    breaks: breakMarks(data.units),
    end: data.to,
  });
}

/**
 * A dashboard: `id` of its file; `opts.agency` forces the agency (agency page); `opts.before`
 * adds a section above the panels and returns its own refresh.
 */
export async function dashboardPage(ctx, root, id, opts = {}) {
  const p = ctx.params;
  const range = p.get('from') && p.get('to') ? { from: p.get('from'), to: p.get('to') } : null;
  const embedded = ctx.api.embedded;
  // An embed shows its figures as recorded: its token fixes what it shows.
  const [def, ranges] = await Promise.all([ctx.api.dashboard(id), embedded ? null : ctx.api.ranges()]);
  // The switch only where it changes something: SQL panels are as their SQL says.
  const view = embedded || !def.panels.some((x) => x.metric) ? null : unitsView(p);
  const from = range?.from || def.default_range.from;
  const to = range?.to || def.default_range.to;
  const bucket = p.get('bucket') || '';
  const agency = embedded ? ctx.config.agency || null : opts.agency ?? (def.agency === 'none' ? null : p.get('agency') || null);
  const compare = embedded ? [] : (p.get('compare') || '').split(',').filter(Boolean);
  const comparable = def.panels.some((x) => x.metric && (x.chart === 'line' || x.chart === 'bar'));
  let agencyChoice = null;
  if (!embedded && def.agency !== 'none') {
    agencyChoice = { codes: (await ctx.agencies(view || {})), required: def.agency === 'required' };
  }

  const heading = h('div', { class: 'page-head' },
    opts.back || null,
    h('h1', {}, pick(def.title), agency ? h('span', { class: 'agency-code' }, ` · ${agencyLabel(agency)}`) : null),
    def.description ? h('p', { class: 'muted' }, pick(def.description)) : null,
    controls(ctx, { from, to, presets: def.presets, bucket, agencyChoice, agency, compare, comparable, view, today: ranges?.today }));
  const tiles = h('section', { class: 'tiles' });
  const charts = h('section', { class: 'charts' });
  root.replaceChildren(heading);
  const beforeRefresh = opts.before ? await opts.before(root) : null;
  root.append(tiles, charts);

  const query = { from, to, bucket: bucket || undefined, agency: embedded ? undefined : agency || undefined, ...view };
  const cards = def.panels.map((panel) => {
    const isTile = panel.chart === 'stat';
    const body = h('div', { class: isTile ? 'tile-body' : 'panel-body' }, h('p', { class: 'muted' }, t('loading')));
    const overTime = panel.metric && (panel.chart === 'line' || panel.chart === 'bar');
    const params = { ...query, compare: overTime && compare.length ? compare : undefined };
    const filename = `${def.id}-${panel.id}-${from}-${to}.csv`;
    const csv = h('button', { type: 'button', class: 'csv', title: t('download_csv'),
      onclick: () => ctx.api.panelCsv(def.id, panel.id, params, filename).catch((e) => body.replaceChildren(errorBox(e))) }, 'CSV');
    const card = h('article', {
      class: `${isTile ? 'tile' : 'panel'} panel-${panel.chart}`, dataset: { panel: panel.id },
    }, h('header', {}, h('h2', {}, pick(panel.title)), csv), body);
    (isTile ? tiles : charts).append(card);
    const load = async () => {
      try {
        const data = await ctx.api.panel(def.id, panel.id, params);
        if (isTile) {
          body.replaceChildren(...statBody(panel, data).filter(Boolean));
        } else if (panel.chart === 'ranking') {
          const linkOf = embedded ? null : (code) => ctx.href(`/agency/${encodeURIComponent(code)}`, { from, to, ...view });
          const mine = agency && data.rows[0]?.rank ? h('p', { class: 'rank-of' }, t('rank_of', { r: data.rows[0].rank, n: data.ranked })) : null;
          body.replaceChildren(mine || '', data.rows.length ? rankingTable(data.rows, data.unit, linkOf, true) : h('p', { class: 'muted' }, t('no_data')));
        } else if (panel.chart === 'table') {
          body.replaceChildren(data.rows.length ? resultTable(data) : h('p', { class: 'muted' }, t('no_data')));
        } else if (panel.metric) {
          seriesChart(body, panel, data);
        } else {
          if (data.rows.length) sqlChart(body, panel, data, bucket || panel.bucket);
          else body.replaceChildren(h('p', { class: 'muted' }, t('no_data')));
        }
      } catch (e) {
        body.replaceChildren(errorBox(e));
      }
    };
    return load;
  });
  if (!tiles.childElementCount) tiles.remove();
  await Promise.all(cards.map((load) => load()));
  if (!performance.getEntriesByName('parwatch:rendered').length) performance.mark('parwatch:rendered');
  return {
    refresh: async () => {
      await Promise.all([...cards.map((load) => load()), beforeRefresh ? beforeRefresh() : null]);
    },
  };
}

/** The agency ranking: one metric over a period, with places gained or lost. */
export async function rankingPage(ctx, root) {
  const p = ctx.params;
  const view = unitsView(p);
  // The names of the view's units too (those only the registry names).
  const [catalogue, ranges] = await Promise.all([ctx.api.catalogue(), ctx.api.ranges(), ctx.agencies(view).catch(() => null)]);
  const byName = Object.fromEntries(catalogue.metrics.map((m) => [m.name, m]));
  const metric = byName[p.get('metric')] ? p.get('metric') : 'on_time_rate';
  const fallback = ranges.presets.find((x) => x.spec === '12m') || ranges.presets[0];
  const from = p.get('from') || fallback.from;
  const to = p.get('to') || fallback.to;
  const select = h('select', { name: 'metric', onchange: (e) => ctx.setParams({ metric: e.target.value }) },
    ...catalogue.metrics.map((m) => h('option', { value: m.name, selected: m.name === metric }, metricName(m.name))));
  const hint = h('p', { class: 'muted' });
  const changes = h('p', { class: 'chart-breaks muted' });
  const body = h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, t('loading')));
  root.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', {}, t('ranking_title')),
      controls(ctx, { from, to, presets: ranges.presets, view, today: ranges.today }),
      h('div', { class: 'controls' }, h('label', { class: 'control' }, h('span', { class: 'label' }, t('metric')), select))),
    h('article', { class: 'panel panel-ranking', dataset: { panel: 'ranking' } }, h('header', {}, h('h2', {}, metricName(metric))), hint, changes, body));
  const load = async () => {
    try {
      const data = await ctx.api.ranking({ metric, from, to, ...view });
      hint.textContent = t('ranking_hint', { from: fmtDate(data.previous.from), to: fmtDate(data.previous.to) });
      const marks = breakMarks(data.units);
      changes.replaceChildren(...(marks.length ? [h('strong', {}, `${t('breaks_title')}: `), marks.map((b) => `${b.label} ${b.text}`).join('; ')] : []));
      const linkOf = (code) => ctx.href(`/agency/${encodeURIComponent(code)}`, { from, to, ...view });
      body.replaceChildren(data.rows.length ? rankingTable(data.rows, byName[metric].unit, linkOf) : h('p', { class: 'muted' }, t('no_data')));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  };
  await load();
  return { refresh: load };
}

/** One agency: the agency dashboard for the code in the address, or a list to choose from. */
export async function agencyPage(ctx, root, code, dashboardId) {
  if (!code) {
    const codes = await ctx.agencies();
    root.replaceChildren(h('div', { class: 'page-head' }, h('h1', {}, t('choose_agency'))),
      h('ul', { class: 'agency-list' }, ...codes.map((c) => h('li', {}, h('a', { href: `#/agency/${encodeURIComponent(c)}` }, agencyLabel(c))))));
    return { refresh: async () => {} };
  }
  const back = h('div', { class: 'back' }, h('a', { href: '#/ranking' }, t('back_to_ranking')), ' · ',
    h('a', { href: `#/par/${encodeURIComponent(code)}`, class: 'par-link' }, t('par_of_agency')));
  return dashboardPage(ctx, root, dashboardId, { agency: code, back });
}

/** Data quality: freshness and the worker's state, then the quality dashboard's panels. */
export async function qualityPage(ctx, root, dashboardId) {
  const before = async (container) => {
    const section = h('section', { class: 'status' });
    const partitions = h('section', { class: 'partitions' });
    container.append(h('h2', { class: 'section-title' }, t('quality_freshness')), section, partitions);
    const fill = async () => {
      try {
        const s = await ctx.api.status();
        const item = (key, value, sub, name) => h('div', { class: 'stat', dataset: { status: name } },
          h('div', { class: 'stat-label' }, t(key)), h('div', { class: 'stat-value' }, value), sub ? h('div', { class: 'muted' }, sub) : null);
        section.replaceChildren(
          item('newest_event', fmtTime(s.newest_event_at), s.newest_event_at ? fmtAgo(s.newest_event_at) : null, 'newest'),
          item('last_landed', fmtTime(s.last_landed_at), s.last_landed_at ? fmtAgo(s.last_landed_at) : null, 'landed'),
          item('consumer_lag', s.ingest ? fmtNumber(s.ingest.consumer_lag) : t('worker_absent'), null, 'lag'),
          item('events_total', fmtNumber(s.events), null, 'events'),
          item('dossiers_total', fmtNumber(s.dossiers), null, 'dossiers'),
          item('agencies_total', fmtNumber(s.agencies), null, 'agencies'),
          item('rejected_total', fmtNumber(s.rejected), null, 'rejected'),
          s.ingest ? item('duplicates', fmtNumber(s.ingest.duplicates), null, 'duplicates') : null,
          item('complete_until', fmtTime(s.freshness.complete_until), s.freshness.complete_until ? fmtAgo(s.freshness.complete_until) : null, 'complete'));
        // A stream split among workers: each partition's position, claim, completeness and
        // lag (when the server watches the broker).
        const parts = s.freshness.partitions;
        partitions.replaceChildren(...(parts.length > 1 ? [
          h('h3', {}, t('partitions_title')),
          h('table', { class: 'data', dataset: { status: 'partitions' } },
            h('thead', {}, h('tr', {}, ...['partition', 'position', 'epoch', 'complete_until', 'lag'].map((k) => h('th', { scope: 'col' }, t(k))))),
            h('tbody', {}, ...parts.map((p) => h('tr', {},
              h('td', {}, String(p.partition)),
              h('td', {}, p.position == null ? '—' : fmtNumber(p.position)),
              h('td', {}, p.epoch == null ? '—' : String(p.epoch)),
              h('td', {}, fmtTime(p.complete_until)),
              h('td', {}, p.lag == null ? '—' : fmtNumber(p.lag)))))),
        ] : []));
      } catch (e) {
        section.replaceChildren(errorBox(e));
      }
    };
    await fill();
    return fill;
  };
  return dashboardPage(ctx, root, dashboardId, { before });
}

const EXAMPLES = [
  'SELECT type, count(*) AS events FROM events GROUP BY type ORDER BY events DESC',
  "SELECT agency_code, sum(on_time) * 1.0 / sum(resolved_with_received) AS on_time_rate, sum(late_files) AS late\nFROM daily_agency_stats WHERE day >= DATE '2025-01-01'\nGROUP BY agency_code ORDER BY on_time_rate",
  'SELECT fault, count(*) AS messages FROM rejected_events GROUP BY fault ORDER BY messages DESC',
  "SELECT channel, count(*) AS dossiers FROM dossiers GROUP BY channel ORDER BY dossiers DESC",
];

/**
 * The SQL console: read-only queries, a result table, CSV download. A query from the URL
 * (`#/sql?q=`) fills the editor but runs only when the reader presses Run: a link must not
 * make the stored token run someone else's SQL.
 */
export function sqlPage(ctx, root) {
  const editor = h('textarea', { class: 'sql', name: 'sql', rows: '7', spellcheck: 'false', 'aria-label': t('sql_title') });
  const linked = ctx.params.get('q');
  editor.value = linked || EXAMPLES[0];
  const out = h('div', { class: 'sql-out' });
  const meta = h('span', { class: 'muted', role: 'status' });
  let runs = 0;
  const run = async () => {
    const seq = ++runs;
    meta.textContent = t('running');
    try {
      const data = await ctx.api.sql(editor.value);
      if (seq !== runs) return;
      meta.textContent = t('rows_n', { n: fmtNumber(data.row_count), ms: fmtNumber(data.elapsed_ms, 1) });
      out.replaceChildren(resultTable(data));
    } catch (e) {
      if (seq !== runs) return;
      meta.textContent = '';
      out.replaceChildren(errorBox(e));
    }
  };
  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  const examples = h('select', { name: 'examples', onchange: (e) => { if (e.target.value) editor.value = e.target.value; } },
    h('option', { value: '' }, t('sql_examples')), ...EXAMPLES.map((q) => h('option', { value: q }, q.split('\n')[0].slice(0, 80))));
  root.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, t('sql_title')), h('p', { class: 'muted' }, t('sql_hint'))),
    h('article', { class: 'panel' }, editor,
      h('div', { class: 'controls' },
        h('button', { type: 'button', class: 'primary', onclick: run, name: 'run' }, t('run')),
        h('button', { type: 'button', name: 'csv', onclick: () => ctx.api.sqlCsv(editor.value, 'parwatch-query.csv').catch((e) => out.replaceChildren(errorBox(e))) }, t('download_csv')),
        examples, meta),
      out));
  if (linked) {
    meta.textContent = t('sql_from_link');
  } else {
    run();
  }
  return { refresh: async () => {} };
}
