//! A mergeable log-bucketed histogram for medians within 1%.
//!
//! Values (days, either sign) fall in buckets whose bounds grow by a factor γ = 1.02; a bucket is
//! represented by the point that is within (γ−1)/(γ+1) < 1% of every value in it. Histograms of
//! days add up to histograms of weeks, months and years.

use std::collections::BTreeMap;

const GAMMA: f64 = 1.02;
/// Values closer to zero than this (≈ 1.4 minutes, in days) share the zero bucket.
const ZERO: f64 = 0.001;

/// Counts per bucket index (negative indices for negative values, 0 for ~zero).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Histogram(BTreeMap<i32, i64>);

fn index(value: f64) -> i32 {
    if value.abs() < ZERO {
        return 0;
    }
    // Bucket k ≥ 1 holds (ZERO·γ^(k−1), ZERO·γ^k].
    let k = ((value.abs() / ZERO).ln() / GAMMA.ln()).ceil().max(1.0) as i32;
    if value < 0.0 { -k } else { k }
}

fn representative(index: i32) -> f64 {
    if index == 0 {
        return 0.0;
    }
    let upper = ZERO * GAMMA.powi(index.abs());
    let mid = 2.0 * upper / (GAMMA + 1.0);
    if index < 0 { -mid } else { mid }
}

impl Histogram {
    pub(crate) fn add(&mut self, value: f64, delta: i64) {
        let k = index(value);
        let count = self.0.entry(k).or_default();
        *count += delta;
        if *count == 0 {
            self.0.remove(&k);
        }
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (&k, &n) in &other.0 {
            let count = self.0.entry(k).or_default();
            *count += n;
            if *count == 0 {
                self.0.remove(&k);
            }
        }
    }

    pub(crate) fn count(&self) -> i64 {
        self.0.values().sum()
    }

    /// The median (mean of the two middle values for an even count), within 1%.
    pub(crate) fn median(&self) -> Option<f64> {
        let n = self.count();
        if n <= 0 {
            return None;
        }
        let nth = |rank: i64| {
            let mut seen = 0;
            for (&k, &c) in &self.0 {
                seen += c;
                if seen > rank {
                    return representative(k);
                }
            }
            representative(*self.0.keys().next_back().expect("non-empty"))
        };
        Some(if n % 2 == 1 {
            nth(n / 2)
        } else {
            (nth(n / 2 - 1) + nth(n / 2)) / 2.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_within_one_percent() {
        let values = [0.5, 1.25, 3.0, 3.1, 7.9, 12.0, 40.0, -2.0, 0.0];
        let mut h = Histogram::default();
        for v in values {
            h.add(v, 1);
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let exact = sorted[sorted.len() / 2];
        let got = h.median().unwrap();
        assert!(
            (got - exact).abs() <= exact.abs() * 0.01,
            "{got} vs {exact}"
        );
        h.add(40.0, 1);
        let exact_even = (3.0 + 3.1) / 2.0;
        let got = h.median().unwrap();
        assert!(
            (got - exact_even).abs() <= exact_even * 0.01,
            "{got} vs {exact_even}"
        );
        h.add(40.0, -1);
        h.add(40.0, -1);
        assert_eq!(h.count(), 8);
    }
}
