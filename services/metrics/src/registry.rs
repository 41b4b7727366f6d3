//! The registry of agencies over time, folded from the `agency.*` events: which agencies exist
//! on a date (with their names, level and parent), and the lineage of old → new units that
//! mergers and splits leave. Historical events keep the codes they were recorded with; the
//! lineage restates their figures to the units of a date (`restate.rs`), never rewrites them.
//!
//! Agencies seen in events but never registered (the directory `agencies.csv` and the codes
//! events carry) are units from the beginning: the registry only adds what the decisions say.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, Days, Months, NaiveDate};
use parwatch_proto::{AgencyLevel, EventData, SplitTarget};
use serde::{Deserialize, Serialize};

pub(crate) mod tables;

use crate::agencies::Agencies;
use crate::rollup::{Daily, Sums};

/// One registry event, as folded: the agency it is about, when it was recorded, when it takes
/// effect, on what basis, and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Change {
    /// The agency the event is about (`agency_code`).
    agency: String,
    /// `occurred_at`, UTC microseconds: orders changes of one effective date.
    at: i64,
    /// The effective date, as days since 0001-01-01 (`NaiveDate::num_days_from_ce`).
    date: i32,
    /// The legal basis (decision number).
    basis: String,
    /// What changed.
    what: What,
}

/// What a registry event changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum What {
    Registered {
        name_vi: String,
        name_en: Option<String>,
        level: String,
        parent: Option<String>,
    },
    Renamed {
        name_vi: String,
        name_en: Option<String>,
    },
    Merged {
        into: String,
    },
    Split {
        targets: Vec<(String, Option<f64>)>,
    },
    Dissolved,
}

impl Change {
    /// The change a registry event states, `None` for the data of other types.
    pub(crate) fn of(agency: &str, at: i64, data: EventData) -> Option<Self> {
        let (date, basis, what) = match data {
            EventData::AgencyRegistered {
                name_vi,
                name_en,
                level,
                parent,
                effective_date,
                basis,
            } => (
                effective_date,
                basis,
                What::Registered {
                    name_vi,
                    name_en,
                    level: level.as_str().to_owned(),
                    parent,
                },
            ),
            EventData::AgencyRenamed {
                name_vi,
                name_en,
                effective_date,
                basis,
            } => (effective_date, basis, What::Renamed { name_vi, name_en }),
            EventData::AgencyMerged {
                into,
                effective_date,
                basis,
            } => (effective_date, basis, What::Merged { into }),
            EventData::AgencySplit {
                targets,
                effective_date,
                basis,
            } => (
                effective_date,
                basis,
                What::Split {
                    targets: targets
                        .into_iter()
                        .map(
                            |SplitTarget {
                                 agency_code,
                                 weight,
                             }| (agency_code, weight),
                        )
                        .collect(),
                },
            ),
            EventData::AgencyDissolved {
                effective_date,
                basis,
            } => (effective_date, basis, What::Dissolved),
            _ => return None,
        };
        Some(Change {
            agency: agency.to_owned(),
            at,
            date: date.num_days_from_ce(),
            basis,
            what,
        })
    }

    fn date(&self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.date).expect("a date of the contract's years")
    }
}

/// Every registry event folded in, in effective order (date, then recording time, then
/// agency); identical events count once.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Registry {
    changes: Vec<Change>,
}

impl Registry {
    /// Folds one change in, keeping the effective order.
    pub(crate) fn apply(&mut self, change: Change) {
        let key = |c: &Change| (c.date, c.at, c.agency.clone());
        let at = self.changes.partition_point(|c| key(c) <= key(&change));
        if self.changes[..at]
            .iter()
            .rev()
            .take_while(|c| key(c) == key(&change))
            .any(|c| *c == change)
        {
            return;
        }
        self.changes.insert(at, change);
    }

    /// The changes as text, for a snapshot's metadata.
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(&self.changes).unwrap_or_default()
    }

    /// The changes of [`Registry::to_text`]; `None` when the text does not read.
    pub(crate) fn from_text(text: &str) -> Option<Self> {
        let mut registry = Registry::default();
        for change in serde_json::from_str::<Vec<Change>>(text).ok()? {
            registry.apply(change);
        }
        Some(registry)
    }

    /// Number of registry events folded in.
    pub(crate) fn len(&self) -> usize {
        self.changes.len()
    }

    /// The registry's periods: one per agency and name, registered agencies first by code,
    /// then the agencies seen only in events (`seen`).
    pub(crate) fn periods(&self, seen: &Agencies) -> Vec<Period> {
        let mut periods: BTreeMap<&str, Vec<Period>> = BTreeMap::new();
        let mut ends: HashMap<&str, NaiveDate> = HashMap::new();
        for change in &self.changes {
            let rows = periods.entry(&change.agency).or_default();
            match &change.what {
                What::Registered {
                    name_vi,
                    name_en,
                    level,
                    parent,
                } => {
                    // A registration again restates the agency from its date.
                    rows.clear();
                    rows.push(Period {
                        agency_code: change.agency.clone(),
                        name_vi: Some(name_vi.clone()),
                        name_en: name_en.clone(),
                        level: AgencyLevel::parse(level),
                        parent_code: parent.clone(),
                        valid_from: Some(change.date()),
                        valid_to: None,
                        basis: Some(change.basis.clone()),
                    });
                }
                What::Renamed { name_vi, name_en } => {
                    // An agency never registered existed, unnamed, until its new name.
                    if rows.is_empty() {
                        rows.push(Period::seen(&change.agency));
                    }
                    let last = rows.last().cloned().expect("a period to rename");
                    if let Some(open) = rows.last_mut() {
                        open.valid_to = Some(change.date());
                    }
                    rows.push(Period {
                        name_vi: Some(name_vi.clone()),
                        name_en: name_en.clone(),
                        valid_from: Some(change.date()),
                        valid_to: None,
                        basis: Some(change.basis.clone()),
                        ..last
                    });
                }
                What::Merged { .. } | What::Split { .. } | What::Dissolved => {
                    ends.entry(&change.agency).or_insert(change.date());
                }
            }
        }
        for code in seen.codes() {
            periods.entry(code).or_default();
        }
        // Codes only named as targets or parents are units too.
        for change in &self.changes {
            for named in change.named() {
                periods.entry(named).or_default();
            }
        }
        let mut out = Vec::new();
        for (code, mut rows) in periods {
            if rows.is_empty() {
                rows.push(Period::seen(code));
            }
            let end = ends.get(code).copied();
            for row in &mut rows {
                if let Some(end) = end {
                    row.valid_to = Some(row.valid_to.map_or(end, |to| to.min(end)));
                }
            }
            rows.retain(|r| r.valid_from.zip(r.valid_to).is_none_or(|(f, t)| f < t));
            out.extend(rows);
        }
        out
    }

    /// The units that exist on `date`: agencies whose period covers it, by code.
    pub(crate) fn units_on(&self, seen: &Agencies, date: NaiveDate) -> BTreeSet<String> {
        self.periods(seen)
            .into_iter()
            .filter(|p| p.covers(date))
            .map(|p| p.agency_code)
            .collect()
    }

    /// The lineage: one edge per merger, successor of a split and dissolution, in effective
    /// order; split weights a decision does not give are estimated from `daily` (see
    /// [`Edge::estimated`]).
    pub(crate) fn lineage(&self, agencies: &Agencies, daily: &Daily) -> Vec<Edge> {
        let mut edges = Vec::new();
        for change in &self.changes {
            let edge = |successor: Option<&str>, weight: Option<f64>, estimated: bool| Edge {
                agency_code: change.agency.clone(),
                successor_code: successor.map(str::to_owned),
                date: change.date(),
                kind: change.kind(),
                weight,
                estimated,
                basis: change.basis.clone(),
            };
            match &change.what {
                What::Merged { into } => edges.push(edge(Some(into), Some(1.0), false)),
                What::Split { targets } => {
                    let estimates = targets
                        .iter()
                        .any(|(_, w)| w.is_none())
                        .then(|| estimate(targets, change.date(), agencies, daily));
                    for (i, (code, weight)) in targets.iter().enumerate() {
                        match (weight, &estimates) {
                            (Some(w), _) => edges.push(edge(Some(code), Some(*w), false)),
                            (None, Some(e)) => edges.push(edge(Some(code), Some(e[i]), true)),
                            (None, None) => unreachable!("estimated when a weight is missing"),
                        }
                    }
                }
                What::Dissolved => edges.push(edge(None, None, false)),
                What::Registered { .. } | What::Renamed { .. } => {}
            }
        }
        edges
    }

    /// The changes taking effect in `[from, to]`, by date: what makes a figure's history
    /// break. `touching`, when given, keeps only the changes of those agencies or naming them,
    /// one break each; without it (a figure of every agency) the changes of one date, kind and
    /// basis are one break counting them, so that a province's reorganisation is a few lines.
    pub(crate) fn breaks(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        touching: Option<&BTreeSet<String>>,
    ) -> Vec<Break> {
        let mut breaks: Vec<Break> = Vec::new();
        for c in self
            .changes
            .iter()
            .filter(|c| (from..=to).contains(&c.date()))
        {
            let Some(codes) = touching else {
                let same = |b: &Break| (b.date, b.kind, &b.basis) == (c.date(), c.kind(), &c.basis);
                match breaks.iter_mut().find(|b| same(b)) {
                    Some(summary) => summary.changes += 1,
                    None => breaks.push(Break {
                        date: c.date(),
                        kind: c.kind(),
                        agency_code: None,
                        successors: Vec::new(),
                        basis: c.basis.clone(),
                        changes: 1,
                    }),
                }
                continue;
            };
            if codes.contains(&c.agency) || c.named().any(|n| codes.contains(n)) {
                breaks.push(Break {
                    date: c.date(),
                    kind: c.kind(),
                    agency_code: Some(c.agency.clone()),
                    successors: c.named_successors(),
                    basis: c.basis.clone(),
                    changes: 1,
                });
            }
        }
        breaks
    }
}

impl Change {
    fn kind(&self) -> &'static str {
        match self.what {
            What::Registered { .. } => "registered",
            What::Renamed { .. } => "renamed",
            What::Merged { .. } => "merged",
            What::Split { .. } => "split",
            What::Dissolved => "dissolved",
        }
    }

    /// The codes a change names besides its agency (parent, merger target, successors).
    fn named(&self) -> impl Iterator<Item = &str> {
        let named: Vec<&str> = match &self.what {
            What::Registered { parent, .. } => parent.as_deref().into_iter().collect(),
            What::Merged { into } => vec![into.as_str()],
            What::Split { targets } => targets.iter().map(|(c, _)| c.as_str()).collect(),
            What::Renamed { .. } | What::Dissolved => Vec::new(),
        };
        named.into_iter()
    }

    /// The successors of a merger or split.
    fn named_successors(&self) -> Vec<String> {
        match &self.what {
            What::Merged { into } => vec![into.clone()],
            What::Split { targets } => targets.iter().map(|(c, _)| c.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The shares of a split's successors when the decision gives none: each successor's share of
/// the successors' dossiers received in the year before the change; when they received none
/// then (new units), in the year from the change; when none either, equal shares.
fn estimate(
    targets: &[(String, Option<f64>)],
    date: NaiveDate,
    agencies: &Agencies,
    daily: &Daily,
) -> Vec<f64> {
    let received = |from: NaiveDate, to: NaiveDate| -> Vec<f64> {
        targets
            .iter()
            .map(|(code, _)| {
                agencies
                    .id(code)
                    .map_or(0.0, |id| received(daily, id, from, to))
            })
            .collect()
    };
    let year_before = date.checked_sub_months(Months::new(12)).unwrap_or(date);
    let day_before = date.checked_sub_days(Days::new(1)).unwrap_or(date);
    let year_after = (date + Months::new(12))
        .checked_sub_days(Days::new(1))
        .unwrap_or(date);
    for counts in [
        received(year_before, day_before),
        received(date, year_after),
    ] {
        let total: f64 = counts.iter().sum();
        if total > 0.0 {
            return counts.into_iter().map(|n| n / total).collect();
        }
    }
    vec![1.0 / targets.len() as f64; targets.len()]
}

/// Dossiers agency `id` received in `[from, to]`: the weight of its share of a split, and of
/// its scores in a unit's restated PAR Index.
pub(crate) fn received(daily: &Daily, id: u32, from: NaiveDate, to: NaiveDate) -> f64 {
    let mut sums = Sums::default();
    daily.add_sums(id, from, to, false, &mut sums);
    sums.stats.received as f64
}

/// One period of an agency in the registry: its name, level and parent from `valid_from`
/// until the day before `valid_to` (a row of SQL's `agency_registry`).
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// The agency.
    pub agency_code: String,
    /// Vietnamese name; `None` for an agency never registered.
    pub name_vi: Option<String>,
    /// English name.
    pub name_en: Option<String>,
    /// Level; `None` for an agency never registered.
    pub level: Option<AgencyLevel>,
    /// The agency it belongs to.
    pub parent_code: Option<String>,
    /// First day; `None`: since before the registry (an agency never registered).
    pub valid_from: Option<NaiveDate>,
    /// First day it no longer holds (a rename, merger, split or dissolution); `None`: still.
    pub valid_to: Option<NaiveDate>,
    /// The decision the period starts on; `None` for an agency never registered.
    pub basis: Option<String>,
}

impl Period {
    /// An agency seen in events, never registered: a unit from the beginning.
    fn seen(code: &str) -> Self {
        Period {
            agency_code: code.to_owned(),
            name_vi: None,
            name_en: None,
            level: None,
            parent_code: None,
            valid_from: None,
            valid_to: None,
            basis: None,
        }
    }

    /// Whether the period holds on `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= date) && self.valid_to.is_none_or(|t| date < t)
    }
}

/// An edge of the lineage: an agency's history goes, from `date`, to its successor with a
/// weight (a row of SQL's `agency_lineage`).
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// The old agency.
    pub agency_code: String,
    /// The new one; `None` for a dissolution.
    pub successor_code: Option<String>,
    /// The effective date: the old agency exists until the day before.
    pub date: NaiveDate,
    /// `merged`, `split` or `dissolved`.
    pub kind: &'static str,
    /// The successor's share of the old agency (1 for a merger); `None` for a dissolution.
    pub weight: Option<f64>,
    /// Whether the weight is ParWatch's estimate (a split whose decision gave no weights).
    pub estimated: bool,
    /// The legal basis.
    pub basis: String,
}

/// A structural break: a change of the registry taking effect inside the dates shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Break {
    /// The effective date.
    pub date: NaiveDate,
    /// `registered`, `renamed`, `merged`, `split` or `dissolved`.
    pub kind: &'static str,
    /// The agency changed; null in an answer about every agency, where a break stands for
    /// every change of one date, kind and basis.
    pub agency_code: Option<String>,
    /// Its successors, for a merger or split (none in an answer about every agency).
    pub successors: Vec<String>,
    /// The legal basis.
    pub basis: String,
    /// How many changes the break stands for (1 for one agency's change).
    pub changes: usize,
}

/// Most steps a chain of successors is followed (a cycle in bad data stops there).
const MAX_DEPTH: usize = 64;

/// Where each agency's figures go when restated to the units of one date: for every unit
/// existing then, the agencies (ids) whose figures it takes and with what weight.
#[derive(Debug, Clone, Default)]
pub(crate) struct Restatement {
    /// Unit code → (agency id, weight), by id.
    pub(crate) units: BTreeMap<String, Vec<(u32, f64)>>,
}

impl Restatement {
    /// The restatement to the units of `date`, through the edges effective by then.
    pub(crate) fn to(
        edges: &[Edge],
        units: BTreeSet<String>,
        agencies: &Agencies,
        date: NaiveDate,
    ) -> Self {
        let mut out: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
        for edge in edges.iter().filter(|e| e.date <= date) {
            out.entry(&edge.agency_code)
                .or_default()
                .extend(edge.successor_code.as_deref().zip(edge.weight));
        }
        // An agency with an edge by `date` has ended: its figures follow its successors.
        fn follow<'a>(
            code: &'a str,
            weight: f64,
            depth: usize,
            out: &BTreeMap<&'a str, Vec<(&'a str, f64)>>,
            into: &mut Vec<(&'a str, f64)>,
        ) {
            match out.get(code) {
                Some(successors) if depth < MAX_DEPTH => {
                    for &(next, w) in successors {
                        follow(next, weight * w, depth + 1, out, into);
                    }
                }
                _ => into.push((code, weight)),
            }
        }
        let mut restated: BTreeMap<String, Vec<(u32, f64)>> =
            units.into_iter().map(|u| (u, Vec::new())).collect();
        for (id, code) in agencies.codes().iter().enumerate() {
            let mut reached = Vec::new();
            follow(code, 1.0, 0, &out, &mut reached);
            for (unit, weight) in reached {
                // A unit that does not exist on `date` (created later) takes nothing.
                if let Some(parts) = restated.get_mut(unit) {
                    match parts.iter_mut().find(|(i, _)| *i == id as u32) {
                        Some((_, w)) => *w += weight,
                        None => parts.push((id as u32, weight)),
                    }
                }
            }
        }
        Restatement { units: restated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn change(agency: &str, date: &str, what: What) -> Change {
        Change {
            agency: agency.into(),
            at: 0,
            date: d(date).num_days_from_ce(),
            basis: "1/QĐ".into(),
            what,
        }
    }

    fn registered(agency: &str, date: &str) -> Change {
        change(
            agency,
            date,
            What::Registered {
                name_vi: format!("Đơn vị {agency}"),
                name_en: None,
                level: "commune".into(),
                parent: None,
            },
        )
    }

    #[test]
    fn periods_follow_renames_and_ends_and_units_are_those_of_the_date() {
        let mut registry = Registry::default();
        registry.apply(change("A", "2025-03-01", What::Merged { into: "C".into() }));
        registry.apply(registered("C", "2025-03-01"));
        registry.apply(change(
            "C",
            "2025-06-01",
            What::Renamed {
                name_vi: "Mới".into(),
                name_en: None,
            },
        ));
        // The same event folded twice counts once.
        registry.apply(registered("C", "2025-03-01"));
        assert_eq!(registry.len(), 3);
        let mut seen = Agencies::default();
        seen.intern("A");
        seen.intern("B");
        let periods = registry.periods(&seen);
        let c: Vec<_> = periods.iter().filter(|p| p.agency_code == "C").collect();
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].valid_from, c[0].valid_to),
            (Some(d("2025-03-01")), Some(d("2025-06-01")))
        );
        assert_eq!(c[1].name_vi.as_deref(), Some("Mới"));
        assert_eq!(
            c[1].level,
            Some(AgencyLevel::Commune),
            "a rename keeps the level"
        );
        let a = periods.iter().find(|p| p.agency_code == "A").unwrap();
        assert_eq!((a.valid_from, a.valid_to), (None, Some(d("2025-03-01"))));
        let on = |date: &str| {
            registry
                .units_on(&seen, d(date))
                .into_iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(on("2025-02-28"), ["A", "B"]);
        assert_eq!(on("2025-03-01"), ["B", "C"]);
        // A rename of an agency never registered: unnamed until then, named from then.
        let mut renamed = registry.clone();
        renamed.apply(change(
            "B",
            "2024-01-01",
            What::Renamed {
                name_vi: "Bê".into(),
                name_en: None,
            },
        ));
        let b: Vec<_> = renamed
            .periods(&seen)
            .into_iter()
            .filter(|p| p.agency_code == "B")
            .map(|p| (p.name_vi, p.valid_from, p.valid_to))
            .collect();
        assert_eq!(
            b,
            [
                (None, None, Some(d("2024-01-01"))),
                (Some("Bê".to_owned()), Some(d("2024-01-01")), None)
            ]
        );
        assert_eq!(
            renamed.units_on(&seen, d("2023-12-31")),
            registry.units_on(&seen, d("2023-12-31"))
        );
        let text = registry.to_text();
        assert_eq!(Registry::from_text(&text), Some(registry));
        assert_eq!(Registry::from_text("[{"), None);
    }
}
