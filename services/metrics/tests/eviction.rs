//! Cold dossiers: a projector that moves every dossier out of RAM after each catch-up, then
//! folds late events for old dossiers (an earlier receipt, a late file, an apology, a second
//! resolution) answers every metric, lists every dossier and restores from its snapshot
//! exactly as a projector that folded every event at once.

use chrono::{DateTime, Duration, NaiveDate};
use parwatch_lake::{Commit, Lake};
use parwatch_metrics::{Eviction, METRICS, Projector};
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{Channel, Outcome, ServiceMode};

use crate::common::{date, event, lake_with};

const DOSSIERS: usize = 240;

/// Dossier `n`'s id: mostly UUIDs, some other text.
fn id(n: usize) -> String {
    if n.is_multiple_of(5) {
        format!("HS-{n}")
    } else {
        format!("{n:08x}-1c2d-4e5f-8a9b-{:012x}", n * 104_729)
    }
}

fn at(hours: i64) -> DateTime<chrono::Utc> {
    DateTime::parse_from_rfc3339("2024-03-01T00:00:00+07:00")
        .unwrap()
        .to_utc()
        + Duration::hours(hours)
}

/// The first events: a receipt, most resolved, a late file and an apology for some.
fn first_events() -> Vec<TestEvent> {
    let mut out = Vec::new();
    for n in 0..DOSSIERS {
        let of = |e: TestEvent| e.agency(format!("AG{}", n % 3)).dossier(id(n));
        let received = (n as i64 * 7) % (24 * 50);
        let due = received + 24 * (1 + n as i64 % 6);
        let channel = Channel::ALL[n % Channel::ALL.len()];
        let mut receipt = of(TestEvent::received(channel))
            .at(at(received))
            .due(at(due));
        if channel == Channel::Online {
            receipt = receipt.online_mode(ServiceMode::ALL[n % 2]);
        }
        out.push(receipt);
        if n % 4 != 3 {
            let resolved = received + 24 * (n as i64 % 9);
            out.push(
                of(TestEvent::resolved(Outcome::Approved))
                    .at(at(resolved))
                    .digitized(n % 2 == 0),
            );
            if resolved > due && n.is_multiple_of(3) {
                out.push(of(TestEvent::late()).at(at(due + 2)).due(at(due)));
            }
        }
    }
    out
}

/// Late events for the same dossiers, weeks after: earlier receipts on another channel,
/// earlier late files, apologies, resolutions of open dossiers and earlier ones of resolved
/// ones; and a few new dossiers.
fn late_events() -> Vec<TestEvent> {
    let mut out = Vec::new();
    for n in (0..DOSSIERS).step_by(2) {
        let of = |e: TestEvent| e.agency(format!("AG{}", n % 3)).dossier(id(n));
        let received = (n as i64 * 7) % (24 * 50);
        let due = received + 24 * (1 + n as i64 % 6);
        match n % 8 {
            0 => out.push(
                of(TestEvent::received(Channel::Postal))
                    .at(at(received - 5))
                    .due(at(due + 24)),
            ),
            2 => out.push(of(TestEvent::late()).at(at(due + 1)).due(at(due))),
            4 => out.push(of(TestEvent::apology()).at(at(due + 3)).due(at(due + 48))),
            _ => out.push(
                of(TestEvent::resolved(Outcome::Approved))
                    .at(at(received + 24 * (n as i64 % 5)))
                    .digitized(true),
            ),
        }
    }
    for n in DOSSIERS..DOSSIERS + 10 {
        let of = |e: TestEvent| e.agency("AG1").dossier(id(n));
        out.push(
            of(TestEvent::received(Channel::Counter))
                .at(at(24 * 40))
                .due(at(24 * 45)),
        );
    }
    out
}

fn write(lake: &Lake, first: usize, events: &[TestEvent]) {
    let commit = Commit {
        events: events
            .iter()
            .enumerate()
            .map(|(i, e)| event(first + i, e))
            .collect(),
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();
}

/// Everything out of RAM at every chance.
fn evict_everything(dir: &std::path::Path) -> Eviction {
    Eviction {
        after_days: 0,
        batch: 0,
        dir: dir.to_owned(),
    }
}

/// Every metric by day (the 766 inputs by month) and agency, and every dossier with its facts.
fn everything(p: &Projector, (from, to): (NaiveDate, NaiveDate)) -> (Vec<String>, Vec<String>) {
    let rollups = p.rollups();
    let metrics = METRICS
        .iter()
        .map(|m| {
            let series = rollups
                .series(m, from, to, m.finest_bucket(), None, true)
                .unwrap();
            format!("{} {series:?}", m.name)
        })
        .collect();
    let mut dossiers: Vec<String> = p
        .read()
        .dossiers()
        .map(|(a, d, f)| format!("{a} {d} {f:?}"))
        .collect();
    dossiers.sort();
    (metrics, dossiers)
}

#[test]
fn cold_dossiers_restate_old_buckets_exactly() {
    let (first, late) = (first_events(), late_events());
    let range = (date("2024-02-25"), date("2024-05-31"));
    let spill = tempfile::tempdir().unwrap();

    let (_tmp, lake) = lake_with(vec![]);
    write(&lake, 0, &first);
    let cold = Projector::new(lake.clone()).with_eviction(evict_everything(spill.path()));
    cold.catch_up(&mut |_, _| {}).unwrap();
    assert_eq!(cold.read().dossier_count(), DOSSIERS);
    assert_eq!(cold.read().hot_dossier_count(), 0, "every dossier evicted");
    write(&lake, first.len(), &late);
    cold.catch_up(&mut |_, _| {}).unwrap();
    assert_eq!(cold.read().hot_dossier_count(), 0, "evicted again");

    // Every event at once, nothing evicted.
    let (_tmp2, all) = lake_with(vec![]);
    write(&all, 0, &first);
    write(&all, first.len(), &late);
    let hot = Projector::new(all.clone());
    hot.catch_up(&mut |_, _| {}).unwrap();
    assert_eq!(hot.read().hot_dossier_count(), DOSSIERS + 10);

    let expected = everything(&hot, range);
    assert_eq!(expected.1.len(), DOSSIERS + 10);
    assert_same(&everything(&cold, range), &expected, "evicted");

    // The snapshot holds the cold dossiers too; a projector restored from it evicts again.
    cold.save().unwrap();
    let restored = Projector::load_with(lake.clone(), evict_everything(spill.path())).unwrap();
    assert_eq!(restored.catch_up(&mut |_, _| {}).unwrap(), 0);
    assert_eq!(restored.read().hot_dossier_count(), 0);
    assert_same(&everything(&restored, range), &expected, "restored");
}

/// Each metric and dossier the same, one assertion each (short messages when one differs).
fn assert_same(
    got: &(Vec<String>, Vec<String>),
    expected: &(Vec<String>, Vec<String>),
    when: &str,
) {
    assert_eq!(got.0.len(), expected.0.len());
    assert_eq!(got.1.len(), expected.1.len(), "{when}: dossiers");
    for (g, e) in got
        .0
        .iter()
        .zip(&expected.0)
        .chain(got.1.iter().zip(&expected.1))
    {
        assert!(g == e, "{when}: {}", &e[..e.len().min(60)]);
    }
}

/// More dossiers than the snapshot writes or reads at a time (65,536): a receipt each.
fn many_receipts(n: usize) -> Vec<TestEvent> {
    (0..n)
        .map(|i| {
            TestEvent::received(Channel::ALL[i % Channel::ALL.len()])
                .agency(format!("AG{}", i % 7))
                .dossier(id(i))
                .at(at((i % 2_000) as i64))
                .due(at((i % 2_000) as i64 + 72))
        })
        .collect()
}

#[test]
fn a_snapshot_of_several_batches_restores_every_dossier_and_a_damaged_one_is_folded_again() {
    let events = many_receipts(140_000);
    let range = (date("2024-02-25"), date("2024-05-31"));
    let spill = tempfile::tempdir().unwrap();
    let (tmp, lake) = lake_with(vec![]);
    write(&lake, 0, &events);
    let folded = Projector::new(lake.clone());
    folded.catch_up(&mut |_, _| {}).unwrap();
    let expected = everything(&folded, range);
    assert_eq!(expected.1.len(), 140_000);
    folded.save().unwrap();

    // Written a batch at a time: several row groups, each read back and evicted in turn.
    let file = tmp.path().join("projections/dossiers.parquet");
    let groups = {
        use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        reader.metadata().num_row_groups()
    };
    assert_eq!(groups, 3, "140,000 dossiers in row groups of 65,536");
    let restored = Projector::load_with(lake.clone(), evict_everything(spill.path())).unwrap();
    assert_eq!(
        restored.catch_up(&mut |_, _| {}).unwrap(),
        0,
        "nothing refolded"
    );
    assert_eq!(restored.read().hot_dossier_count(), 0);
    assert_same(&everything(&restored, range), &expected, "restored");

    // Garbled inside its last row group (its footer intact): the load drops what it read and
    // the events are folded again, with the same answers.
    let mut garbled = std::fs::read(&file).unwrap();
    let middle = garbled.len() * 5 / 6;
    garbled[middle..middle + 64].fill(0xA5);
    std::fs::write(&file, garbled).unwrap();
    let refolded = Projector::load_with(lake.clone(), evict_everything(spill.path())).unwrap();
    assert_eq!(
        refolded.read().dossier_count(),
        0,
        "nothing kept of the damaged snapshot"
    );
    assert_eq!(
        refolded.catch_up(&mut |_, _| {}).unwrap(),
        1,
        "the events folded again"
    );
    assert_same(&everything(&refolded, range), &expected, "refolded");
}

/// The `dossiers` table is laid out from the projection (cold dossiers read from disk) beside
/// DataFusion's operators: its rows are charged to the query's memory limit.
#[tokio::test(flavor = "multi_thread")]
async fn the_dossiers_table_counts_against_the_query_memory_limit() {
    use parwatch_lake::{ErrorKind, LimitKind, Limits, QueryEngine, Scope};
    let spill = tempfile::tempdir().unwrap();
    let (_tmp, lake) = lake_with(vec![]);
    write(&lake, 0, &many_receipts(20_000));
    let projector = std::sync::Arc::new(
        Projector::new(lake.clone()).with_eviction(evict_everything(spill.path())),
    );
    projector.catch_up(&mut |_, _| {}).unwrap();
    let engine = |memory_bytes| {
        let limits = Limits {
            memory_bytes,
            ..Limits::default()
        };
        let engine = QueryEngine::with_limits(&lake, limits).unwrap();
        parwatch_metrics::register_tables(&engine, projector.clone()).unwrap();
        engine
    };
    let sql = "SELECT count(*) FROM dossiers";
    let refused = engine(1 << 20).sql(sql).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Limit(LimitKind::Memory),
        "{refused}"
    );
    assert!(refused.to_string().contains("dossiers table"), "{refused}");
    // An agency's token is refused too, told no amount: the table holds every agency's rows.
    let scoped = engine(1 << 20)
        .session(&Scope::Agency("AG1".into()))
        .unwrap()
        .sql(sql)
        .await
        .unwrap_err();
    assert_eq!(
        scoped.kind(),
        ErrorKind::Limit(LimitKind::Memory),
        "{scoped}"
    );
    let text = scoped.to_string();
    assert!(
        !text.contains("dossiers table") && !text.contains("MB"),
        "{text}"
    );
    let counted = engine(64 << 20).sql(sql).await.unwrap();
    let count = counted.batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(count, 20_000);
}
