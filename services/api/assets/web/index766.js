// The 766 service index pages (Decision 766/QĐ-TTg): the province's ranking of one kind of
// agency for a month, quarter or year with a bar per group, and one agency's indicators —
// points against their maxima, numerator over denominator, beside the national portal's
// published figures when they were imported (`/api/v1/index-766/reconcile`) — with the
// dossiers, petitions and procedures that cost points (`/api/v1/index-766/{agency}/lost`),
// downloadable as CSV.

import { agencyLabel, fmtNumber, fmtTime, rubricName, t } from './i18n.js';
import { errorBox, h, linkCell, linkRow } from './pages.js';
import { bar } from './par.js';

/** Items the agency page lists; the CSV has them all (up to the API's bound). */
const SHOWN = 200;

/** Points as published: three decimals at most (8,889; 20). */
const points = (v) => (v === null || v === undefined ? '–' : fmtNumber(Math.abs(v) < 5e-4 ? 0 : v, 0, 3));

/** The period in the address, or this month of the server's today. */
async function period(ctx) {
  const asked = ctx.params.get('period');
  if (asked) return asked;
  const ranges = await ctx.api.ranges();
  return ranges.today.slice(0, 7);
}

/** A period field: a month `2025-03`, a quarter `2025-Q1` or a year `2025`. */
function periodControl(ctx, value) {
  const input = h('input', { name: 'period', value, size: '8', pattern: '\\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?', title: t('i766_period_hint') });
  return h('form', { class: 'control', onsubmit: (e) => { e.preventDefault(); ctx.setParams({ period: input.value.trim() }); } },
    h('label', {}, h('span', { class: 'label' }, t('i766_period')), input),
    h('button', { type: 'submit' }, t('i766_show')));
}

/** A difference of points: "+1,5", "-6,886", "0", or "–" without one. */
const signed = (v) => (v === null || v === undefined ? '–' : `${v >= 5e-4 ? '+' : ''}${points(v)}`);

/**
 * The portal's figures for `code` beside ours, by indicator (and `total`), from the
 * reconciliation the lost-points answer `lost` links to when they were imported for its month;
 * `{ none: key }` when there are none to show (a quarter or year, no import for the month, or
 * none for this agency).
 */
async function portalFigures(ctx, code, p, lost) {
  if (!/^\d{4}-\d{2}$/.test(p)) return { none: 'i766_portal_monthly' };
  if (!lost.portal) return { none: 'i766_portal_none' };
  const answer = await ctx.api.request('/api/v1/index-766/reconcile', { params: { period: p, agency: code } });
  const rows = answer.rows.filter((r) => r.agency_code === code);
  if (!rows.some((r) => r.portal !== null)) return { none: 'i766_portal_agency_none' };
  return { source: answer.source, importedAt: answer.imported_at, rows: new Map(rows.map((r) => [r.indicator, r])) };
}

/** "▲ 1,5", "▼ 2", or nothing without a previous total. */
function change(v) {
  if (v === null || v === undefined) return h('span', { class: 'change' });
  return h('span', { class: v >= 0 ? 'change up' : 'change down' }, `${v >= 0 ? '▲' : '▼'} ${points(Math.abs(v))}`);
}

/** `#/index-766?period=P&kind=K`: the ranking of one kind of agency. */
export async function index766Page(ctx, root) {
  const p = await period(ctx);
  const kinds = h('div', { class: 'control' });
  const body = h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, t('loading')));
  root.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', {}, t('i766_title'), h('span', { class: 'agency-code' }, ` · ${p}`)),
      h('p', { class: 'muted' }, t('i766_hint')),
      h('div', { class: 'controls' }, periodControl(ctx, p), kinds)),
    h('article', { class: 'panel panel-par', dataset: { panel: 'index-766' } }, body));
  const load = async () => {
    try {
      const data = await ctx.api.request('/api/v1/index-766', { params: { period: p } });
      const present = [...new Set(data.agencies.map((a) => a.kind))];
      const kind = present.includes(ctx.params.get('kind')) ? ctx.params.get('kind') : present[0];
      kinds.replaceChildren(present.length ? h('span', { class: 'label' }, t('par_kind')) : '',
        ...present.map((k) => h('button', {
          type: 'button', class: k === kind ? 'preset active' : 'preset', dataset: { kind: k },
          onclick: () => ctx.setParams({ kind: k }),
        }, t(`kind_${k}`))));
      const rows = data.agencies.filter((a) => a.kind === kind);
      body.replaceChildren(rows.length ? rankingTable(ctx, rows, p) : h('p', { class: 'muted' }, t('no_data')));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  };
  await load();
  return { refresh: load };
}

/** Agencies by rank, a bar per group (points over the maximum of its indicators with data). */
function rankingTable(ctx, agencies, p) {
  const groups = agencies[0].groups;
  const linkOf = (code) => ctx.href(`/index-766/${encodeURIComponent(code)}`, { period: p });
  const head = h('tr', {},
    h('th', { class: 'num' }, t('rank')),
    h('th', {}, t('agency')),
    h('th', { class: 'num' }, t('i766_total')),
    ...groups.map((g) => h('th', { class: 'par-component', title: rubricName(g) }, `${rubricName(g)} (${points(g.max)})`)));
  const rows = agencies.map((a) => linkRow(linkOf(a.agency_code), { dataset: { agency: a.agency_code } },
    h('td', { class: 'num rank' }, h('strong', {}, a.rank ?? '–'), ' ', change(a.change)),
    linkCell(linkOf(a.agency_code), agencyLabel(a.agency_code)),
    h('td', { class: 'num index' }, points(a.total)),
    ...a.groups.map((g) => h('td', { class: 'par-component', dataset: { group: g.code } },
      g.max_with_data > 0 ? bar(g.points, g.max_with_data) : '',
      h('small', { class: 'muted' }, g.max_with_data > 0 ? `${points(g.points)}/${points(g.max_with_data)}` : t('i766_no_data'))))));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'index-766' }, h('thead', {}, head), h('tbody', {}, rows)));
}

/** `#/index-766/CODE?period=P&indicator=I`: one agency's indicators and the items that cost points. */
export async function index766AgencyPage(ctx, root, code) {
  const p = await period(ctx);
  const indicator = ctx.params.get('indicator') || '';
  const summary = h('div', { class: 'par-summary' }, h('p', { class: 'muted' }, t('loading')));
  const indicators = h('div', { class: 'panel-body' });
  const items = h('div', { class: 'panel-body' });
  const csv = h('button', { type: 'button', class: 'csv', name: 'csv', title: t('download_csv'),
    onclick: () => ctx.api.download(`/api/v1/index-766/${encodeURIComponent(code)}/lost`,
      { params: { period: p, indicator, format: 'csv' } }, `index-766-${code}-${p}-lost.csv`).catch((e) => items.replaceChildren(errorBox(e))),
  }, t('download_csv'));
  root.replaceChildren(
    h('div', { class: 'page-head' },
      h('a', { href: ctx.href('/index-766', { period: p }), class: 'back' }, t('i766_back')),
      h('h1', {}, t('i766_title'), h('span', { class: 'agency-code' }, ` · ${agencyLabel(code)} · ${p}`)),
      h('div', { class: 'controls' }, periodControl(ctx, p))),
    summary,
    h('section', { class: 'charts' },
      h('article', { class: 'panel panel-table', dataset: { panel: 'index-766-indicators' } },
        h('header', {}, h('h2', {}, t('i766_indicators'))), indicators),
      h('article', { class: 'panel panel-table', dataset: { panel: 'index-766-lost' } },
        h('header', {}, h('h2', {}, t('i766_lost_title')), csv), items)));
  const load = async () => {
    try {
      const path = `/api/v1/index-766/${encodeURIComponent(code)}/lost`;
      const [all, lost] = await Promise.all([
        ctx.api.request(path, { params: { period: p, limit: 1 } }),
        ctx.api.request(path, { params: { period: p, indicator, limit: SHOWN } }),
      ]);
      const portal = await portalFigures(ctx, code, p, all).catch((e) => ({ error: e }));
      const portalTotal = portal.rows?.get('total');
      summary.replaceChildren(
        h('div', { class: 'stat', dataset: { status: 'total' } },
          h('div', { class: 'stat-label' }, t('i766_total')),
          h('div', { class: 'stat-value' }, all.total === null ? '–' : t('par_of_max', { v: points(all.total), max: 100 }))),
        h('div', { class: 'stat', dataset: { status: 'points' } },
          h('div', { class: 'stat-label' }, t('i766_points_with_data')),
          h('div', { class: 'stat-value' }, `${points(all.points)}/${points(all.max_with_data)}`)),
        portalTotal && portalTotal.portal !== null ? h('div', { class: 'stat', dataset: { status: 'portal' } },
          h('div', { class: 'stat-label' }, t('i766_portal_total')),
          h('div', { class: 'stat-value' }, t('par_of_max', { v: points(portalTotal.portal), max: 100 })),
          h('small', { class: 'muted difference' }, `${t('i766_difference')} ${signed(portalTotal.difference)}`)) : '');
      indicators.replaceChildren(portalNote(portal, p),
        indicatorTable(ctx, { code, p, list: all.indicators, chosen: indicator, portal: portal.rows }));
      items.replaceChildren(itemTable(lost));
    } catch (e) {
      summary.replaceChildren(errorBox(e));
    }
  };
  await load();
  return { refresh: load };
}

/** Where the portal's figures come from, or why there are none (an error when they failed). */
function portalNote(portal, p) {
  if (portal.error) return errorBox(portal.error);
  const text = portal.none
    ? t(portal.none, { p })
    : t('i766_portal_from', { source: portal.source, at: fmtTime(portal.importedAt) });
  return h('p', { class: 'muted portal-note', role: 'note', dataset: { portal: portal.none ? 'none' : 'imported' } }, text);
}

/**
 * Each indicator: points/max bar, numerator/denominator, points lost, items (a filter link);
 * with the portal's figures (`portal`: indicator → reconciliation row), its points and the
 * difference (ours − the portal's) beside ours, and the indicators only the portal published.
 */
function indicatorTable(ctx, { code, p, list, chosen, portal }) {
  const keys = ['i766_indicator', 'i766_points', ...(portal ? ['i766_portal', 'i766_difference'] : []), 'i766_ratio', 'par_lost', 'i766_items'];
  const head = keys.map((k, i) => h('th', { class: i >= 2 ? 'num' : '' }, t(k)));
  const portalCells = (row) => (portal
    ? [h('td', { class: 'num portal' }, points(row?.portal)), h('td', { class: 'num difference' }, signed(row?.difference))]
    : []);
  const rows = list.map((i) => h('tr', { dataset: { indicator: i.code }, class: i.code === chosen ? 'active' : '' },
    h('td', {}, rubricName(i), h('small', { class: 'muted' }, ` ${i.code}`)),
    h('td', { class: 'bar-cell' }, i.missing ? h('span', { class: 'muted' }, t('i766_no_data')) : bar(i.points, i.max),
      h('small', { class: 'points' }, ` ${points(i.points)}/${points(i.max)}`)),
    ...portalCells(portal?.get(i.code)),
    h('td', { class: 'num ratio' }, `${fmtNumber(i.numerator)}/${fmtNumber(i.denominator)}`),
    h('td', { class: 'num lost' }, points(i.lost_points)),
    h('td', { class: 'num items' }, i.lost > 0
      ? h('a', { href: ctx.href(`/index-766/${encodeURIComponent(code)}`, { period: p, indicator: i.code === chosen ? '' : i.code }) }, fmtNumber(i.lost))
      : '0')));
  const ours = new Set(['total', ...list.map((i) => i.code)]);
  const theirsOnly = [...(portal?.values() || [])].filter((r) => !ours.has(r.indicator)).map((r) =>
    h('tr', { dataset: { indicator: r.indicator }, class: 'portal-only' },
      h('td', {}, r.indicator, h('small', { class: 'muted' }, ` ${t('i766_portal_only')}`)),
      h('td', { class: 'bar-cell' }, h('span', { class: 'muted' }, t('i766_no_data'))),
      ...portalCells(r), h('td'), h('td'), h('td')));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'index-766-indicators' },
    h('thead', {}, h('tr', {}, head)), h('tbody', {}, rows, theirsOnly)));
}

/** The items listed (the first `SHOWN`), with a note when more follow. */
function itemTable(lost) {
  const total = lost.indicators.reduce((n, i) => n + i.lost, 0);
  if (!lost.items.length) return h('p', { class: 'muted' }, t('i766_nothing_lost'));
  const head = ['i766_indicator', 'i766_subject', 'i766_id', 'i766_reason', 'i766_at', 'i766_due']
    .map((k) => h('th', {}, t(k)));
  const names = Object.fromEntries(lost.indicators.map((i) => [i.code, rubricName(i)]));
  const time = (v) => (v ? fmtTime(v) : '–');
  const rows = lost.items.map((x) => h('tr', { dataset: { indicator: x.indicator, id: x.id, reason: x.reason } },
    h('td', {}, names[x.indicator] || x.indicator),
    h('td', {}, t(`i766_subject_${x.subject}`)),
    h('td', { class: 'id' }, x.id),
    h('td', { class: 'reason' }, t(`i766_reason_${x.reason}`)),
    h('td', {}, time(x.at)),
    h('td', {}, time(x.due_at))));
  return h('div', {},
    total > lost.items.length ? h('p', { class: 'muted', role: 'note' }, t('i766_more', { n: fmtNumber(lost.items.length), total: fmtNumber(total) })) : '',
    h('div', { class: 'table-wrap' }, h('table', { class: 'index-766-lost' }, h('thead', {}, h('tr', {}, head)), h('tbody', {}, rows))));
}
