// The PAR Index (Chỉ số CCHC) pages: the year's index table of one kind of agency with a bar
// per component, and one agency's breakdown — components against their maxima, criteria
// weakest first with where their points come from, and its index and rank over the years.
// While a year's index is incomplete (no appraisal yet), ranks are the projected ones. Both
// pages show the index as recorded or restated to the units of a date (`units`, `units_date`
// in the address, the dashboards' view switch), with the changes of units listed.

import { drawChart } from './chart.js';
import { agencyLabel, fmtNumber, metricName, rubricName, t } from './i18n.js';
import { breakMarks, errorBox, h, linkCell, linkRow, unitsControl, unitsView } from './pages.js';

/** Points rounded to the published thousandths, so -0.0 (nothing earned) is written 0. */
const zeroed = (v) => (typeof v === 'number' && Math.abs(v) < 5e-4 ? 0 : v);
/** An index or component score as published: three decimals (87,303). */
const fixed = (v) => fmtNumber(zeroed(v), 3);
/** Points of a criterion or a maximum: as few decimals as needed (1,7/2). */
const short = (v) => fmtNumber(zeroed(v), 0, 3);

/** "▲ 6 bậc", "▼ 2 bậc", "Giữ nguyên", or nothing when unranked last year. */
function change(n) {
  if (n === null || n === undefined) return h('span', { class: 'change' });
  if (n > 0) return h('span', { class: 'change up' }, t('up_n', { n }));
  if (n < 0) return h('span', { class: 'change down' }, t('down_n', { n: -n }));
  return h('span', { class: 'change' }, t('unchanged'));
}

/**
 * A horizontal bar of `score` (solid) and `projected` (light) against `max`. Widths are set
 * through the CSSOM: the Content-Security-Policy refuses style attributes.
 */
export function bar(score, max, projected = score) {
  const part = (cls, v) => {
    const span = h('span', { class: cls });
    span.style.width = `${Math.max(0, Math.min(100, (v / max) * 100)).toFixed(1)}%`;
    return span;
  };
  return h('div', { class: 'par-bar', role: 'img', 'aria-label': `${short(score)}/${short(max)}` },
    projected > score ? part('projected', projected) : null, part('score', score));
}

/** Whether the appraisal council has scored the agency's year. */
const appraised = (a) => a.criteria.some((k) => k.official?.assessor === 'appraisal');
/** Whether the year's ranking is still a projection: some agency is not appraised yet. */
const isOpen = (agencies) => agencies.some((a) => !appraised(a));

/** The year chosen in the address, or the server's this year (`today`). */
function yearControl(ctx, year, thisYear) {
  const years = [...new Set([thisYear, thisYear - 1, year])].sort((a, b) => b - a);
  return h('label', { class: 'control' }, h('span', { class: 'label' }, t('par_year')),
    h('select', { name: 'year', onchange: (e) => ctx.setParams({ year: e.target.value }) },
      ...years.map((y) => h('option', { value: y, selected: y === year }, y))));
}

/**
 * The server's today and this year; the names of the units of `view` are fetched meanwhile
 * (those only the registry names included).
 */
async function today(ctx, view) {
  const [ranges] = await Promise.all([ctx.api.ranges(), ctx.agencies(view).catch(() => null)]);
  const day = ranges.today;
  return { day, year: Number(day.slice(0, 4)) };
}

/** "Changes of units: …", the structural breaks of an answer, in `el`. */
function showBreaks(el, units) {
  const marks = breakMarks(units);
  el.replaceChildren(...(marks.length ? [h('strong', {}, `${t('breaks_title')}: `), marks.map((b) => `${b.label} ${b.text}`).join('; ')] : []));
}

/** `#/par?year=Y&kind=K`: the index table of one kind of agency. */
export async function parPage(ctx, root) {
  const view = unitsView(ctx.params);
  const now = await today(ctx, view);
  const year = Number(ctx.params.get('year')) || now.year;
  const body = h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, t('loading')));
  const kinds = h('div', { class: 'control' });
  const changes = h('p', { class: 'chart-breaks muted' });
  root.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', {}, t('par_title'), h('span', { class: 'agency-code' }, ` · ${year}`)),
      h('p', { class: 'muted' }, t('par_hint')),
      h('div', { class: 'controls' }, yearControl(ctx, year, now.year), kinds, unitsControl(ctx, view, now.day))),
    h('article', { class: 'panel panel-par', dataset: { panel: 'par-index' } }, changes, body));
  const load = async () => {
    try {
      const data = await ctx.api.parIndex({ year, ...view });
      showBreaks(changes, data.units);
      const present = [...new Set(data.agencies.map((a) => a.kind))];
      const kind = present.includes(ctx.params.get('kind')) ? ctx.params.get('kind') : present[0];
      kinds.replaceChildren(present.length ? h('span', { class: 'label' }, t('par_kind')) : '',
        ...present.map((k) => h('button', {
          type: 'button', class: k === kind ? 'preset active' : 'preset', dataset: { kind: k },
          onclick: () => ctx.setParams({ kind: k }),
        }, t(`kind_${k}`))));
      const rows = data.agencies.filter((a) => a.kind === kind);
      body.replaceChildren(rows.length ? indexTable(ctx, rows, { year, ...view }) : h('p', { class: 'muted' }, t('no_data')));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  };
  await load();
  return { refresh: load };
}

/** Agencies of one kind, by rank (the projected one while the year is open); rows link to the agency's page with `params` (year and view). */
function indexTable(ctx, agencies, params) {
  const open = isOpen(agencies);
  const rankOf = (a) => (open ? a.projected_rank : a.rank);
  const sorted = [...agencies].sort((a, b) => rankOf(a) - rankOf(b) || a.agency_code.localeCompare(b.agency_code));
  const components = sorted[0].components;
  const linkOf = (code) => ctx.href(`/par/${encodeURIComponent(code)}`, params);
  const head = h('tr', {},
    h('th', { class: 'num' }, open ? t('par_rank_projected') : t('rank')),
    h('th', {}, t('agency')),
    h('th', { class: 'num' }, t('par_index')),
    open ? h('th', { class: 'num' }, t('par_projected')) : null,
    ...components.map((c) => h('th', { class: 'par-component', title: rubricName(c) }, rubricName(c))));
  const rows = sorted.map((a) => linkRow(linkOf(a.agency_code), { dataset: { agency: a.agency_code } },
  h('td', { class: 'num rank' }, h('strong', {}, rankOf(a)), ' ', change(open ? a.projected_change : a.change)),
  linkCell(linkOf(a.agency_code), agencyLabel(a.agency_code)),
  h('td', { class: 'num index' }, fixed(a.index)),
  open ? h('td', { class: 'num projected' }, fixed(a.projected)) : null,
  ...a.components.map((c) => h('td', { class: 'par-component', dataset: { component: c.code } },
    bar(c.score, c.max, c.projected), h('small', { class: 'muted' }, `${short(c.score)}/${short(c.max)}`)))));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'par-index' }, h('thead', {}, head), h('tbody', {}, rows)));
}

/** Where a criterion's points come from, in words. */
function source(k) {
  if (k.status === 'derived') {
    const d = k.derived;
    return h('span', { title: d.rule }, `${t('par_derived')}: ${metricName(d.metric)} `,
      h('strong', {}, `${fmtNumber(d.numerator)}/${fmtNumber(d.denominator)} = ${short(d.points)}/${short(k.max)}`));
  }
  if (k.status === 'assessed') {
    const by = k.official || k.self_assessed;
    return h('span', { title: by.evidence || '' }, t(`assessor_${by.assessor}`));
  }
  return h('span', { class: 'muted' }, t('par_missing'),
    k.projected_from === 'previous_year' ? ` (${t('par_from_last_year', { v: short(k.projected) })})` : '');
}

/** `#/par/CODE?year=Y`: one agency's breakdown, criteria weakest first, and its trend. */
export async function parAgencyPage(ctx, root, code) {
  const view = unitsView(ctx.params);
  const now = await today(ctx, view);
  const year = Number(ctx.params.get('year')) || now.year;
  const back = h('a', { href: ctx.href('/par', { year, ...view }), class: 'back' }, t('par_back'));
  const changes = h('p', { class: 'chart-breaks muted' });
  const summary = h('div', { class: 'par-summary' }, h('p', { class: 'muted' }, t('loading')));
  const components = h('div', { class: 'panel-body' });
  const criteria = h('div', { class: 'panel-body' });
  const trendIndex = h('div', { class: 'panel-body' });
  const trendRank = h('div', { class: 'panel-body' });
  const card = (panel, title, body) => h('article', { class: 'panel', dataset: { panel } }, h('header', {}, h('h2', {}, title)), body);
  root.replaceChildren(
    h('div', { class: 'page-head' }, back,
      h('h1', {}, t('nav_par'), h('span', { class: 'agency-code' }, ` · ${agencyLabel(code)} · ${year}`)),
      h('div', { class: 'controls' }, yearControl(ctx, year, now.year), unitsControl(ctx, view, now.day),
        h('a', { href: ctx.href(`/agency/${encodeURIComponent(code)}`, view) }, t('par_agency_metrics')))),
    summary, changes,
    h('section', { class: 'charts' },
      card('par-components', t('par_components'), components),
      card('par-trend-index', `${t('par_trend')}: ${t('par_trend_index')}`, trendIndex),
      card('par-trend-rank', `${t('par_trend')}: ${t('par_trend_rank')}`, trendRank),
      h('article', { class: 'panel panel-table', dataset: { panel: 'par-criteria' } },
        h('header', {}, h('h2', {}, t('par_criteria'))), criteria)));
  const load = async () => {
    try {
      const [index, history] = await Promise.all([ctx.api.parIndex({ year, agency: code, ...view }), ctx.api.parHistory(code, view)]);
      showBreaks(changes, history.units);
      const a = index.agencies[0];
      if (!a) {
        summary.replaceChildren(h('p', { class: 'muted' }, t('no_data')));
        components.replaceChildren();
        criteria.replaceChildren();
      } else {
        showAgency(a, { summary, components, criteria });
      }
      showTrend(history.years, trendIndex, trendRank);
    } catch (e) {
      summary.replaceChildren(errorBox(e));
    }
  };
  await load();
  return { refresh: load };
}

function showAgency(a, { summary, components, criteria }) {
  summary.replaceChildren(
    h('div', { class: 'stat', dataset: { status: 'index' } },
      h('div', { class: 'stat-label' }, t('par_index')),
      h('div', { class: 'stat-value' }, t('par_of_max', { v: fixed(a.index), max: short(a.max) }))),
    h('div', { class: 'stat', dataset: { status: 'rank' } },
      h('div', { class: 'stat-label' }, t(`kind_${a.kind}`)),
      h('div', { class: 'stat-value' }, t('par_rank_of', { r: a.rank, n: a.of }), ' ', change(a.change))),
    a.complete && appraised(a) ? '' : h('div', { class: 'stat projected', dataset: { status: 'projected' } },
      h('div', { class: 'stat-label' }, t('par_projected')),
      h('div', { class: 'stat-value' }, t('par_projected_line', { v: fixed(a.projected), r: a.projected_rank, n: a.of }), ' ', change(a.projected_change))),
    h('div', { class: 'stat', dataset: { status: 'counts' } },
      h('div', { class: 'stat-label' }, t('par_criteria')),
      h('div', {}, t('par_counts', { a: a.counts.assessed, d: a.counts.derived, m: a.counts.missing }))),
    a.unknown_criteria.length ? h('p', { class: 'banner' }, t('par_unknown', { c: a.unknown_criteria.join(', ') })) : '');
  components.replaceChildren(h('table', { class: 'par-components' }, h('tbody', {},
    a.components.map((c) => h('tr', { dataset: { component: c.code } },
      h('td', {}, rubricName(c)),
      h('td', { class: 'bar-cell' }, bar(c.score, c.max, c.projected)),
      h('td', { class: 'num' }, `${fixed(c.score)}/${short(c.max)}`),
      h('td', { class: 'num muted' }, t('par_component_rank', { r: c.rank })))))));
  const names = Object.fromEntries(a.components.map((c) => [c.code, rubricName(c)]));
  criteria.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { class: 'par-criteria' },
    h('thead', {}, h('tr', {}, ...['par_criterion', 'par_component', 'par_max', 'par_score', 'par_lost', 'par_status']
      .map((k, i) => h('th', { class: i >= 2 && i <= 4 ? 'num' : '' }, t(k))))),
    h('tbody', {}, a.criteria.map((k) => h('tr', { dataset: { criterion: `${k.component}.${k.code}`, status: k.status } },
      h('td', {}, rubricName(k), h('small', { class: 'muted' }, ` ${k.code}`)),
      h('td', {}, names[k.component] || k.component),
      h('td', { class: 'num' }, short(k.max)),
      h('td', { class: 'num' }, k.points === null ? '–' : short(k.points)),
      h('td', { class: 'num lost' }, k.lost === null ? '–' : short(k.lost)),
      h('td', {}, source(k))))))));
}

/** Index (and projection) and rank by year, from the history endpoint. */
function showTrend(years, indexEl, rankEl) {
  if (!years.length) {
    indexEl.replaceChildren(h('p', { class: 'muted' }, t('no_data')));
    rankEl.replaceChildren(h('p', { class: 'muted' }, t('no_data')));
    return;
  }
  const buckets = years.map((y) => String(y.year));
  const common = {
    kind: 'line', buckets, formatX: (b) => b, formatXLong: (b) => t('year_of', { y: b }),
  };
  drawChart(indexEl, {
    ...common,
    title: `${t('par_trend')}: ${t('par_trend_index')}`,
    series: [
      { label: t('par_trend_index'), values: years.map((y) => y.index) },
      { label: t('par_projected'), values: years.map((y) => y.projected) },
    ],
    formatY: fixed,
    formatTick: (v) => fmtNumber(v),
  });
  drawChart(rankEl, {
    ...common,
    title: `${t('par_trend')}: ${t('par_trend_rank')}`,
    series: [
      { label: t('rank'), values: years.map((y) => y.rank) },
      { label: t('par_rank_projected'), values: years.map((y) => y.projected_rank) },
    ],
    integer: true,
    formatY: (v) => fmtNumber(v),
  });
}
