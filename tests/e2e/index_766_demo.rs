//! The simulated province's 766 index at the province's order of magnitude (issue #24: 80–95):
//! a year of `parwatch simulate` (December 2025 to November 2026, the demo's last year),
//! published through NATS and landed in `parwatch up`. The monthly totals of its departments
//! and communes have a median within 80–95 and mostly fall in it; agencies differ; the
//! thresholds of online payment, digitisation and electronic results are met by some agencies
//! and missed by others over the year; several indicators fall short of full marks at many
//! agencies.

use serde_json::Value;

use crate::harness::LocalNats;
use crate::harness::Parwatch;
use crate::harness::browser::{simulate, wait_landed};

/// The months looked at (the first simulated month, December 2025, only warms up).
const MONTHS: std::ops::RangeInclusive<u32> = 1..=11;

/// `q`-quantile of sorted `xs` (nearest rank).
fn quantile(xs: &[f64], q: f64) -> f64 {
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

/// The scored agencies of the index in `period`.
async fn agencies(up: &Parwatch, period: &str) -> Vec<Value> {
    let (status, index) = up
        .get_json(&format!("/api/v1/index-766?period={period}"))
        .await;
    assert_eq!(status, 200, "{index}");
    index["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["total"].is_number())
        .cloned()
        .collect()
}

/// Each indicator of `agency`: (code, points, max), those with data.
fn indicators(agency: &Value) -> Vec<(String, f64, f64)> {
    agency["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["indicators"].as_array().unwrap())
        .filter_map(|i| {
            Some((
                i["code"].as_str()?.to_owned(),
                i["points"].as_f64()?,
                i["max"].as_f64()?,
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_year_scores_at_the_provinces_magnitude() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let published = simulate(&nats.url(), "2025-12-01", "2026-11-30", 60, None);
    let up = Parwatch::up(&nats.url(), &tmp.path().join("data"), &[]).await;
    wait_landed(up.base(), published).await;

    let mut totals = Vec::new();
    let mut by_agency: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    // Indicator → (agency-months below full marks, agency-months with data).
    let mut short: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for month in MONTHS {
        for agency in agencies(&up, &format!("2026-{month:02}")).await {
            let total = agency["total"].as_f64().unwrap();
            totals.push(total);
            by_agency
                .entry(agency["agency_code"].as_str().unwrap().to_owned())
                .or_default()
                .push(total);
            for (code, points, max) in indicators(&agency) {
                let counts = short.entry(code).or_default();
                counts.0 += usize::from(points < max - 1e-9);
                counts.1 += 1;
            }
        }
    }
    totals.sort_by(f64::total_cmp);
    let means: Vec<f64> = by_agency
        .values()
        .map(|t| t.iter().sum::<f64>() / t.len() as f64)
        .collect();
    let (lowest, highest) = means
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), m| (lo.min(*m), hi.max(*m)));
    let within = totals.iter().filter(|t| (80.0..=95.0).contains(*t)).count();
    let median = quantile(&totals, 0.5);
    println!(
        "766 monthly totals of {} agency-months: min {:.1}, p10 {:.1}, median {median:.1}, \
         p90 {:.1}, max {:.1}; {within} within 80-95; agencies' means {lowest:.1}-{highest:.1}; \
         below full marks by indicator: {short:?}",
        totals.len(),
        totals[0],
        quantile(&totals, 0.1),
        quantile(&totals, 0.9),
        totals[totals.len() - 1],
    );
    // The province's 13 departments and 40 communes, every month.
    assert!(totals.len() >= 11 * 50, "{} agency-months", totals.len());
    assert!((80.0..=95.0).contains(&median), "median {median}");
    assert!(
        within * 3 >= totals.len() * 2,
        "{within} of {} within 80-95",
        totals.len()
    );
    assert!(
        highest - lowest >= 6.0,
        "agencies' yearly means {lowest}-{highest}"
    );
    let often_short: Vec<&String> = short
        .iter()
        .filter(|(_, (below, all))| below * 4 >= *all)
        .map(|(code, _)| code)
        .collect();
    assert!(
        often_short.len() >= 6,
        "below full marks in a quarter of the agency-months: {often_short:?}"
    );

    // Over the year, the indicators with a threshold are met by some agencies, missed by others.
    let year = agencies(&up, "2026").await;
    for code in ["paid_online", "digitised", "electronic_results"] {
        let (missed, met) = year
            .iter()
            .flat_map(indicators)
            .filter(|(c, _, _)| c == code)
            .fold((0, 0), |(missed, met), (_, points, max)| {
                if points < max - 1e-9 {
                    (missed + 1, met)
                } else {
                    (missed, met + 1)
                }
            });
        assert!(
            missed >= 3 && met >= 3,
            "{code}: {missed} missed, {met} met"
        );
    }
}
