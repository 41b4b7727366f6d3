// ParWatch's web app: reads the page's configuration (app, embed, or a refused embed), draws
// the header and the page the address names, and every few seconds asks whether new events
// have landed, redrawing the page's data in place (no reload) when they have.

import { Api, saveToken, savedToken } from './api.js';
import { currentLang, fmtTime, initLang, pick, setAgencyNames, setLang, t } from './i18n.js';
import { agencyPage, dashboardPage, h, qualityPage, rankingPage, sqlPage } from './pages.js';
import { index766AgencyPage, index766Page } from './index766.js';
import { parAgencyPage, parPage } from './par.js';
import { reportsPage } from './reports.js';

const REFRESH_MS = 5000;
const HOME = 'province';
const QUALITY = 'quality';

const config = JSON.parse(document.getElementById('pw-config').textContent);
const api = new Api(config);
const root = document.getElementById('app');

let page = null;
let renders = 0;
let version = null;
/** Whether the last check for new data failed. */
let failing = false;
/** The agency lists asked so far, by view (`''` as recorded, `restated:<date>`). */
const agencyLists = new Map();
/** Every name the lists brought, by language, for `agencyLabel`. */
const agencyNames = { vi: {}, en: {} };
let dashboards = [];

/** The route in the address: `#/path/parts?param=value`. */
function route() {
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || '') };
}

/** The address of a page: `#path?params`, empty params left out. */
function href(path, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const text = q.toString();
  return `#${path}${text ? `?${text}` : ''}`;
}

function go(path, params = {}) {
  location.hash = href(path, params);
}

/**
 * The agencies with data the caller may see, or in a restated `view` the units of its date;
 * their names go to `agencyLabel`.
 */
async function agencies(view = {}) {
  const key = view.units === 'restated' ? `restated:${view.units_date || ''}` : '';
  if (!agencyLists.has(key)) {
    const listed = await api.agencies(view);
    Object.assign(agencyNames.vi, listed.names);
    Object.assign(agencyNames.en, listed.names, listed.names_en);
    setAgencyNames(agencyNames[currentLang()]);
    agencyLists.set(key, listed.agencies);
  }
  return agencyLists.get(key);
}

/** The context pages work with. */
function context(current) {
  const path = `/${current.parts.map(encodeURIComponent).join('/')}`;
  return {
    api,
    config,
    params: current.params,
    go,
    href,
    setParams(changes) {
      const next = Object.fromEntries(current.params);
      Object.assign(next, changes);
      go(path, next);
    },
    setAgency(code) {
      const next = Object.fromEntries(current.params);
      if (current.parts[0] === 'agency') {
        delete next.agency;
        go(`/agency/${encodeURIComponent(code)}`, next);
      } else {
        next.agency = code;
        go(path, next);
      }
    },
    agencies,
  };
}

function header(active) {
  const byId = (id) => dashboards.find((d) => d.id === id);
  const agencyDashboard = dashboards.find((d) => d.agency === 'required');
  const links = [];
  for (const d of dashboards) {
    if (d.id === QUALITY) continue;
    if (d === agencyDashboard) continue;
    links.push([`#/d/${d.id}`, pick(d.title), `d/${d.id}`]);
  }
  links.splice(1, 0, ['#/ranking', t('nav_ranking'), 'ranking']);
  if (agencyDashboard) links.splice(2, 0, ['#/agency', pick(agencyDashboard.title), 'agency']);
  links.splice(agencyDashboard ? 3 : 2, 0, ['#/par', t('nav_par'), 'par']);
  links.splice(agencyDashboard ? 4 : 3, 0, ['#/index-766', t('nav_index766'), 'index-766']);
  if (byId(QUALITY)) links.push(['#/quality', pick(byId(QUALITY).title), 'quality']);
  links.push(['#/reports', t('nav_reports'), 'reports']);
  links.push(['#/sql', t('nav_sql'), 'sql']);

  const tokenInput = h('input', { type: 'password', name: 'token', placeholder: t('token_placeholder'), autocomplete: 'off' });
  tokenInput.value = savedToken();
  const tokenNote = h('span', { class: 'muted', role: 'status' });
  const token = h('details', { class: 'token' },
    h('summary', {}, t('token')),
    h('div', { class: 'token-form' }, tokenInput,
      h('button', { type: 'button', onclick: () => {
        saveToken(tokenInput.value.trim());
        tokenNote.textContent = tokenInput.value.trim() ? t('token_saved') : t('token_cleared');
        render();
      } }, t('token_save')), tokenNote));
  return h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/' }, h('img', { src: '/assets/favicon.svg', alt: '', width: '28', height: '28' }),
      h('span', {}, h('strong', {}, 'ParWatch'), h('small', {}, t('tagline')))),
    h('nav', {}, ...links.map(([href, label, key]) => h('a', { href, class: key === active ? 'active' : '' }, label))),
    h('div', { class: 'tools' },
      h('span', { class: 'updated muted', id: 'updated' }), announcer(),
      token,
      h('button', { type: 'button', class: 'lang', onclick: () => { setLang(currentLang() === 'vi' ? 'en' : 'vi'); setAgencyNames(agencyNames[currentLang()]); render(); } }, t('lang_switch'))));
}

/**
 * The page's live region, read out by screen readers when its text changes: only news (new
 * data shown, updates failing or working again), never the time of each quiet check.
 */
function announcer() {
  return h('span', { class: 'sr-only', id: 'announce', role: 'status' });
}

function announce(text) {
  const el = document.getElementById('announce');
  if (el) el.textContent = text;
}

/** When the data was last checked: shown, not announced. */
function showUpdated(text) {
  const el = document.getElementById('updated');
  if (el) el.textContent = text;
}

async function render() {
  const seq = ++renders;
  const previous = document.getElementById('page');
  if (previous) previous.dataset.state = 'loading';
  const current = route();
  const ctx = context(current);
  const main = h('main', { id: 'page' });
  if (config.mode === 'embed') {
    setAgencyNames(config.names);
    root.replaceChildren(main, h('footer', { class: 'embed-footer muted' }, h('span', {}, t('embed_source')), ' · ', h('span', { id: 'updated' }), announcer()));
    page = await show(main, () => dashboardPage(ctx, main, config.dashboard), seq);
    return;
  }
  const [first, second] = current.parts;
  const active = first === 'd' ? `d/${second}` : first || `d/${HOME}`;
  try {
    const [listed] = await Promise.all([api.dashboards(), agencies().catch(() => null)]);
    dashboards = listed.dashboards;
    root.replaceChildren(header(active), listed.error ? h('div', { class: 'banner', role: 'alert' }, t('dashboard_error', { e: listed.error })) : '', main);
  } catch (e) {
    root.replaceChildren(header(active), main);
    main.append(h('div', { class: 'error', role: 'alert' }, `${t('error')}: ${e.message}`));
    return;
  }
  const home = dashboards.find((d) => d.id === HOME) || dashboards[0];
  const agencyDashboard = dashboards.find((d) => d.agency === 'required');
  let draw;
  switch (first) {
    case 'ranking':
      draw = () => rankingPage(ctx, main);
      break;
    case 'agency':
      draw = () => agencyPage(ctx, main, second, agencyDashboard?.id);
      break;
    case 'par':
      draw = () => (second ? parAgencyPage(ctx, main, second) : parPage(ctx, main));
      break;
    case 'index-766':
      draw = () => (second ? index766AgencyPage(ctx, main, second) : index766Page(ctx, main));
      break;
    case 'quality':
      draw = () => qualityPage(ctx, main, QUALITY);
      break;
    case 'sql':
      draw = () => sqlPage(ctx, main);
      break;
    case 'reports':
      draw = () => reportsPage(ctx, main);
      break;
    case 'd':
      draw = () => dashboardPage(ctx, main, second);
      break;
    default:
      draw = () => dashboardPage(ctx, main, home?.id);
  }
  page = await show(main, draw, seq);
}

/** Draws a page; a page replaced by a newer navigation meanwhile is dropped. */
async function show(main, draw, seq) {
  main.dataset.state = 'loading';
  try {
    const drawn = await draw();
    return seq === renders ? drawn : page;
  } catch (e) {
    main.replaceChildren(h('div', { class: 'error', role: 'alert' }, `${t('error')}: ${e.message}`));
    return null;
  } finally {
    main.dataset.state = 'ready';
  }
}

/**
 * Asks whether new events landed; redraws the page's data when they did. Announces new data,
 * and a failure or recovery once each, not every check.
 */
async function poll() {
  try {
    const now = (await api.version()).version;
    const landed = version !== null && now !== version && page;
    if (landed) await page.refresh();
    version = now;
    const at = fmtTime(new Date().toISOString()).slice(11);
    showUpdated(t('updated_at', { t: at }));
    if (landed) announce(t('data_updated', { t: at }));
    else if (failing) announce(t('update_restored'));
    failing = false;
  } catch (e) {
    showUpdated(t('update_failed', { e: e.message }));
    if (!failing) announce(t('update_failed', { e: e.message }));
    failing = true;
  }
}

function refused() {
  const messages = {
    missing: 'refused_missing', expired: 'refused_expired', bad_signature: 'refused_bad_signature', malformed: 'refused_malformed',
  };
  root.replaceChildren(h('main', { class: 'refused', role: 'alert' },
    h('h1', {}, t('refused_title')),
    h('p', {}, t(messages[config.reason] || 'refused_other')),
    h('p', { class: 'muted' }, `${config.status} · ${config.message}`)));
}

initLang();
if (config.mode === 'refused') {
  refused();
} else {
  window.addEventListener('hashchange', render);
  render().then(poll);
  setInterval(poll, REFRESH_MS);
}
