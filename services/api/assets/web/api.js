// The pages' fetch layer. In the app, requests go to /api/v1 with `Authorization: Bearer` when
// the user saved an API token; in an embed, every request goes to /embed/api with the embed
// token, and the server decides what it may see.

import { safeStorage } from './i18n.js';

const TOKEN_KEY = 'parwatch.token';

/** An HTTP error with the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function savedToken() {
  return safeStorage(() => localStorage.getItem(TOKEN_KEY)) || '';
}

export function saveToken(token) {
  safeStorage(() => (token ? localStorage.setItem(TOKEN_KEY, token) : localStorage.removeItem(TOKEN_KEY)));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, Array.isArray(v) ? v.join(',') : v);
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

export class Api {
  /** `config`: the page's configuration; `mode` "embed" carries the embed token. */
  constructor(config) {
    this.embedToken = config.mode === 'embed' ? config.token : null;
  }

  get embedded() {
    return this.embedToken !== null;
  }

  headers(extra = {}) {
    const headers = { ...extra };
    const token = this.embedded ? '' : savedToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async request(path, { params, method = 'GET', body, raw = false } = {}) {
    const all = this.embedded ? { ...params, token: this.embedToken } : params;
    // No Referer: an embed's URL carries its token.
    const init = { method, headers: this.headers(body ? { 'Content-Type': 'application/json' } : {}), referrerPolicy: 'no-referrer' };
    if (body) init.body = JSON.stringify(body);
    const response = await fetch(path + query(all), init);
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        message = (await response.json()).error || message;
      } catch {
        // Not JSON: keep the status line.
      }
      throw new ApiError(response.status, message);
    }
    return raw ? response : response.json();
  }

  dashboards() {
    return this.request('/api/v1/dashboards');
  }

  dashboard(id) {
    return this.embedded ? this.request('/embed/api/dashboard') : this.request(`/api/v1/dashboards/${encodeURIComponent(id)}`);
  }

  panelPath(dashboard, panel) {
    return this.embedded
      ? `/embed/api/panels/${encodeURIComponent(panel)}`
      : `/api/v1/dashboards/${encodeURIComponent(dashboard)}/panels/${encodeURIComponent(panel)}`;
  }

  panel(dashboard, panel, params) {
    return this.request(this.panelPath(dashboard, panel), { params });
  }

  panelCsv(dashboard, panel, params, filename) {
    return this.download(this.panelPath(dashboard, panel), { params: { ...params, format: 'csv' } }, filename);
  }

  status() {
    return this.request('/api/v1/status');
  }

  /** A number that changes when data lands. */
  version() {
    return this.request(this.embedded ? '/embed/api/version' : '/api/v1/version');
  }

  /** The agencies with data, or with `{ units: 'restated', units_date }` the units of a date. */
  agencies(params) {
    return this.request('/api/v1/agencies', { params });
  }

  /** Today and the preset ranges, resolved by the server. */
  ranges() {
    return this.request('/api/v1/ranges');
  }

  catalogue() {
    return this.request('/api/v1/metrics');
  }

  ranking(params) {
    return this.request('/api/v1/ranking', { params });
  }

  /** The PAR Index of a year (`year`, `agency` optional, the view: `units`, `units_date`). */
  parIndex(params) {
    return this.request('/api/v1/par-index', { params });
  }

  /** One agency's PAR Index in every year it was scored (`params`: the view, `units`…). */
  parHistory(agency, params) {
    return this.request('/api/v1/par-index/history', { params: { ...params, agency } });
  }

  sql(sql) {
    return this.request('/api/v1/sql', { method: 'POST', body: { sql } });
  }

  sqlCsv(sql, filename) {
    return this.download('/api/v1/sql', { method: 'POST', body: { sql }, params: { format: 'csv' } }, filename);
  }

  /** Fetches a file (with the same credentials as any request) and saves it as `filename`. */
  async download(path, options, filename) {
    const response = await this.request(path, { ...options, raw: true });
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement('a');
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
