//! The procedure catalogue as the 766 index sees it: which procedures each agency handles on a
//! date, each procedure's fee and components, and the catalogue facts of every procedure at
//! every agency (`procedure.catalogued`: published, publicised, complete, online service, fee),
//! published once when a backfill starts and again when an agency takes procedures over. Most
//! facts are in order; a few are not, and most of those are put right some months later.

use std::collections::HashSet;

use chrono::{Days, NaiveDate};
use parwatch_proto::{EventType, ServiceMode};
use serde_json::json;

use crate::dossier::local_midnight;
use crate::governance::Planned;
use crate::index766::Diligence;
use crate::province::{AgencyKind, Procedure, Province};
use crate::render::mix;

/// Mixed into the seed of catalogue facts.
const SALT: u64 = 0x4341_5441_4c4f_4755;

/// Keys of catalogue facts: this bit, then the local day, the agency and the procedure.
const KEY_BIT: u64 = 1 << 60;

/// Fees of procedures that have one, in đồng (phí, lệ phí).
const FEES_VND: [u32; 8] = [
    8_000, 20_000, 30_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
];

/// Share of procedures with a fee: most procedures are free.
const FEE_SHARE: f64 = 0.35;

/// Components of dossiers (thành phần hồ sơ); a procedure asks for one to four of them.
const COMPONENTS: [&str; 10] = [
    "Tờ khai",
    "Căn cước công dân",
    "Giấy khai sinh",
    "Giấy chứng nhận quyền sử dụng đất",
    "Giấy xác nhận thông tin cư trú",
    "Giấy xác nhận tình trạng hôn nhân",
    "Bản vẽ thiết kế",
    "Hợp đồng",
    "Giấy chứng nhận đăng ký doanh nghiệp",
    "Văn bản ủy quyền",
];

/// A number in `[0, 1)` from a hash.
pub(crate) fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// A hash of a procedure, the same in every run of every seed (a procedure's fee and
/// components are the law's, not the simulation's).
fn procedure_hash(procedure: &Procedure) -> u64 {
    procedure
        .code
        .bytes()
        .fold(SALT, |h, b| mix(h ^ u64::from(b)))
}

/// The fee of `procedure` in đồng; 0 when it has none.
pub(crate) fn fee_vnd(procedure: &Procedure) -> u32 {
    let h = procedure_hash(procedure);
    if unit(h) < FEE_SHARE {
        FEES_VND[(mix(h) % FEES_VND.len() as u64) as usize]
    } else {
        0
    }
}

/// The components a dossier of `procedure` holds.
pub(crate) fn components(procedure: &Procedure) -> impl Iterator<Item = &'static str> {
    let h = mix(procedure_hash(procedure) ^ 1);
    let count = 1 + (h % 4) as usize;
    // A step coprime with the list's length: distinct components.
    (0..count).map(move |k| COMPONENTS[((h >> 8) as usize + 3 * k) % COMPONENTS.len()])
}

/// Whether a district committee still exists on `date` (the communes take their procedures
/// over once they are abolished).
fn districts_exist(province: &Province, date: NaiveDate) -> bool {
    province
        .agencies()
        .iter()
        .any(|a| a.kind == AgencyKind::District && a.is_active(date))
}

/// The procedures (indices) agency `agency` handles on `date`: a department those it owns or
/// took over, a district committee the district procedures, a commune the commune procedures
/// and, without districts, theirs too.
pub(crate) fn handled(province: &Province, agency: usize, date: NaiveDate) -> Vec<usize> {
    let kind = province.agencies()[agency].kind;
    let with_districts = kind == AgencyKind::Commune && !districts_exist(province, date);
    province
        .procedures()
        .iter()
        .enumerate()
        .filter(|(_, p)| match (kind, p.level) {
            (AgencyKind::Department, AgencyKind::Department) => {
                province.owning_department(p, date) == Some(agency)
            }
            (AgencyKind::District, AgencyKind::District)
            | (AgencyKind::Commune, AgencyKind::Commune) => true,
            (AgencyKind::Commune, AgencyKind::District) => with_districts,
            _ => false,
        })
        .map(|(i, _)| i)
        .collect()
}

/// The catalogue facts of every procedure each agency handles, from `from` to `to` (local
/// days; no end: `None`): every pair at 06:00 on `from`, a pair an agency takes over on the day
/// it does, and the corrections of facts found wanting.
pub(crate) fn events(
    province: &Province,
    seed: u64,
    from: NaiveDate,
    to: Option<NaiveDate>,
) -> Vec<Planned> {
    let agencies = province.agencies();
    // The days the agencies' procedures change: the start and every reorganisation after it.
    let mut days: Vec<NaiveDate> = agencies
        .iter()
        .flat_map(|a| [a.active_from, a.active_until.and_then(|d| d.succ_opt())])
        .flatten()
        .filter(|d| *d > from && to.is_none_or(|to| *d <= to))
        .collect();
    days.push(from);
    days.sort();
    days.dedup();
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut out = Vec::new();
    for day in days {
        let at = local_midnight(day) + 6 * 3600;
        for agency in (0..agencies.len()).filter(|&a| agencies[a].is_active(day)) {
            for procedure in handled(province, agency, day) {
                if seen.insert((agency, procedure)) {
                    facts(province, seed, day, at, agency, procedure, &mut out);
                }
            }
        }
    }
    out
}

/// The facts of `procedure` at `agency` stated at `at` (on local `day`), and their correction
/// when some are wanting.
fn facts(
    province: &Province,
    seed: u64,
    day: NaiveDate,
    at: i64,
    agency: usize,
    procedure: usize,
    out: &mut Vec<Planned>,
) {
    let p = &province.procedures()[procedure];
    let h = mix(seed ^ SALT ^ ((agency as u64) << 16) ^ procedure as u64);
    let draw = |salt: u64| unit(mix(h ^ salt));
    let diligence = Diligence::of(seed, agency);
    let published = draw(1) < 0.98;
    let publicised = published && draw(2) < diligence.publicised;
    let complete = draw(3) < diligence.complete;
    // The online service is the procedure's, the same at every agency.
    let mode = unit(mix(procedure_hash(p) ^ 2));
    let online_mode = if mode < 0.72 {
        Some(ServiceMode::Full)
    } else if mode < 0.95 {
        Some(ServiceMode::Partial)
    } else {
        None
    };
    let has_fee = fee_vnd(p) > 0;
    let key = |day: NaiveDate| {
        let local_day = (day - NaiveDate::default()).num_days() as u64;
        KEY_BIT | (local_day << 32) | ((agency as u64) << 16) | procedure as u64
    };
    let fact = |at: i64, day: NaiveDate, published: bool, publicised: bool, complete: bool| {
        Planned::new(
            at,
            key(day),
            EventType::ProcedureCatalogued,
            agency,
            json!({
                "published": published,
                "publicised": publicised,
                "complete": complete,
                "online_mode": online_mode.map(ServiceMode::as_str),
                "has_fee": has_fee,
            }),
        )
        .with_procedure(procedure)
    };
    out.push(fact(at, day, published, publicised, complete));
    if !(published && publicised && complete) && draw(4) < 0.6 {
        let later = 15 + (draw(5) * 105.0) as u64;
        let fixed = day + Days::new(later);
        out.push(fact(at + later as i64 * 86_400, fixed, true, true, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_procedures_are_free_and_components_are_distinct() {
        let province = Province::new(3);
        let procedures = province.procedures();
        let paying = procedures.iter().filter(|p| fee_vnd(p) > 0).count();
        let share = paying as f64 / procedures.len() as f64;
        assert!((0.2..0.5).contains(&share), "{share}");
        for p in procedures {
            let names: Vec<_> = components(p).collect();
            let distinct: HashSet<_> = names.iter().collect();
            assert!((1..=4).contains(&names.len()));
            assert_eq!(distinct.len(), names.len(), "{}", p.code);
        }
    }

    #[test]
    fn communes_take_the_district_procedures_over() {
        let province = Province::new(3);
        let agencies = province.agencies();
        let commune = |active: NaiveDate| {
            (0..agencies.len())
                .find(|&a| agencies[a].kind == AgencyKind::Commune && agencies[a].is_active(active))
                .unwrap()
        };
        let before = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
        let after = NaiveDate::from_ymd_opt(2025, 7, 1).unwrap();
        let district = |p: &usize| province.procedures()[*p].level == AgencyKind::District;
        assert!(
            !handled(&province, commune(before), before)
                .iter()
                .any(district)
        );
        assert!(
            handled(&province, commune(after), after)
                .iter()
                .any(district)
        );
    }
}
