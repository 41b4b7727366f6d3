//! A mergeable log-bucketed histogram for medians within 1%.
//!
//! Values (days, either sign) fall in buckets whose bounds grow by a factor γ = 1.02; a bucket is
//! represented by the point that is within (γ−1)/(γ+1) < 1% of every value in it. Histograms of
//! days add up to histograms of weeks, months and years.

const GAMMA: f64 = 1.02;
/// Values closer to zero than this (≈ 1.4 minutes, in days) share the zero bucket.
const ZERO: f64 = 0.001;

/// Counts per bucket index (negative indices for negative values, 0 for ~zero), sorted by index,
/// none zero: 8 bytes a bucket. A day of an agency has tens of buckets, and there is one
/// histogram per agency, day and role: at 86.9M events (13.3M dossiers, 12M buckets a role) a
/// `BTreeMap<i32, i64>` took about 24 bytes a bucket, most of the projections' memory. A count
/// saturates at `i32::MAX` dossiers in one bucket, far beyond any province's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Histogram(Vec<(i32, i32)>);

/// `count` as stored, saturated.
fn stored(count: i64) -> i32 {
    count.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

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
        match self.0.binary_search_by_key(&k, |&(key, _)| key) {
            Ok(i) => {
                let count = i64::from(self.0[i].1) + delta;
                if count == 0 {
                    self.0.remove(i);
                } else {
                    self.0[i].1 = stored(count);
                }
            }
            Err(_) if delta == 0 => {}
            Err(i) => {
                if self.0.len() == self.0.capacity() {
                    // Grown by an eighth: little spare room in the many small histograms.
                    self.0.reserve_exact(self.0.len() / 8 + 1);
                }
                self.0.insert(i, (k, stored(delta)));
            }
        }
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        if other.0.is_empty() {
            return;
        }
        if self.0.is_empty() {
            self.0.clone_from(&other.0);
            return;
        }
        let (mut merged, mut ours) = (Vec::with_capacity(self.0.len() + other.0.len()), 0);
        for &(k, n) in &other.0 {
            while ours < self.0.len() && self.0[ours].0 < k {
                merged.push(self.0[ours]);
                ours += 1;
            }
            let count = match self.0.get(ours) {
                Some(&(key, mine)) if key == k => {
                    ours += 1;
                    i64::from(mine) + i64::from(n)
                }
                _ => i64::from(n),
            };
            if count != 0 {
                merged.push((k, stored(count)));
            }
        }
        merged.extend_from_slice(&self.0[ours..]);
        self.0 = merged;
    }

    pub(crate) fn count(&self) -> i64 {
        self.0.iter().map(|&(_, n)| i64::from(n)).sum()
    }

    /// The median (mean of the two middle values for an even count), within 1%.
    pub(crate) fn median(&self) -> Option<f64> {
        let n = self.count();
        if n <= 0 {
            return None;
        }
        let nth = |rank: i64| {
            let mut seen = 0;
            for &(k, c) in &self.0 {
                seen += i64::from(c);
                if seen > rank {
                    return representative(k);
                }
            }
            representative(self.0.last().expect("non-empty").0)
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

    /// Adds, removals (counts back to zero) and merges give the counts of a plain map, in
    /// order, without zero buckets.
    #[test]
    fn adds_and_merges_count_as_a_map_does() {
        use std::collections::BTreeMap;
        let mut seed = 7_u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            seed >> 33
        };
        let mut parts: Vec<(Histogram, BTreeMap<i32, i64>)> = vec![Default::default(); 4];
        for _ in 0..4_000 {
            let (h, map) = &mut parts[next() as usize % 4];
            let value = (next() % 4_000) as f64 / 100.0 - 5.0;
            let delta = [1, 1, 2, -1][next() as usize % 4];
            h.add(value, delta);
            *map.entry(index(value)).or_default() += delta;
            map.retain(|_, n| *n != 0);
        }
        let mut total = Histogram::default();
        let mut expected = BTreeMap::new();
        for (h, map) in &parts {
            let plain: Vec<(i32, i64)> = map.iter().map(|(&k, &n)| (k, n)).collect();
            let ours: Vec<(i32, i64)> = h.0.iter().map(|&(k, n)| (k, i64::from(n))).collect();
            assert_eq!(ours, plain);
            total.merge(h);
            for (&k, &n) in map {
                *expected.entry(k).or_insert(0) += n;
            }
        }
        // Merging the negation of a part takes its buckets away again.
        let negated = Histogram(parts[0].0.0.iter().map(|&(k, n)| (k, -n)).collect());
        total.merge(&negated);
        for (&k, &n) in &parts[0].1 {
            *expected.entry(k).or_insert(0) -= n;
        }
        expected.retain(|_, n| *n != 0);
        let ours: Vec<(i32, i64)> = total.0.iter().map(|&(k, n)| (k, i64::from(n))).collect();
        assert_eq!(ours, expected.into_iter().collect::<Vec<_>>());
        assert!(total.0.iter().all(|&(_, n)| n != 0));
        assert_eq!(
            total.count(),
            parts[1..].iter().map(|(h, _)| h.count()).sum::<i64>()
        );
    }
}
