//! Bytes of RAM per dossier of the per-dossier facts, against the process's own RSS before
//! the dossiers were made (the baseline), for the layout the projection had until December
//! 2026 (`Vec<HashMap<Box<str>, Facts>>`) and for [`Dossiers`] all hot, all cold, and with the
//! default eviction window on a stream of dossiers spread over six years; then the arithmetic
//! for lakes of 10M and 100M events (0.153 dossiers per event, as the simulator's province; the
//! whole server at 100M events is measured by the `api` bench of `parwatch`).
//!
//! Each layout is measured in a child process of its own (RSS is not given back reliably
//! within one process). `PARWATCH_BENCH_DOSSIERS` sets the number of dossiers (default 1M).
//!
//! `cargo bench -p parwatch-metrics --bench dossiers`

use std::collections::HashMap;
use std::process::Command;

use parwatch_metrics::{Dossiers, Eviction, Facts, Late, Received, Resolved};
use parwatch_proto::{Channel, ServiceMode};

const AGENCIES: u32 = 180;
/// Measured on the simulator's lake of 99.8M events: 15.3M dossiers (6.52 events a dossier).
const DOSSIERS_PER_EVENT: f64 = 0.153;
const SIX_YEARS_MICROS: i64 = 6 * 365 * 86_400_000_000;
const START: i64 = 1_577_836_800_000_000; // 2020-01-01
const HOUR: i64 = 3_600_000_000;

/// The layouts measured: name, what it is.
const LAYOUTS: [(&str, &str); 4] = [
    ("before", "Vec<HashMap<Box<str>, Facts>> (until now)"),
    ("hot", "Dossiers, every dossier hot"),
    ("cold", "Dossiers, every dossier cold (membership only)"),
    ("window", "Dossiers, default eviction, six years streamed"),
];

fn main() {
    let n: usize = std::env::var("PARWATCH_BENCH_DOSSIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--layout") {
        measure(&args[pos + 1], n);
        return;
    }
    println!("per-dossier RAM, {n} synthetic dossiers over six years, {AGENCIES} agencies");
    println!(
        "{:<8} {:>12} {:>12} {:>10} {:>10}  what",
        "layout", "bytes/doss", "RSS MiB", "HWM MiB", "hot"
    );
    let exe = std::env::current_exe().expect("own executable");
    let mut per = HashMap::new();
    for (layout, what) in LAYOUTS {
        let out = Command::new(&exe)
            .args(["--layout", layout])
            .output()
            .expect("child bench process");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [bytes, rss, hwm, hot] = fields[..] else {
            panic!("{layout}: {text} {}", String::from_utf8_lossy(&out.stderr));
        };
        println!(
            "{layout:<8} {bytes:>12.1} {:>12.1} {:>10.1} {hot:>10}  {what}",
            rss / 1024.0,
            hwm / 1024.0
        );
        per.insert(layout, (bytes, hot / n as f64));
    }
    let (before, _) = per["before"];
    let (hot, _) = per["hot"];
    let (cold, _) = per["cold"];
    let (_, hot_share) = per["window"];
    println!();
    for events in [10_000_000_f64, 100_000_000.0] {
        let dossiers = events * DOSSIERS_PER_EVENT;
        let mib = |bytes: f64| bytes / (1 << 20) as f64;
        // At the same daily rate the hot share shrinks with history; at a 10x rate over the
        // same six years it stays: the latter is the bound.
        let hot_dossiers = dossiers * hot_share;
        println!(
            "{:>4}M events, {:.1}M dossiers: before {:.0} MiB; all hot {:.0} MiB; \
             with eviction {:.0} MiB = {:.2}M hot x {hot:.0} B + {:.1}M cold x {cold:.1} B",
            events / 1e6,
            dossiers / 1e6,
            mib(dossiers * before),
            mib(dossiers * hot),
            mib(hot_dossiers * hot + dossiers * cold),
            hot_dossiers / 1e6,
            dossiers / 1e6,
        );
    }
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Dossier `i` of `n`: a UUID v4 text, an agency, received in order over six years; 95%
/// resolved within days, 8% with a late file, half of those with an apology.
fn dossier(rng: &mut Rng, i: usize, n: usize) -> (u32, String, Facts) {
    let (a, b) = (rng.next(), rng.next());
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    );
    let at = START + (i as i64) * (SIX_YEARS_MICROS / n as i64) + rng.below(3600) as i64;
    let due = at + (24 * (3 + rng.below(12) as i64)) * HOUR;
    let channel = Channel::ALL[rng.below(Channel::ALL.len() as u64) as usize];
    let online_mode = (channel == Channel::Online)
        .then(|| ServiceMode::ALL[rng.below(ServiceMode::ALL.len() as u64) as usize]);
    let resolved_at = at + rng.below(24 * 20) as i64 * HOUR;
    let late = rng.below(100) < 8;
    let facts = Facts {
        received: Some(Received {
            at,
            channel,
            online_mode,
            due_at: due,
            roles: Default::default(),
        }),
        resolved: (rng.below(100) < 95).then(|| Resolved {
            at: resolved_at,
            digitized: [Some(true), Some(false), None][rng.below(3) as usize],
        }),
        late: late.then_some(Late {
            at: due + HOUR,
            due_at: due,
        }),
        apology_at: (late && rng.below(2) == 0).then_some(due + 2 * HOUR),
        service: Default::default(),
    };
    ((i as u32 * 7919) % AGENCIES, id, facts)
}

/// KiB of a `/proc/self/status` line.
fn status_kib(name: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a VmRSS/VmHWM line")
}

/// Builds `n` dossiers in `layout` and prints bytes per dossier, RSS, high-water mark (KiB)
/// and the dossiers left hot.
fn measure(layout: &str, n: usize) {
    let mut rng = Rng(42);
    let baseline = status_kib("VmRSS:");
    let dir = std::env::temp_dir();
    let hot = match layout {
        "before" => {
            let mut maps: Vec<HashMap<Box<str>, Facts>> =
                (0..AGENCIES).map(|_| HashMap::new()).collect();
            for i in 0..n {
                let (agency, id, facts) = dossier(&mut rng, i, n);
                maps[agency as usize].insert(id.into(), facts);
            }
            let after = status_kib("VmRSS:");
            report(baseline, after, n, n);
            std::hint::black_box(&maps);
            return;
        }
        "hot" => Eviction {
            after_days: u32::MAX,
            batch: usize::MAX,
            dir,
        },
        "cold" => Eviction {
            after_days: 0,
            batch: 0,
            dir,
        },
        "window" => Eviction {
            dir,
            ..Eviction::default()
        },
        other => panic!("unknown layout {other}"),
    };
    let mut dossiers = Dossiers::new(hot);
    for i in 0..n {
        let (agency, id, facts) = dossier(&mut rng, i, n);
        dossiers.insert(agency, &id, &facts).expect("insert");
        if i.is_multiple_of(4096) {
            dossiers.evict().expect("evict");
        }
    }
    dossiers.evict().expect("evict");
    assert_eq!(dossiers.len(), n);
    let after = status_kib("VmRSS:");
    report(baseline, after, n, dossiers.hot_len());
    std::hint::black_box(&dossiers);
}

fn report(baseline: f64, after: f64, n: usize, hot: usize) {
    let bytes = (after - baseline) * 1024.0 / n as f64;
    println!("{bytes:.2} {after:.0} {:.0} {hot}", status_kib("VmHWM:"));
}
