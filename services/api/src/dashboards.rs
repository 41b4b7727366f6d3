//! Dashboards as code: one TOML file per dashboard (`dashboards/<id>.toml`), checked when the
//! server starts — an unknown metric, bucket, chart, target or SQL stops it with the file and
//! panel named — and re-read when a file changes, so a new panel needs no rebuild. A file that
//! breaks while the server runs is reported and the last good definitions stay in service.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use chrono::{Days, Months, NaiveDate};
use parwatch_lake::QueryEngine;
use parwatch_metrics::{Better, Bucket, MetricDef, Unit};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use utoipa::ToSchema;

/// The definitions shipped in the repository's `dashboards/`, used when no directory is
/// configured and `./dashboards` does not exist.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "province",
        include_str!("../../../dashboards/province.toml"),
    ),
    ("agency", include_str!("../../../dashboards/agency.toml")),
    ("quality", include_str!("../../../dashboards/quality.toml")),
];

/// Named parameters a panel's SQL may use.
const SQL_PARAMETERS: &[&str] = &["$from", "$to", "$agency", "$bucket"];

/// A dashboard definition that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The directory cannot be read.
    #[error("dashboards directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file is wrong as a whole (unreadable, not TOML, a bad field).
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// One panel of a file is wrong.
    #[error("{file}: panel {panel:?}: {message}")]
    Panel {
        /// The file.
        file: String,
        /// The panel's id.
        panel: String,
        /// What is wrong.
        message: String,
    },
}

/// Text in both languages of the UI.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Text {
    /// Vietnamese (the default).
    pub(crate) vi: String,
    /// English.
    pub(crate) en: String,
}

/// Whether a dashboard can be narrowed to one agency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AgencyFilter {
    /// Province-wide only.
    None,
    /// Province-wide, or one agency.
    #[default]
    Optional,
    /// Always one agency.
    Required,
}

/// How a panel shows its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Chart {
    /// One number for the range, against the previous period and the target (metric).
    Stat,
    /// A line per series over time.
    Line,
    /// Bars per bucket.
    Bar,
    /// Agencies ranked on the metric over the range (metric).
    Ranking,
    /// The rows of a query (SQL).
    Table,
}

/// Where a panel's numbers come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A metric of the catalogue.
    Metric(&'static MetricDef),
    /// A read-only query; may use `$from`, `$to`, `$agency`, `$bucket`.
    Sql(String),
}

/// Which side of the target is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum Comparison {
    /// The value should be at least the target.
    #[serde(rename = ">=")]
    AtLeast,
    /// The value should be at most the target.
    #[serde(rename = "<=")]
    AtMost,
}

/// A target such as "online ≥ 80%", as a number in the metric's unit (80% is 0.8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub(crate) struct Target {
    /// The direction.
    pub(crate) op: Comparison,
    /// The bound.
    pub(crate) value: f64,
}

impl Target {
    /// Whether `value` meets the target.
    pub(crate) fn met(&self, value: f64) -> bool {
        match self.op {
            Comparison::AtLeast => value >= self.value,
            Comparison::AtMost => value <= self.value,
        }
    }
}

/// A default range: the current calendar unit and the `count - 1` before it, up to today
/// (`12m`: this month and the 11 before; `90d`: the last 90 days; `1y`: the year to date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RangeSpec {
    count: u32,
    unit: Bucket,
}

impl RangeSpec {
    fn parse(text: &str) -> Option<Self> {
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let count: u32 = text[..split]
            .parse()
            .ok()
            .filter(|n| (1..=999).contains(n))?;
        let unit = match &text[split..] {
            "d" => Bucket::Day,
            "w" => Bucket::Week,
            "m" => Bucket::Month,
            "q" => Bucket::Quarter,
            "y" => Bucket::Year,
            _ => return None,
        };
        Some(Self { count, unit })
    }

    /// `[from, to]` ending `today`.
    pub(crate) fn resolve(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let back = self.count - 1;
        let start = self.unit.start(today);
        let from = match self.unit {
            Bucket::Day => start.checked_sub_days(Days::new(u64::from(back))),
            Bucket::Week => start.checked_sub_days(Days::new(7 * u64::from(back))),
            Bucket::Month => start.checked_sub_months(Months::new(back)),
            Bucket::Quarter => start.checked_sub_months(Months::new(3 * back)),
            Bucket::Year => start.checked_sub_months(Months::new(12 * back)),
        };
        let first = parwatch_metrics::FIRST_DATE;
        (from.map_or(first, |from| from.max(first)), today)
    }

    fn spec(self) -> String {
        let unit = match self.unit {
            Bucket::Day => 'd',
            Bucket::Week => 'w',
            Bucket::Month => 'm',
            Bucket::Quarter => 'q',
            Bucket::Year => 'y',
        };
        format!("{}{unit}", self.count)
    }
}

/// The ranges the pages offer as one-click choices.
const PRESETS: &[&str] = &["30d", "90d", "12m", "1y", "2y"];

/// A range as the pages offer it: its spec and its dates today.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Range {
    /// A count and a unit d, w, m, q or y.
    #[schema(example = "12m")]
    spec: String,
    /// First day.
    from: NaiveDate,
    /// Last day (today).
    to: NaiveDate,
}

impl Range {
    fn new(spec: RangeSpec, today: NaiveDate) -> Self {
        let (from, to) = spec.resolve(today);
        Self {
            spec: spec.spec(),
            from,
            to,
        }
    }
}

/// The preset ranges resolved for `today`.
pub(crate) fn presets(today: NaiveDate) -> Vec<Range> {
    PRESETS
        .iter()
        .filter_map(|spec| RangeSpec::parse(spec))
        .map(|spec| Range::new(spec, today))
        .collect()
}

/// One panel of a dashboard.
#[derive(Debug, Clone)]
pub(crate) struct Panel {
    /// Id, unique in its dashboard.
    pub(crate) id: String,
    /// Title.
    pub(crate) title: Text,
    /// Metric or SQL.
    pub(crate) source: Source,
    /// How it is drawn.
    pub(crate) chart: Chart,
    /// Bucket of its time series.
    pub(crate) bucket: Bucket,
    /// Target of a metric panel.
    pub(crate) target: Option<Target>,
}

/// One dashboard: a page of panels.
#[derive(Debug, Clone)]
pub(crate) struct Dashboard {
    /// Id: the file name without `.toml`.
    pub(crate) id: String,
    /// Title.
    pub(crate) title: Text,
    /// What a monitor learns here.
    pub(crate) description: Option<Text>,
    /// Place in the menu (smallest first).
    pub(crate) order: i32,
    /// Whether it can be narrowed to one agency.
    pub(crate) agency: AgencyFilter,
    /// Range shown when none is chosen.
    pub(crate) default_range: RangeSpec,
    /// Default bucket of its charts.
    pub(crate) bucket: Bucket,
    /// Its panels, in order.
    pub(crate) panels: Vec<Panel>,
}

impl Dashboard {
    /// The panel with this id.
    pub(crate) fn panel(&self, id: &str) -> Option<&Panel> {
        self.panels.iter().find(|p| p.id == id)
    }

    /// The definition as the pages read it (SQL text left out), with the default range
    /// resolved for `today`.
    pub(crate) fn definition(&self, today: NaiveDate) -> DashboardDefinition {
        let panels = self
            .panels
            .iter()
            .map(|p| {
                let metric = match &p.source {
                    Source::Metric(m) => Some(*m),
                    Source::Sql(_) => None,
                };
                PanelDefinition {
                    id: p.id.clone(),
                    title: p.title.clone(),
                    chart: p.chart,
                    bucket: p.bucket.as_str(),
                    metric: metric.map(|m| m.name),
                    unit: metric.map(|m| m.unit),
                    better: metric.map(|m| m.better),
                    target: p.target,
                }
            })
            .collect();
        DashboardDefinition {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            agency: self.agency,
            bucket: self.bucket.as_str(),
            default_range: Range::new(self.default_range, today),
            presets: presets(today),
            panels,
        }
    }

    /// The dashboard as the menu lists it.
    pub(crate) fn summary(&self) -> DashboardSummary {
        DashboardSummary {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            agency: self.agency,
        }
    }
}

/// A dashboard as the menu lists it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DashboardSummary {
    /// Id.
    id: String,
    /// Title.
    title: Text,
    /// What a monitor learns there.
    description: Option<Text>,
    /// Whether it can be narrowed to one agency.
    agency: AgencyFilter,
}

/// A dashboard's definition as the pages read it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Dashboard)]
pub(crate) struct DashboardDefinition {
    /// Id.
    id: String,
    /// Title.
    title: Text,
    /// What a monitor learns there.
    description: Option<Text>,
    /// Whether it can be narrowed to one agency.
    agency: AgencyFilter,
    /// Default bucket of its charts.
    bucket: &'static str,
    /// The range shown when none is chosen.
    default_range: Range,
    /// The ranges offered as one-click choices.
    presets: Vec<Range>,
    /// Its panels, in order.
    panels: Vec<PanelDefinition>,
}

/// A panel's definition as the pages read it (a SQL panel's text left out).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Panel)]
pub(crate) struct PanelDefinition {
    /// Id, unique in its dashboard.
    id: String,
    /// Title.
    title: Text,
    /// How it is drawn.
    chart: Chart,
    /// Bucket of its time series.
    bucket: &'static str,
    /// Its metric; null for a SQL panel.
    metric: Option<&'static str>,
    /// The metric's unit.
    unit: Option<Unit>,
    /// The metric's better direction.
    better: Option<Better>,
    /// Its target.
    target: Option<Target>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DashboardFile {
    title: Text,
    description: Option<Text>,
    #[serde(default = "default_order")]
    order: i32,
    #[serde(default)]
    agency: AgencyFilter,
    default_range: String,
    #[serde(default = "default_bucket")]
    bucket: String,
    panels: Vec<PanelFile>,
}

fn default_order() -> i32 {
    100
}

fn default_bucket() -> String {
    "month".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PanelFile {
    id: String,
    title: Text,
    metric: Option<String>,
    sql: Option<String>,
    chart: Chart,
    bucket: Option<String>,
    target: Option<String>,
}

/// Letters, digits, `-` and `_`; what ids in URLs and file names may hold.
fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn parse_bucket(text: &str) -> Result<Bucket, String> {
    Bucket::parse(text)
        .ok_or_else(|| format!("bucket {text:?} is not one of day, week, month, quarter, year"))
}

/// Parses "≥ 80%", ">= 0.8", "≤ 3", "97,5%" for `metric`; without a sign, the metric's
/// better direction decides.
fn parse_target(text: &str, metric: &MetricDef) -> Result<Target, String> {
    let bad = |why: &str| format!("target {text:?}: {why}");
    let trimmed = text.trim();
    let (op, rest) = [
        ("≥", Comparison::AtLeast),
        (">=", Comparison::AtLeast),
        ("≤", Comparison::AtMost),
        ("<=", Comparison::AtMost),
    ]
    .iter()
    .find_map(|(sign, op)| trimmed.strip_prefix(sign).map(|rest| (Some(*op), rest)))
    .unwrap_or((None, trimmed));
    let op = match (op, metric.better) {
        (Some(op), _) => op,
        (None, Better::Higher) => Comparison::AtLeast,
        (None, Better::Lower) => Comparison::AtMost,
        (None, Better::Neither) => {
            return Err(bad(
                "say whether it is a floor (≥) or a ceiling (≤): this metric has no better direction",
            ));
        }
    };
    let rest = rest.trim();
    let (number, percent) = match rest.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (rest, false),
    };
    let number: f64 = number
        .replace(',', ".")
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| bad("expected a sign and a number, e.g. \"≥ 80%\""))?;
    let value = match (metric.unit, percent) {
        (Unit::Ratio, true) if number <= 100.0 => number / 100.0,
        (Unit::Ratio, true) => return Err(bad("a share cannot exceed 100%")),
        (Unit::Ratio, false) if number <= 1.0 => number,
        (Unit::Ratio, false) => return Err(bad("a share is written as a percentage, e.g. 80%")),
        (_, true) => return Err(bad(&format!("{} is not a share: no %", metric.name))),
        (_, false) => number,
    };
    Ok(Target { op, value })
}

/// Parses and checks one file's text; SQL is checked later, against the engine.
fn parse(id: &str, file: &str, text: &str) -> Result<Dashboard, DashboardError> {
    let file_error = |message: String| DashboardError::File {
        file: file.to_owned(),
        message,
    };
    if !is_id(id) {
        return Err(file_error(format!(
            "the file name {id:?} is the dashboard's id: use lower-case letters, digits, - and _"
        )));
    }
    let raw: DashboardFile = toml::from_str(text).map_err(|e| file_error(e.to_string()))?;
    let default_range = RangeSpec::parse(&raw.default_range).ok_or_else(|| {
        file_error(format!(
            "default_range {:?}: expected a count and a unit d, w, m, q or y, e.g. \"12m\"",
            raw.default_range
        ))
    })?;
    let bucket = parse_bucket(&raw.bucket).map_err(file_error)?;
    if raw.title.vi.trim().is_empty() || raw.title.en.trim().is_empty() {
        return Err(file_error("title: both vi and en are needed".to_owned()));
    }
    if raw.panels.is_empty() {
        return Err(file_error("no [[panels]]".to_owned()));
    }
    let mut panels: Vec<Panel> = Vec::with_capacity(raw.panels.len());
    for p in raw.panels {
        let panel_error = |message: String| DashboardError::Panel {
            file: file.to_owned(),
            panel: p.id.clone(),
            message,
        };
        if !is_id(&p.id) {
            return Err(panel_error(
                "id: use lower-case letters, digits, - and _".to_owned(),
            ));
        }
        if panels.iter().any(|q| q.id == p.id) {
            return Err(panel_error("id used twice".to_owned()));
        }
        if p.title.vi.trim().is_empty() || p.title.en.trim().is_empty() {
            return Err(panel_error("title: both vi and en are needed".to_owned()));
        }
        let source = match (&p.metric, &p.sql) {
            (Some(name), None) => {
                Source::Metric(parwatch_metrics::metric(name).ok_or_else(|| {
                    let known: Vec<&str> =
                        parwatch_metrics::METRICS.iter().map(|m| m.name).collect();
                    panel_error(format!(
                        "unknown metric {name:?}; known: {}",
                        known.join(", ")
                    ))
                })?)
            }
            (None, Some(sql)) if !sql.trim().is_empty() => Source::Sql(sql.clone()),
            _ => {
                return Err(panel_error(
                    "give exactly one of metric = \"...\" or sql = \"...\"".to_owned(),
                ));
            }
        };
        let allowed: &[Chart] = match source {
            Source::Metric(_) => &[Chart::Stat, Chart::Line, Chart::Bar, Chart::Ranking],
            Source::Sql(_) => &[Chart::Line, Chart::Bar, Chart::Table],
        };
        if !allowed.contains(&p.chart) {
            let kind = if matches!(source, Source::Sql(_)) {
                "an SQL panel"
            } else {
                "a metric panel"
            };
            let name = |c: &Chart| format!("{c:?}").to_lowercase();
            return Err(panel_error(format!(
                "chart {} does not suit {kind}; use one of {}",
                name(&p.chart),
                allowed.iter().map(name).collect::<Vec<_>>().join(", ")
            )));
        }
        let target = match (&p.target, &source) {
            (None, _) => None,
            (Some(text), Source::Metric(m)) => Some(parse_target(text, m).map_err(panel_error)?),
            (Some(_), Source::Sql(_)) => {
                return Err(panel_error("a target needs a metric panel".to_owned()));
            }
        };
        let panel_bucket = match &p.bucket {
            Some(b) => parse_bucket(b).map_err(panel_error)?,
            None => bucket,
        };
        panels.push(Panel {
            id: p.id,
            title: p.title,
            source,
            chart: p.chart,
            bucket: panel_bucket,
            target,
        });
    }
    Ok(Dashboard {
        id: id.to_owned(),
        title: raw.title,
        description: raw.description,
        order: raw.order,
        agency: raw.agency,
        default_range,
        bucket,
        panels,
    })
}

/// Plans every SQL panel: it must be a read-only query over known tables and columns, use
/// only the known parameters, and use `$agency` when the dashboard can be narrowed to one
/// agency (so an embed locked to an agency never shows another's rows).
async fn check_sql(
    engine: &QueryEngine,
    file: &str,
    dashboard: &Dashboard,
) -> Result<(), DashboardError> {
    for panel in &dashboard.panels {
        let Source::Sql(sql) = &panel.source else {
            continue;
        };
        let panel_error = |message: String| DashboardError::Panel {
            file: file.to_owned(),
            panel: panel.id.clone(),
            message,
        };
        let plan = engine
            .session(&parwatch_lake::Scope::All)
            .map_err(|e| panel_error(format!("sql: {e}")))?
            .plan_sql(sql)
            .await
            .map_err(|e| panel_error(format!("sql: {e}")))?;
        let used = plan
            .get_parameter_types()
            .map_err(|e| panel_error(format!("sql: {e}")))?;
        if let Some(unknown) = used.keys().find(|k| !SQL_PARAMETERS.contains(&k.as_str())) {
            return Err(panel_error(format!(
                "sql: unknown parameter {unknown}; use {}",
                SQL_PARAMETERS.join(", ")
            )));
        }
        if dashboard.agency != AgencyFilter::None && !used.contains_key("$agency") {
            return Err(panel_error(
                "sql: this dashboard can be narrowed to one agency, so its SQL must use $agency, \
                 e.g. WHERE ($agency IS NULL OR agency_code = $agency)"
                    .to_owned(),
            ));
        }
    }
    Ok(())
}

/// A set of checked dashboards, by id.
pub(crate) type DashboardSet = BTreeMap<String, Arc<Dashboard>>;

/// Where the definitions come from.
#[derive(Debug, Clone)]
enum Origin {
    Dir(PathBuf),
    BuiltIn,
}

/// Files of the directory with their modification time and size: what says "changed".
type Fingerprint = Vec<(PathBuf, Option<SystemTime>, u64)>;

#[derive(Debug)]
struct Loaded {
    fingerprint: Fingerprint,
    set: Arc<DashboardSet>,
    /// Why the newest files are not in service, when they are not.
    error: Option<String>,
}

/// The dashboards in service, re-read from their directory when a file changes.
#[derive(Debug)]
pub(crate) struct Dashboards {
    origin: Origin,
    engine: QueryEngine,
    loaded: Mutex<Loaded>,
}

impl Dashboards {
    /// Loads and checks every `*.toml` of `dir`; with `None`, `./dashboards` when it exists,
    /// else the definitions built into the binary. Any mistake is an error.
    pub(crate) async fn open(
        dir: Option<&Path>,
        engine: QueryEngine,
    ) -> Result<Self, DashboardError> {
        let origin = match dir {
            Some(dir) => Origin::Dir(dir.to_path_buf()),
            None if Path::new("dashboards").is_dir() => Origin::Dir(PathBuf::from("dashboards")),
            None => Origin::BuiltIn,
        };
        let fingerprint = fingerprint(&origin)?;
        let set = load(&origin, &engine).await?;
        match &origin {
            Origin::Dir(dir) => {
                tracing::info!(dir = %dir.display(), dashboards = set.len(), "dashboards loaded")
            }
            Origin::BuiltIn => tracing::info!(
                dashboards = set.len(),
                "built-in dashboards (no ./dashboards directory)"
            ),
        }
        Ok(Self {
            origin,
            engine,
            loaded: Mutex::new(Loaded {
                fingerprint,
                set: Arc::new(set),
                error: None,
            }),
        })
    }

    /// The dashboards in service, re-read first if a file changed; with the reason the newest
    /// files were refused, if they were.
    pub(crate) async fn current(&self) -> (Arc<DashboardSet>, Option<String>) {
        let mut loaded = self.loaded.lock().await;
        let now = fingerprint(&self.origin);
        let changed = match &now {
            Ok(f) => *f != loaded.fingerprint,
            Err(_) => true,
        };
        if changed {
            let result = match now {
                Ok(f) => {
                    loaded.fingerprint = f;
                    load(&self.origin, &self.engine).await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(set) => {
                    tracing::info!(dashboards = set.len(), "dashboards reloaded");
                    loaded.set = Arc::new(set);
                    loaded.error = None;
                }
                Err(e) => {
                    let message = e.to_string();
                    if loaded.error.as_ref() != Some(&message) {
                        tracing::warn!(error = %message, "dashboards not reloaded; the previous ones stay in service");
                    }
                    loaded.error = Some(message);
                }
            }
        }
        (Arc::clone(&loaded.set), loaded.error.clone())
    }

    /// One dashboard by id.
    pub(crate) async fn get(&self, id: &str) -> Option<Arc<Dashboard>> {
        self.current().await.0.get(id).cloned()
    }
}

fn fingerprint(origin: &Origin) -> Result<Fingerprint, DashboardError> {
    let Origin::Dir(dir) = origin else {
        return Ok(Vec::new());
    };
    let dir_error = |source| DashboardError::Dir {
        path: dir.clone(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let path = entry.map_err(dir_error)?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let meta = std::fs::metadata(&path).ok();
            out.push((
                path,
                meta.as_ref().and_then(|m| m.modified().ok()),
                meta.map_or(0, |m| m.len()),
            ));
        }
    }
    out.sort();
    Ok(out)
}

async fn load(origin: &Origin, engine: &QueryEngine) -> Result<DashboardSet, DashboardError> {
    let files: Vec<(String, String, String)> = match origin {
        Origin::BuiltIn => BUILT_IN
            .iter()
            .map(|(id, text)| {
                (
                    (*id).to_owned(),
                    format!("built-in {id}.toml"),
                    (*text).to_owned(),
                )
            })
            .collect(),
        Origin::Dir(dir) => {
            let mut files = Vec::new();
            for (path, ..) in fingerprint(origin)? {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(&path).map_err(|e| DashboardError::File {
                    file: name.clone(),
                    message: e.to_string(),
                })?;
                let id = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.push((id, name, text));
            }
            if files.is_empty() {
                return Err(DashboardError::File {
                    file: dir.display().to_string(),
                    message: "no dashboard files (*.toml)".to_owned(),
                });
            }
            files
        }
    };
    let mut set = DashboardSet::new();
    for (id, name, text) in files {
        let dashboard = parse(&id, &name, &text)?;
        check_sql(engine, &name, &dashboard).await?;
        set.insert(id, Arc::new(dashboard));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    const MINIMAL: &str = r#"
title = { vi = "Thử", en = "Test" }
default_range = "12m"

[[panels]]
id = "online"
title = { vi = "Trực tuyến", en = "Online" }
metric = "online_uptake"
chart = "stat"
"#;

    fn with_panel(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    fn error(text: &str) -> String {
        parse("test", "test.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn ranges_count_back_whole_calendar_units() {
        let today = date("2025-05-14");
        let cases = [
            ("1d", "2025-05-14"),
            ("30d", "2025-04-15"),
            ("2w", "2025-05-05"),
            ("12m", "2024-06-01"),
            ("1q", "2025-04-01"),
            ("4q", "2024-07-01"),
            ("1y", "2025-01-01"),
            ("2y", "2024-01-01"),
        ];
        for (spec, from) in cases {
            let range = RangeSpec::parse(spec).unwrap();
            assert_eq!(range.resolve(today), (date(from), today), "{spec}");
            assert_eq!(range.spec(), spec);
        }
        for bad in ["", "m", "12", "0m", "12x", "1000d", "-1d", "1.5y"] {
            assert_eq!(RangeSpec::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn targets_read_signs_percentages_and_decimal_commas() {
        let uptake = parwatch_metrics::metric("online_uptake").unwrap();
        let late = parwatch_metrics::metric("late_files").unwrap();
        let received = parwatch_metrics::metric("received").unwrap();
        let t = |text, m| parse_target(text, m);
        let at_least = |value| {
            Ok(Target {
                op: Comparison::AtLeast,
                value,
            })
        };
        assert_eq!(t("≥ 80%", uptake), at_least(0.8));
        assert_eq!(t(">=0.8", uptake), at_least(0.8));
        assert_eq!(t("97,5%", uptake), at_least(0.975));
        assert_eq!(
            t("≤ 20", late),
            Ok(Target {
                op: Comparison::AtMost,
                value: 20.0
            })
        );
        assert_eq!(t("20", late).unwrap().op, Comparison::AtMost);
        assert!(t("120%", uptake).unwrap_err().contains("100%"));
        assert!(t("80", uptake).unwrap_err().contains("percentage"));
        assert!(t("5%", late).unwrap_err().contains("not a share"));
        assert!(t("1000", received).unwrap_err().contains("floor"));
        assert!(t("≥ lots", uptake).unwrap_err().contains("\"≥ lots\""));
        let target = at_least(0.8).unwrap();
        assert!(target.met(0.8) && !target.met(0.79));
    }

    #[test]
    fn a_good_file_parses() {
        let d = parse("test", "test.toml", MINIMAL).unwrap();
        assert_eq!(d.bucket, Bucket::Month);
        assert_eq!(d.agency, AgencyFilter::Optional);
        assert_eq!(d.panels[0].bucket, Bucket::Month);
        let json = serde_json::to_value(d.definition(date("2025-05-14"))).unwrap();
        assert_eq!(json["default_range"]["from"], "2024-06-01");
        assert_eq!(json["panels"][0]["unit"], "ratio");
        assert_eq!(
            json["presets"][3],
            serde_json::json!({"spec": "1y", "from": "2025-01-01", "to": "2025-05-14"})
        );
    }

    #[test]
    fn mistakes_name_the_file_and_panel() {
        let cases = [
            (
                MINIMAL.replace("online_uptake", "online_uptak"),
                "test.toml: panel \"online\": unknown metric \"online_uptak\"",
            ),
            (
                MINIMAL.replace("\"stat\"", "\"pie\""),
                "unknown variant `pie`",
            ),
            (
                MINIMAL.replace("\"12m\"", "\"a year\""),
                "test.toml: default_range \"a year\"",
            ),
            (
                with_panel("bucket = \"fortnight\"\n"),
                "panel \"online\": bucket \"fortnight\"",
            ),
            (
                with_panel("target = \"≥ 180%\"\n"),
                "panel \"online\": target \"≥ 180%\": a share cannot exceed 100%",
            ),
            (
                with_panel("sql = \"SELECT 1\"\n"),
                "give exactly one of metric",
            ),
            (
                MINIMAL.replace("\"stat\"", "\"table\""),
                "chart table does not suit a metric panel; use one of stat, line, bar, ranking",
            ),
            (with_panel("colour = \"red\"\n"), "unknown field `colour`"),
            (
                format!(
                    "{MINIMAL}\n[[panels]]\nid = \"online\"\ntitle = {{ vi = \"a\", en = \"b\" }}\nmetric = \"received\"\nchart = \"bar\"\n"
                ),
                "panel \"online\": id used twice",
            ),
            (
                MINIMAL.replace("en = \"Online\"", "en = \"\""),
                "panel \"online\": title",
            ),
        ];
        for (text, expected) in cases {
            let message = error(&text);
            assert!(
                message.contains(expected),
                "{message}\n  should contain: {expected}"
            );
        }
        let bad_id = parse("Province!", "Province!.toml", MINIMAL).unwrap_err();
        assert!(bad_id.to_string().contains("lower-case"), "{bad_id}");
    }

    #[test]
    fn the_built_in_copies_are_the_repository_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut built_in: Vec<String> = BUILT_IN.iter().map(|(id, _)| (*id).to_owned()).collect();
        built_in.sort();
        assert_eq!(
            on_disk, built_in,
            "list every file of dashboards/ in BUILT_IN"
        );
        for (id, text) in BUILT_IN {
            parse(id, id, text).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
