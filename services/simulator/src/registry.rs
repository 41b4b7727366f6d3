//! The registry events of the province's 2025 reorganisation, from its model: the departments
//! created and merged on 1 March 2025; on 1 July 2025 the communes merged into new ones (some
//! split between two) and the district committees abolished, their work split between the new
//! communes of their area without weights (ParWatch estimates them from the dossiers), and the
//! province merged into Ho Chi Minh City: its people's committee into the city's, its
//! departments into the city's (registered that day under the city's codes), its new communes
//! registered as the city's, its Public Administration Service Centre into the city's
//! (`agency.registered`, `agency.merged`, `agency.split`;
//! `agency.dissolved` for an agency ending without successor). Each is published when its
//! decision is taken, a fortnight or so before it takes effect, with the decision's number.
//! They ride the PAR work's queue (`governance.rs`), with ids of their own that every run of a
//! seed repeats.

use chrono::{Datelike, Days, NaiveDate};
use parwatch_proto::{AgencyKind, AgencyLevel, EventType};
use serde_json::json;

use crate::dossier::local_midnight;
use crate::governance::Planned;
use crate::province::Province;

/// A decision of the reorganisation: effective date, decided on, number.
type Decision = (Ymd, Ymd, &'static str);

/// The March one merges the departments.
const DEPARTMENTS_MERGED: Decision = ((2025, 3, 1), (2025, 2, 21), "380/QĐ-UBND");
/// The July one abolishes the districts and merges the communes.
const COMMUNES_MERGED: Decision = ((2025, 7, 1), (2025, 6, 16), "1656/NQ-UBTVQH15");
/// The National Assembly's resolution merging the province into Ho Chi Minh City, the same day.
const PROVINCES_MERGED: Decision = ((2025, 7, 1), (2025, 6, 12), "202/2025/QH15");

/// A date as (year, month, day).
type Ymd = (i32, u32, u32);

/// Serials of registry events start here, above those of an agency's PAR work in a year.
const SERIAL_BASE: u64 = 1 << 23;

fn ymd((y, m, d): Ymd) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("decision dates are valid")
}

/// The decision behind a change of an agency of `kind` taking effect on `date`: when it was
/// taken, and its number. Departments change by the March decision and, in July, by the city
/// merger; districts and communes by the July resolution on communes.
fn decision(kind: AgencyKind, date: NaiveDate) -> Option<(NaiveDate, &'static str)> {
    let decisions: &[Decision] = match kind {
        AgencyKind::Department => &[DEPARTMENTS_MERGED, PROVINCES_MERGED],
        AgencyKind::District | AgencyKind::Commune => &[COMMUNES_MERGED],
    };
    decisions
        .iter()
        .find(|(effective, ..)| ymd(*effective) == date)
        .map(|&(_, decided, basis)| (ymd(decided), basis))
}

fn level(kind: AgencyKind) -> AgencyLevel {
    match kind {
        AgencyKind::Department => AgencyLevel::Department,
        AgencyKind::District => AgencyLevel::District,
        AgencyKind::Commune => AgencyLevel::Commune,
    }
}

/// The event of a change decided at `decided` about agency `index`, `serial` within its
/// changes of the year.
fn planned(
    decided: NaiveDate,
    year: i32,
    index: usize,
    serial: u64,
    event_type: EventType,
    data: serde_json::Value,
) -> Planned {
    Planned::new(
        // At 09:00 local, a second apart by agency.
        local_midnight(decided) + 9 * 3600 + index as i64,
        ((year as u64) << 40) | ((index as u64) << 24) | serial,
        event_type,
        index,
        data,
    )
}

/// The city merger's events about the people's committees and the service centres (agencies
/// past the province's [`Province::agencies`]): the city's registered, the province's merged
/// into them.
fn province_level(province: &Province, year: i32) -> Vec<Planned> {
    let (effective, decided, basis) = PROVINCES_MERGED;
    let (effective, decided) = (ymd(effective), ymd(decided));
    if decided.year() != year {
        return Vec::new();
    }
    let [_, (city, name_vi, name_en)] = province.province_level();
    let [_, centre] = province.service_centres();
    let first = province.agencies().len();
    let with = |mut data: serde_json::Value| {
        data["effective_date"] = json!(effective.to_string());
        data["basis"] = json!(basis);
        data
    };
    vec![
        planned(
            decided,
            year,
            first + 1,
            SERIAL_BASE + 1,
            EventType::AgencyRegistered,
            with(
                json!({"name_vi": name_vi, "name_en": name_en, "level": AgencyLevel::Province.as_str()}),
            ),
        ),
        planned(
            decided,
            year,
            first,
            SERIAL_BASE + 1,
            EventType::AgencyMerged,
            with(json!({ "into": city })),
        ),
        planned(
            decided,
            year,
            first + 3,
            SERIAL_BASE + 1,
            EventType::AgencyRegistered,
            with(
                json!({"name_vi": centre.1, "level": AgencyLevel::Department.as_str(),
                        "parent": city}),
            ),
        ),
        planned(
            decided,
            year,
            first + 2,
            SERIAL_BASE + 1,
            EventType::AgencyMerged,
            with(json!({ "into": centre.0 })),
        ),
    ]
}

/// The registry events decided in `year`: an agency created by a decision is registered, one
/// ending is merged into its successor, or dissolved when it has none.
pub(crate) fn year_events(province: &Province, year: i32) -> Vec<Planned> {
    let mut out = province_level(province, year);
    let agencies = province.agencies();
    for (index, agency) in agencies.iter().enumerate() {
        let mut serial = SERIAL_BASE;
        let mut emit = |effective: NaiveDate, event_type: EventType, data: serde_json::Value| {
            let Some((decided, basis)) =
                decision(agency.kind, effective).filter(|(d, _)| d.year() == year)
            else {
                return;
            };
            let mut data = data;
            data["effective_date"] = json!(effective.to_string());
            data["basis"] = json!(basis);
            serial += 1;
            out.push(planned(decided, year, index, serial, event_type, data));
        };
        if let Some(from) = agency.active_from {
            let mut data = json!({"name_vi": agency.name, "level": level(agency.kind).as_str()});
            if let Some(parent) = &agency.parent {
                data["parent"] = json!(parent);
            }
            emit(from, EventType::AgencyRegistered, data);
        }
        if let Some(end) = agency
            .active_until
            .and_then(|d| d.checked_add_days(Days::new(1)))
        {
            match (&agency.successor, &agency.split_to) {
                (Some(into), Some((part, share))) => emit(
                    end,
                    EventType::AgencySplit,
                    json!({"targets": [
                        {"agency_code": into, "weight": 1.0 - share},
                        {"agency_code": part, "weight": share},
                    ]}),
                ),
                (Some(into), None) => emit(end, EventType::AgencyMerged, json!({ "into": into })),
                (None, _) => {
                    // An abolished district's work went to the communes of its area: the new
                    // communes its communes went to, shares left to ParWatch's estimate.
                    let mut targets: Vec<&str> = Vec::new();
                    for commune in agencies
                        .iter()
                        .filter(|a| a.district.as_ref() == Some(&agency.code))
                    {
                        for next in commune
                            .successor
                            .iter()
                            .chain(commune.split_to.iter().map(|(c, _)| c))
                        {
                            if !targets.contains(&next.as_str()) {
                                targets.push(next);
                            }
                        }
                    }
                    match targets.is_empty() {
                        true => emit(end, EventType::AgencyDissolved, json!({})),
                        false => {
                            let targets: Vec<_> = targets
                                .iter()
                                .map(|c| json!({ "agency_code": c }))
                                .collect();
                            emit(end, EventType::AgencySplit, json!({ "targets": targets }))
                        }
                    }
                }
            }
        }
    }
    out
}
