//! The province-wide trends (online uptake, late share, digitisation, ...) as smooth curves of
//! time, and the weighted tables that pick a dossier's procedure and agency.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use crate::province::{AgencyKind, Province};

/// Share of dossiers at each level: departments, districts, communes (before July 2025; the
/// district share then moves to communes).
const LEVEL_SHARES: [(AgencyKind, f64); 3] = [
    (AgencyKind::Department, 0.20),
    (AgencyKind::District, 0.15),
    (AgencyKind::Commune, 0.65),
];

/// A date as a fractional year, e.g. 2024-07-02 ≈ 2024.5.
pub(crate) fn year_fraction(date: NaiveDate) -> f64 {
    f64::from(date.year()) + f64::from(date.ordinal0()) / 365.25
}

fn logistic(t: f64, midpoint: f64, steepness: f64) -> f64 {
    1.0 / (1.0 + (-(t - midpoint) * steepness).exp())
}

fn ramp(t: f64, from: f64, to: f64) -> f64 {
    ((t - from) / (to - from)).clamp(0.0, 1.0)
}

/// Online uptake: ~2% in 2019, ~20% mid-2022, ~60% from 2024 on.
pub(crate) fn online_share(t: f64) -> f64 {
    0.02 + 0.63 * logistic(t, 2023.0, 1.5)
}

/// Share of online dossiers that are fully online (toàn trình) rather than partial.
pub(crate) fn full_online_share(t: f64) -> f64 {
    0.2 + 0.65 * logistic(t, 2023.5, 1.2)
}

/// Share of online applications made on the national portal (the rest on the province's).
pub(crate) fn national_portal_share(t: f64) -> f64 {
    0.3 + 0.4 * ramp(t, 2019.0, 2025.5)
}

/// Share of dossiers sent in by post: 0.8% in 2019 rising to 2% by 2025.
pub(crate) fn postal_share(t: f64) -> f64 {
    0.008 + 0.012 * ramp(t, 2019.0, 2025.0)
}

/// Share of non-postal dossiers whose result is returned by post.
pub(crate) fn result_by_post_share(t: f64) -> f64 {
    0.01 + 0.02 * ramp(t, 2019.0, 2025.0)
}

/// Province-wide late share: ~12% in 2019 falling to ~2.5% from 2024.
pub(crate) fn late_share(t: f64) -> f64 {
    0.025 + 0.10 * (1.0 - logistic(t, 2021.8, 1.8))
}

/// Share of resolved dossiers whose result is digitised: 10% in 2019, ~80% in 2025.
pub(crate) fn digitized_share(t: f64) -> f64 {
    0.1 + 0.75 * logistic(t, 2023.0, 1.5)
}

/// Share of dossiers with components digitised at receipt (số hóa hồ sơ): ~13% in 2019, ~60%
/// in 2022, ~83% in 2025.
pub(crate) fn components_digitised_share(t: f64) -> f64 {
    0.1 + 0.75 * logistic(t, 2021.8, 1.2)
}

/// Share of digitised components reused from existing data or earlier results instead of
/// scanned: ~7% in 2022, ~30% in 2025 (a dossier of two or three components has one reused
/// about twice as often).
pub(crate) fn component_reuse_share(t: f64) -> f64 {
    0.03 + 0.32 * logistic(t, 2023.8, 1.2)
}

/// Share of fees paid online (thanh toán trực tuyến): ~20% in 2022, ~60% in 2025.
pub(crate) fn online_payment_share(t: f64) -> f64 {
    0.05 + 0.6 * logistic(t, 2023.0, 1.0)
}

/// Share of results issued electronically (kết quả điện tử): ~20% in 2022, ~70% in 2025.
pub(crate) fn electronic_result_share(t: f64) -> f64 {
    0.05 + 0.75 * logistic(t, 2023.2, 1.1)
}

/// Share of dossiers synced to the national portal: ~92% in 2022, ~98.5% from 2025.
pub(crate) fn national_sync_share(t: f64) -> f64 {
    0.9 + 0.085 * ramp(t, 2021.0, 2025.0)
}

/// Share of resolved dossiers the citizen rates: ~12% in 2022, 25% from 2025.
pub(crate) fn rated_share(t: f64) -> f64 {
    0.08 + 0.17 * ramp(t, 2021.0, 2025.0)
}

/// Relative dossier volume of a working day: slow growth over the years, a rush before Tết and
/// a slow restart after it, and a mild seasonal swing.
pub(crate) fn volume_factor(province: &Province, date: NaiveDate) -> f64 {
    let calendar = province.calendar();
    if !calendar.is_working_day(date) {
        return 0.0;
    }
    let growth = 1.0 + 0.04 * (year_fraction(date) - 2019.0).max(0.0);
    let tet = if calendar.is_after_tet(date) {
        0.55
    } else if calendar.is_before_tet(date) {
        1.25
    } else {
        1.0
    };
    let season = 1.0 + 0.08 * (f64::from(date.month0()) * std::f64::consts::TAU / 12.0).cos();
    growth * tet * season
}

/// A table of indices with weights, sampled by binary search over cumulative weights.
#[derive(Debug, Clone)]
struct Weighted {
    items: Vec<usize>,
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(weighted: impl IntoIterator<Item = (usize, f64)>) -> Self {
        let mut total = 0.0;
        let (items, cumulative) = weighted
            .into_iter()
            .map(|(item, weight)| {
                total += weight;
                (item, total)
            })
            .unzip();
        Weighted { items, cumulative }
    }

    fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.items[i.min(self.items.len() - 1)]
    }
}

/// The sampling tables valid over one period between reorganisations.
#[derive(Debug, Clone)]
struct Era {
    starts: NaiveDate,
    levels: Weighted,
    procedures: [Weighted; 3],
    agencies: [Weighted; 3],
}

fn level_index(kind: AgencyKind) -> usize {
    match kind {
        AgencyKind::Department => 0,
        AgencyKind::District => 1,
        AgencyKind::Commune => 2,
    }
}

/// Picks the procedure and agency of new dossiers.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    eras: Vec<Era>,
}

impl Sampler {
    /// Precomputes the tables of every period between the province's reorganisations.
    pub(crate) fn new(province: &Province) -> Self {
        let mut starts: Vec<NaiveDate> = province
            .agencies()
            .iter()
            .filter_map(|a| a.active_from)
            .chain(
                province
                    .agencies()
                    .iter()
                    .filter_map(|a| a.active_until?.succ_opt()),
            )
            .collect();
        starts.push(NaiveDate::MIN);
        starts.sort();
        starts.dedup();
        let eras = starts
            .into_iter()
            .map(|starts| {
                let active = |kind: AgencyKind| {
                    Weighted::new(province.agencies().iter().enumerate().filter_map(|(i, a)| {
                        (a.kind == kind && a.is_active(starts)).then_some((i, a.performance.size))
                    }))
                };
                let procedures = |kind: AgencyKind| {
                    Weighted::new(
                        province
                            .procedures()
                            .iter()
                            .enumerate()
                            .filter_map(|(i, p)| (p.level == kind).then_some((i, p.weight))),
                    )
                };
                let districts = active(AgencyKind::District);
                Era {
                    starts,
                    levels: Weighted::new(LEVEL_SHARES.iter().map(|&(k, s)| (level_index(k), s))),
                    procedures: [
                        procedures(AgencyKind::Department),
                        procedures(AgencyKind::District),
                        procedures(AgencyKind::Commune),
                    ],
                    agencies: [
                        active(AgencyKind::Department),
                        // Without districts, their procedures go to the communes.
                        if districts.items.is_empty() {
                            active(AgencyKind::Commune)
                        } else {
                            districts
                        },
                        active(AgencyKind::Commune),
                    ],
                }
            })
            .collect();
        Sampler { eras }
    }

    /// Picks (procedure index, agency index) for a dossier received on `date`.
    pub(crate) fn pick(
        &self,
        province: &Province,
        date: NaiveDate,
        rng: &mut impl Rng,
    ) -> (usize, usize) {
        let era = self
            .eras
            .iter()
            .rev()
            .find(|e| e.starts <= date)
            .unwrap_or(&self.eras[0]);
        let level = era.levels.sample(rng);
        let procedure = era.procedures[level].sample(rng);
        let agency = province
            .owning_department(&province.procedures()[procedure], date)
            .unwrap_or_else(|| era.agencies[level].sample(rng));
        (procedure, agency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trends_stay_in_their_bands() {
        assert!(online_share(2019.5) < 0.05 && online_share(2025.5) > 0.55);
        assert!(late_share(2019.5) > 0.10 && late_share(2024.5) < 0.04);
        for t in [2019.0, 2022.0, 2025.0] {
            assert!((0.005..=0.03).contains(&postal_share(t)));
        }
        let (y2022, y2025) = (2022.5, 2025.5);
        assert!((0.55..0.70).contains(&components_digitised_share(y2022)));
        assert!((0.80..0.86).contains(&components_digitised_share(y2025)));
        assert!((0.15..0.30).contains(&online_payment_share(y2022)));
        assert!((0.55..0.65).contains(&online_payment_share(y2025)));
        assert!(electronic_result_share(y2022) < electronic_result_share(y2025));
        assert!(national_sync_share(y2022) > 0.9 && national_sync_share(y2025) > 0.98);
        assert!(rated_share(y2025) < 0.5);
    }

    #[test]
    fn districts_get_no_dossiers_after_july_2025() {
        let province = Province::new(7);
        let sampler = Sampler::new(&province);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let day = NaiveDate::from_ymd_opt(2025, 7, 2).unwrap();
        for _ in 0..2_000 {
            let (_, agency) = sampler.pick(&province, day, &mut rng);
            let agency = &province.agencies()[agency];
            assert_ne!(agency.kind, AgencyKind::District);
            assert!(agency.is_active(day), "{} inactive on {day}", agency.code);
        }
    }
}
