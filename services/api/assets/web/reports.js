// The Reports page (Báo cáo định kỳ): preview a report's figures for a period as they stand
// now, publish them (admins: frozen with the lake version read), browse the published reports,
// open one with what changed since it was published and the late events behind each
// difference, and download any of them as XLSX or PDF. Public reports show suppressed cells
// as "x" with the footnote the exports carry.

import { agencyLabel, currentLang, fmtDate, fmtNumber, fmtTime, pick, t } from './i18n.js';
import { errorBox, h } from './pages.js';

/** What a suppressed cell shows, as in the exports. */
const SUPPRESSED = 'x';

/** A figure as its kind is written (counts whole, shares in %, points with two decimals). */
function fmtFigure(value, kind) {
  if (value === null || value === undefined) return '–';
  switch (kind) {
    case 'ratio': return `${fmtNumber(value * 100, 1)}%`;
    case 'days': return fmtNumber(value, 1);
    case 'points': return fmtNumber(value, 2);
    case 'change': return value > 0 ? `+${fmtNumber(value)}` : fmtNumber(value);
    default: return fmtNumber(value);
  }
}

/** A row's label: an agency's name, a month `MM/YYYY`, or the total. */
function rowLabel(key) {
  if (key === 'total') return t('report_total');
  if (/^\d{4}-\d{2}$/.test(key)) return `${key.slice(5)}/${key.slice(0, 4)}`;
  return agencyLabel(key);
}

/** The periods offered: this year and the two before, by year, half, quarter and month. */
function periods(thisYear) {
  const out = [];
  for (let y = thisYear; y >= thisYear - 2; y -= 1) {
    out.push([String(y), t('period_year', { y })]);
    for (const half of [1, 2]) out.push([`${y}-H${half}`, t(`period_h${half}`, { y })]);
    for (const q of [1, 2, 3, 4]) out.push([`${y}-Q${q}`, t('q', { q, y })]);
    for (let m = 1; m <= 12; m += 1) {
      const mm = String(m).padStart(2, '0');
      out.push([`${y}-${mm}`, `${mm}/${y}`]);
    }
  }
  return out;
}

/** The footnote of a public report's suppressed cells, in the page's language. */
function footnote(disclosure) {
  return t('report_suppressed_note', { x: SUPPRESSED, k: disclosure.min_dossiers });
}

/** A report's figures as the page shows them: texts, then each table. */
function reportView(figures) {
  const disclosure = figures.disclosure;
  const note = disclosure && disclosure.suppressed > 0
    ? h('p', { class: 'muted report-note', dataset: { suppressed: disclosure.suppressed } }, footnote(disclosure))
    : '';
  const meta = h('p', { class: 'muted' },
    t('report_meta', {
      from: fmtDate(figures.from), to: fmtDate(figures.to), v: figures.lake_version,
    }),
    figures.agency ? ` · ${agencyLabel(figures.agency)}` : '',
    disclosure ? ` · ${t('report_public', { k: disclosure.min_dossiers })}` : '');
  const sections = figures.sections.map((s) => h('section', { class: 'report-section', dataset: { section: s.id } },
    h('h3', {}, pick(s.title)),
    s.text ? h('p', { class: 'report-text' }, pick(s.text)) : '',
    ...s.tables.map((table) => reportTable(table))));
  return h('div', { class: 'report', dataset: { report: figures.report, period: figures.period } },
    h('h2', {}, pick(figures.title)), meta, note, ...sections);
}

function reportTable(table) {
  const key = table.rows === 'month' ? t('report_month') : t('agency');
  const head = h('tr', {}, h('th', {}, key), ...table.columns.map((c) => h('th', { class: 'num' }, pick(c.title))));
  const rows = table.lines.map((line) => h('tr', { dataset: { row: line.key }, class: line.key === 'total' ? 'total' : '' },
    h('th', { scope: 'row' }, rowLabel(line.key)),
    ...line.cells.map((v, i) => {
      const hidden = (line.suppressed || []).includes(i);
      return h('td', {
        class: hidden ? 'num suppressed' : 'num',
        title: hidden ? t('report_suppressed') : null,
        dataset: { column: i },
      }, hidden ? SUPPRESSED : fmtFigure(v, table.columns[i]?.kind));
    })));
  return h('figure', { class: 'report-table', dataset: { table: table.id } },
    h('figcaption', {}, pick(table.title)),
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, head), h('tbody', {}, rows))));
}

/** The differences of a published report from its figures now, with their causes. */
function changesView(comparison) {
  const intro = h('p', { class: 'muted' }, t('report_changes_intro', {
    p: comparison.published_version, c: comparison.current_version, n: fmtNumber(comparison.events_since),
  }));
  if (!comparison.differences.length) {
    return h('div', { class: 'changes', dataset: { differences: 0 } }, intro, h('p', {}, t('report_no_changes')));
  }
  const head = h('tr', {}, ...['report_table', 'report_row', 'report_column', 'report_published_value', 'report_now', 'report_causes']
    .map((k, i) => h('th', { class: i >= 3 && i <= 4 ? 'num' : '' }, t(k))));
  const rows = comparison.differences.map((d) => h('tr', { dataset: { table: d.table, row: d.row } },
    h('td', {}, d.table),
    h('td', {}, rowLabel(d.row)),
    h('td', {}, pick(d.column)),
    h('td', { class: 'num' }, fmtNumber(d.published, 0, 3)),
    h('td', { class: 'num' }, fmtNumber(d.now, 0, 3)),
    h('td', { class: 'causes' }, t('report_causes_n', { n: fmtNumber(d.causes_total) }),
      d.causes.length ? h('ul', {}, d.causes.slice(0, 5).map((c) => h('li', {},
        h('code', {}, c.dossier_id || c.event_id), ` ${c.event_type} · ${fmtDate(c.event_date)}`))) : '')));
  return h('div', { class: 'changes', dataset: { differences: comparison.differences.length } }, intro,
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, head), h('tbody', {}, rows))));
}

/** `#/reports?report=ID&period=P&agency=CODE` and `#/reports?published=ID`. */
export async function reportsPage(ctx, root) {
  const [{ reports }, ranges] = await Promise.all([ctx.api.request('/api/v1/reports'), ctx.api.ranges()]);
  const thisYear = Number(ranges.today.slice(0, 4));
  const chosen = reports.find((r) => r.id === ctx.params.get('report'))
    || reports.find((r) => r.subject === 'province') || reports[0];
  const period = ctx.params.get('period') || `${thisYear - 1}`;
  const opened = ctx.params.get('published');
  const status = h('p', { class: 'muted', role: 'status', id: 'report-status' });
  const preview = h('div', { class: 'panel-body' }, h('p', { class: 'muted' }, t('loading')));
  const published = h('div', { class: 'panel-body' });
  const record = h('div', { class: 'panel-body' });

  const reportSelect = h('select', { name: 'report', onchange: (e) => ctx.setParams({ report: e.target.value, agency: null }) },
    ...reports.map((r) => h('option', { value: r.id, selected: r.id === chosen.id }, pick(r.title))));
  const offered = periods(thisYear);
  if (!offered.some(([v]) => v === period)) offered.unshift([period, period]);
  const periodSelect = h('select', { name: 'period', onchange: (e) => ctx.setParams({ period: e.target.value }) },
    ...offered.map(([value, label]) => h('option', { value, selected: value === period }, label)));
  let agency = ctx.params.get('agency') || '';
  const agencyControl = h('span', {});
  if (chosen.subject === 'agency') {
    const codes = await ctx.agencies().catch(() => []);
    if (!agency && codes.length) agency = codes[0];
    agencyControl.append(h('label', { class: 'control' }, h('span', { class: 'label' }, t('agency')),
      h('select', { name: 'agency', onchange: (e) => ctx.setParams({ agency: e.target.value }) },
        ...codes.map((c) => h('option', { value: c, selected: c === agency }, agencyLabel(c))))));
  }
  const ask = () => ({ period, agency: chosen.subject === 'agency' ? agency : undefined });
  const fileName = (ext) => `${chosen.id}-${period}.${ext}`;
  const download = (path, params, name) => ctx.api.download(path, { params }, name)
    .catch((e) => { status.textContent = `${t('error')}: ${e.message}`; });
  const lang = () => currentLang();

  const publish = async () => {
    status.textContent = t('report_publishing');
    try {
      const done = await ctx.api.request(`/api/v1/reports/${encodeURIComponent(chosen.id)}/publish`, { method: 'POST', params: ask() });
      status.textContent = t('report_published_as', { id: done.id, v: done.lake_version });
      await loadPublished();
    } catch (e) {
      status.textContent = `${t('error')}: ${e.message}`;
    }
  };

  root.replaceChildren(
    h('div', { class: 'page-head' },
      h('h1', {}, t('reports_title')),
      h('p', { class: 'muted' }, t('reports_hint')),
      h('div', { class: 'controls' },
        h('label', { class: 'control' }, h('span', { class: 'label' }, t('report')), reportSelect),
        h('label', { class: 'control' }, h('span', { class: 'label' }, t('report_period')), periodSelect),
        agencyControl,
        h('button', { type: 'button', class: 'primary', name: 'publish', onclick: publish }, t('report_publish')),
        h('button', { type: 'button', name: 'preview-xlsx', onclick: () => download(`/api/v1/reports/${encodeURIComponent(chosen.id)}/preview`, { ...ask(), format: 'xlsx', lang: lang() }, fileName('xlsx')) }, t('report_xlsx')),
        h('button', { type: 'button', name: 'preview-pdf', onclick: () => download(`/api/v1/reports/${encodeURIComponent(chosen.id)}/preview`, { ...ask(), format: 'pdf', lang: lang() }, fileName('pdf')) }, t('report_pdf'))),
      status),
    opened ? h('article', { class: 'panel', dataset: { panel: 'report-published' } },
      h('header', {}, h('h2', {}, t('report_published_one'))), record) : '',
    h('article', { class: 'panel', dataset: { panel: 'report-preview' } },
      h('header', {}, h('h2', {}, t('report_preview'))), preview),
    h('article', { class: 'panel', dataset: { panel: 'reports-published' } },
      h('header', {}, h('h2', {}, t('reports_published'))), published));

  const loadPreview = async () => {
    try {
      const figures = await ctx.api.request(`/api/v1/reports/${encodeURIComponent(chosen.id)}/preview`, { params: ask() });
      preview.replaceChildren(reportView(figures));
    } catch (e) {
      preview.replaceChildren(errorBox(e));
    }
  };

  const loadPublished = async () => {
    try {
      const list = (await ctx.api.request('/api/v1/reports/published')).published;
      if (!list.length) {
        published.replaceChildren(h('p', { class: 'muted' }, t('reports_none_published')));
        return;
      }
      const head = h('tr', {}, ...['report', 'report_period', 'agency', 'report_version', 'report_published_at', 'report_by', '']
        .map((k) => h('th', {}, k ? t(k) : '')));
      const rows = list.map((p) => {
        const path = `/api/v1/reports/published/${encodeURIComponent(p.id)}`;
        return h('tr', { dataset: { published: p.id }, class: p.id === opened ? 'active' : '' },
          h('td', {}, h('a', { href: ctx.href('/reports', { published: p.id, report: p.report, period: p.period, agency: p.agency }) }, pick(p.title))),
          h('td', {}, p.period),
          h('td', {}, p.agency ? agencyLabel(p.agency) : t('whole_province')),
          h('td', { class: 'num' }, p.lake_version),
          h('td', {}, fmtTime(p.published_at)),
          h('td', {}, p.published_by),
          h('td', { class: 'actions' },
            h('button', { type: 'button', name: 'xlsx', onclick: () => download(path, { format: 'xlsx', lang: lang() }, `${p.id}.xlsx`) }, 'XLSX'),
            h('button', { type: 'button', name: 'pdf', onclick: () => download(path, { format: 'pdf', lang: lang() }, `${p.id}.pdf`) }, 'PDF')));
      });
      published.replaceChildren(h('div', { class: 'table-wrap' }, h('table', { class: 'published' }, h('thead', {}, head), h('tbody', {}, rows))));
    } catch (e) {
      published.replaceChildren(errorBox(e));
    }
  };

  const loadRecord = async () => {
    if (!opened) return;
    try {
      const path = `/api/v1/reports/published/${encodeURIComponent(opened)}`;
      const [p, comparison] = await Promise.all([ctx.api.request(path), ctx.api.request(`${path}/changes`)]);
      record.replaceChildren(
        h('p', { class: 'muted' }, t('report_frozen', { id: p.id, at: fmtTime(p.published_at), by: p.published_by, d: p.digest.slice(0, 12) })),
        h('div', { class: 'controls' },
          h('button', { type: 'button', name: 'published-xlsx', onclick: () => download(path, { format: 'xlsx', lang: lang() }, `${p.id}.xlsx`) }, t('report_xlsx')),
          h('button', { type: 'button', name: 'published-pdf', onclick: () => download(path, { format: 'pdf', lang: lang() }, `${p.id}.pdf`) }, t('report_pdf'))),
        h('section', { class: 'report-changes', dataset: { panel: 'report-changes' } },
          h('h3', {}, t('report_changes')), changesView(comparison)),
        reportView(p.figures));
    } catch (e) {
      record.replaceChildren(errorBox(e));
    }
  };

  const load = () => Promise.all([loadPreview(), loadPublished(), loadRecord()]);
  await load();
  return { refresh: load };
}
