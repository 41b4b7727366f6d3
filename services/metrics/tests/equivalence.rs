//! Rollups equal raw-event SQL for every metric on a random, shuffled event set (dossiers, plan
//! activities and tasks from superiors).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use parwatch_lake::QueryEngine;
use parwatch_metrics::{Bucket, METRICS, Projector, register_tables};
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, Channel, Outcome, ServiceMode, TaskStatus};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::common::{date, event, lake_with, projector};

/// Random dossiers over ~40 days for 4 agencies: some events repeated with other ids, some
/// lifecycle steps missing, times on the hour so that ties happen.
fn random_events(rng: &mut ChaCha8Rng) -> Vec<TestEvent> {
    let start = DateTime::parse_from_rfc3339("2024-03-20T00:00:00+07:00")
        .unwrap()
        .to_utc();
    let mut out = Vec::new();
    for n in 0..400 {
        let of = |event: TestEvent| {
            event
                .agency(format!("AG{}", n % 4))
                .dossier(format!("D{n}"))
        };
        let received = start + Duration::hours(rng.random_range(0..24 * 40));
        let due = received + Duration::hours(rng.random_range(-10..24 * 6));
        let channel = Channel::ALL[rng.random_range(0..3)];
        let mut receipt = of(TestEvent::received(channel)).due(due);
        if channel == Channel::Online {
            receipt = receipt.online_mode(ServiceMode::ALL[rng.random_range(0..2)]);
        }
        let copies = if rng.random_bool(0.8) {
            1
        } else {
            rng.random_range(0..3)
        };
        for c in 0..copies {
            let t = received + Duration::hours(rng.random_range(0..2) * c);
            out.push(receipt.clone().at(t));
        }
        let resolved = received + Duration::hours(rng.random_range(-5..24 * 9));
        if rng.random_bool(0.8) {
            let digitized = [Some(true), Some(false), None][rng.random_range(0..3)];
            for _ in 0..rng.random_range(1..3) {
                let t = resolved + Duration::hours(rng.random_range(0..3));
                let resolution = of(TestEvent::resolved(Outcome::Approved)).at(t);
                out.push(match digitized {
                    Some(d) => resolution.digitized(d),
                    None => resolution,
                });
            }
        }
        if resolved > due && rng.random_bool(0.9) {
            for _ in 0..rng.random_range(1..3) {
                let t = due + Duration::hours(rng.random_range(0..30));
                out.push(of(TestEvent::late()).at(t).due(due));
            }
            for _ in 0..rng.random_range(0..3) {
                let t = due + Duration::hours(rng.random_range(-30..30));
                out.push(of(TestEvent::apology()).at(t).due(due + Duration::days(3)));
            }
        }
    }
    out.extend(random_plans_and_tasks(rng, start));
    out.shuffle(rng);
    out
}

/// Random tasks (an assignment, completions that may report another deadline, some reported
/// only at completion) and plan activities (statuses back and forth, deadlines moved, ties on
/// the hour) of the same 4 agencies.
fn random_plans_and_tasks(rng: &mut ChaCha8Rng, start: DateTime<Utc>) -> Vec<TestEvent> {
    let mut out = Vec::new();
    for n in 0..160 {
        let agency = format!("AG{}", n % 4);
        let due = start + Duration::hours(rng.random_range(0..24 * 40));
        let task_id = format!("T{}", n / 2);
        if rng.random_bool(0.85) {
            let assigned = due - Duration::hours(rng.random_range(24..24 * 10));
            let task = TestEvent::task(&task_id, TaskStatus::Assigned).due(due);
            out.push(task.agency(&agency).at(assigned));
        }
        for _ in 0..rng.random_range(0..3) {
            let done = due + Duration::hours(rng.random_range(-72..48));
            let said_due = due + Duration::hours(rng.random_range(0..2) * 48);
            let task = TestEvent::task(&task_id, TaskStatus::Completed)
                .due(said_due)
                .completed_at(done);
            let t = done + Duration::hours(rng.random_range(0..3));
            out.push(task.agency(&agency).at(t));
        }
    }
    for n in 0..120 {
        let agency = format!("AG{}", n % 4);
        let activity_id = format!("P{}", n / 3);
        let first = start + Duration::hours(rng.random_range(0..24 * 30));
        for _ in 0..rng.random_range(1..4) {
            let status = ActivityStatus::ALL[rng.random_range(0..3)];
            let due = first + Duration::hours(rng.random_range(0..4) * 24 * 5);
            let activity = TestEvent::plan_activity(&activity_id, status)
                .field("title", "Hoạt động")
                .due(due);
            let t = first + Duration::hours(rng.random_range(0..6));
            out.push(activity.agency(&agency).at(t));
        }
    }
    out
}

/// Per (day, agency, metric): (numerator, denominator) computed from raw events by SQL (and,
/// for the overdue backlog, by the definition applied to each day end).
async fn raw_answers(
    engine: &QueryEngine,
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<(NaiveDate, String, &'static str), (i64, Option<i64>)> {
    let facts = "WITH ranked AS (
        SELECT *, row_number() OVER (
            PARTITION BY agency_code, dossier_id, type
            ORDER BY occurred_at, channel NULLS FIRST,
                CASE online_mode WHEN 'partial' THEN 1 WHEN 'full' THEN 2 ELSE 0 END,
                due_at NULLS FIRST, digitized NULLS FIRST) AS rn
        FROM events),
      d AS (SELECT agency_code, dossier_id,
        max(CASE WHEN type = 'dossier.received' THEN occurred_at END) AS received_at,
        max(CASE WHEN type = 'dossier.received' THEN channel END) AS channel,
        max(CASE WHEN type = 'dossier.received' THEN online_mode END) AS online_mode,
        max(CASE WHEN type = 'dossier.received' THEN due_at END) AS due_at,
        max(CASE WHEN type = 'dossier.resolved' THEN occurred_at END) AS resolved_at,
        bool_or(CASE WHEN type = 'dossier.resolved' THEN digitized END) AS digitized,
        max(CASE WHEN type = 'dossier.late' THEN occurred_at END) AS late_at,
        max(CASE WHEN type = 'dossier.late' THEN due_at END) AS late_due_at,
        max(CASE WHEN type = 'dossier.apology' THEN occurred_at END) AS apology_at
        FROM ranked WHERE rn = 1 GROUP BY agency_code, dossier_id)";
    let local = |col: &str| format!("CAST({col} + INTERVAL '7 hours' AS DATE)");
    let per_metric: Vec<(&str, String)> = vec![
        (
            "received",
            format!(
                "SELECT {}, agency_code, count(*), NULL FROM d WHERE received_at IS NOT NULL GROUP BY 1, 2",
                local("received_at")
            ),
        ),
        (
            "online_uptake",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN channel = 'online' THEN 1 ELSE 0 END), count(*) FROM d WHERE received_at IS NOT NULL GROUP BY 1, 2",
                local("received_at")
            ),
        ),
        (
            "full_online_share",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN channel = 'online' AND online_mode = 'full' THEN 1 ELSE 0 END), count(*) FROM d WHERE received_at IS NOT NULL GROUP BY 1, 2",
                local("received_at")
            ),
        ),
        (
            "postal_share",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN channel = 'postal' THEN 1 ELSE 0 END), count(*) FROM d WHERE received_at IS NOT NULL GROUP BY 1, 2",
                local("received_at")
            ),
        ),
        (
            "resolved",
            format!(
                "SELECT {}, agency_code, count(*), NULL FROM d WHERE resolved_at IS NOT NULL GROUP BY 1, 2",
                local("resolved_at")
            ),
        ),
        (
            "on_time_rate",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN resolved_at <= due_at THEN 1 ELSE 0 END), count(*) FROM d WHERE resolved_at IS NOT NULL AND received_at IS NOT NULL GROUP BY 1, 2",
                local("resolved_at")
            ),
        ),
        (
            "late_files",
            format!(
                "SELECT {}, agency_code, count(*), NULL FROM d WHERE late_at IS NOT NULL GROUP BY 1, 2",
                local("late_at")
            ),
        ),
        (
            "apology_rate",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN apology_at IS NOT NULL THEN 1 ELSE 0 END), count(*) FROM d WHERE late_at IS NOT NULL GROUP BY 1, 2",
                local("late_at")
            ),
        ),
        (
            "apology_timely_rate",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN apology_at <= late_due_at THEN 1 ELSE 0 END), count(*) FROM d WHERE late_at IS NOT NULL AND apology_at IS NOT NULL GROUP BY 1, 2",
                local("late_at")
            ),
        ),
        (
            "digitized_share",
            format!(
                "SELECT {}, agency_code, sum(CASE WHEN digitized THEN 1 ELSE 0 END), count(*) FROM d WHERE resolved_at IS NOT NULL GROUP BY 1, 2",
                local("resolved_at")
            ),
        ),
    ];
    // Plans and tasks, from the `data` text: a task is due when its first event says, an
    // activity is what its latest event says.
    let field = |name: &str| format!("regexp_match(data, '\"{name}\":\"([^\"]*)\"')[1]");
    let tasks = format!(
        "WITH t AS (SELECT agency_code, {} AS task_id, due_at, occurred_at,
            to_timestamp({}) AS completed_at FROM events WHERE type = 'directive.task'),
          ranked AS (SELECT *, row_number() OVER (PARTITION BY agency_code, task_id
            ORDER BY occurred_at, due_at) AS rn FROM t),
          task AS (SELECT agency_code, task_id, max(CASE WHEN rn = 1 THEN due_at END) AS due,
            min(completed_at) AS completed FROM ranked GROUP BY agency_code, task_id)
        SELECT {}, agency_code, sum(CASE WHEN completed <= due THEN 1 ELSE 0 END), count(*)
        FROM task GROUP BY 1, 2",
        field("task_id"),
        field("completed_at"),
        local("due")
    );
    let plans = format!(
        "WITH a AS (SELECT agency_code, {} AS activity_id, {} AS status, due_at, occurred_at
            FROM events WHERE type = 'plan.activity'),
          ranked AS (SELECT *, row_number() OVER (PARTITION BY agency_code, activity_id
            ORDER BY occurred_at DESC,
              CASE status WHEN 'planned' THEN 0 WHEN 'done' THEN 1 ELSE 2 END DESC,
              due_at DESC) AS rn FROM a)
        SELECT {}, agency_code, sum(CASE WHEN status = 'done' THEN 1 ELSE 0 END), count(*)
        FROM ranked WHERE rn = 1 AND status <> 'cancelled' GROUP BY 1, 2",
        field("activity_id"),
        field("status"),
        local("due_at")
    );
    let mut out = BTreeMap::new();
    let per_metric = per_metric
        .into_iter()
        .map(|(name, select)| (name, format!("{facts} {select}")))
        .chain([("tasks_on_time", tasks), ("plan_completion", plans)]);
    for (name, select) in per_metric {
        let answer = engine.sql(&select).await.unwrap();
        for batch in &answer.batches {
            let json = batch_rows(batch);
            for row in json {
                let day: NaiveDate = row[0].as_str().unwrap().parse().unwrap();
                if day < from || day > to {
                    continue;
                }
                let den = row[3].as_i64();
                out.insert(
                    (day, row[1].as_str().unwrap().to_owned(), name),
                    (row[2].as_i64().unwrap(), den),
                );
            }
        }
    }
    // The backlog straight from its definition, at the end of every day.
    let dossiers = engine
        .sql(&format!("{facts} SELECT agency_code, CAST(received_at AS BIGINT), CAST(due_at AS BIGINT), CAST(resolved_at AS BIGINT) FROM d WHERE received_at IS NOT NULL"))
        .await
        .unwrap();
    let rows: Vec<Value> = dossiers.batches.iter().flat_map(batch_rows).collect();
    let mut day = from;
    while day <= to {
        let end = (day + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
            - 7 * 3_600_000_000;
        for row in &rows {
            let (recv, due) = (row[1].as_i64().unwrap(), row[2].as_i64().unwrap());
            let resolved_before = row[3].as_i64().is_some_and(|r| r < end);
            if recv < end && due < end && !resolved_before {
                out.entry((day, row[0].as_str().unwrap().to_owned(), "overdue_backlog"))
                    .or_insert((0, None))
                    .0 += 1;
            }
        }
        day += Duration::days(1);
    }
    out
}

/// The metrics counted by day whose raw sums the SQL oracle gives (all but the median).
fn daily_metrics() -> impl Iterator<Item = &'static parwatch_metrics::MetricDef> {
    METRICS
        .iter()
        .filter(|m| m.finest_bucket() == Bucket::Day && m.name != "processing_days_p50")
}

/// Every metric, weekly per agency (the 766 inputs monthly), is the same from both projectors.
fn assert_same_answers(
    a: &Projector,
    b: &Projector,
    (from, to): (NaiveDate, NaiveDate),
    when: &str,
) {
    for m in METRICS.iter() {
        let bucket = match m.finest_bucket() {
            Bucket::Day => Bucket::Week,
            finest => finest,
        };
        let x = a.rollups().series(m, from, to, bucket, None, true).unwrap();
        let y = b.rollups().series(m, from, to, bucket, None, true).unwrap();
        assert_eq!(x, y, "{} {when}", m.name);
    }
}

fn batch_rows(batch: &datafusion::arrow::array::RecordBatch) -> Vec<Value> {
    let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    writer.write(batch).unwrap();
    writer.finish().unwrap();
    let objects: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(&writer.into_inner()).unwrap_or_default();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    objects
        .into_iter()
        .map(|o| {
            Value::Array(
                names
                    .iter()
                    .map(|n| o.get(n).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn rollups_equal_raw_events_for_every_metric() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let specs = random_events(&mut rng);
    let events: Vec<_> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| event(i, spec))
        .collect();
    // Five commits: five sets of files, folded in one after another.
    let groups = events
        .chunks(events.len() / 5 + 1)
        .map(<[_]>::to_vec)
        .collect();
    let (_tmp, lake) = lake_with(groups);
    let projector = projector(&lake);
    let engine = QueryEngine::new(&lake).unwrap();
    register_tables(&engine, projector.clone()).unwrap();
    let (from, to) = (date("2024-03-15"), date("2024-05-20"));
    let raw = raw_answers(&engine, from, to).await;
    assert!(
        raw.len() > 500,
        "the data set exercises the metrics: {}",
        raw.len()
    );
    for name in ["tasks_on_time", "plan_completion"] {
        let days = raw.keys().filter(|k| k.2 == name).count();
        assert!(days > 40, "{name} on {days} agency-days");
    }

    // Medians within 1% of DataFusion's exact median, per agency and month.
    let medians = engine
        .sql("SELECT agency_code, CAST(date_trunc('month', resolved_at + INTERVAL '7 hours') AS DATE), \
              median((CAST(resolved_at AS BIGINT) - CAST(received_at AS BIGINT)) / 86400000000.0) \
              FROM dossiers WHERE resolved_at IS NOT NULL AND received_at IS NOT NULL GROUP BY 1, 2")
        .await
        .unwrap();
    // The projection tables answer SQL too, consistently with the rollups.
    let sql = engine
        .sql("SELECT sum(received), sum(late_files) FROM daily_agency_stats")
        .await
        .unwrap();
    let p = projector.rollups();
    let mut compared = 0;
    for m in daily_metrics() {
        let series = p.series(m, from, to, Bucket::Day, None, true).unwrap();
        for s in &series {
            let agency = s.agency_code.clone().unwrap();
            for point in &s.points {
                let rollup = (point.numerator.unwrap_or(0), point.denominator);
                let expected = raw
                    .get(&(point.bucket, agency.clone(), m.name))
                    .copied()
                    .unwrap_or((0, point.denominator.map(|_| 0)));
                assert_eq!(rollup, expected, "{} {} {}", m.name, agency, point.bucket);
                compared += 1;
            }
        }
    }
    assert!(compared > 2500, "{compared}");

    // A summary over an arbitrary range (not bucket-aligned) is the raw sum over its days,
    // per agency and overall; the backlog is the one at the end of its last day.
    let (sfrom, sto) = (date("2024-03-27"), date("2024-04-19"));
    for m in daily_metrics() {
        for agency in [None, Some("AG0"), Some("AG3")] {
            let got = p.summary(m, sfrom, sto, agency).unwrap();
            let in_scope = |(day, a, name): &(NaiveDate, String, &str)| {
                *name == m.name
                    && agency.is_none_or(|want| want == a)
                    && if m.name == "overdue_backlog" {
                        *day == sto
                    } else {
                        (sfrom..=sto).contains(day)
                    }
            };
            let (num, den) = raw
                .iter()
                .filter(|(k, _)| in_scope(k))
                .fold((0, None), |(n, d), (_, (rn, rd))| {
                    (n + rn, rd.map(|rd| d.unwrap_or(0) + rd).or(d))
                });
            let den = den.or(got.denominator.map(|_| 0));
            assert_eq!(
                (got.numerator, got.denominator),
                (Some(num), den),
                "{} {agency:?}",
                m.name
            );
            let value = match den {
                Some(0) => None,
                Some(d) => Some(num as f64 / d as f64),
                None => Some(num as f64),
            };
            assert_eq!(got.value, value, "{} {agency:?}", m.name);
        }
    }
    assert_eq!(
        p.summary(METRICS.first().unwrap(), sfrom, sto, Some("nobody"))
            .unwrap()
            .numerator,
        Some(0)
    );

    let p50 = parwatch_metrics::metric("processing_days_p50").unwrap();
    let mut checked = 0;
    for row in medians.batches.iter().flat_map(batch_rows) {
        let month: NaiveDate = row[1].as_str().unwrap().parse().unwrap();
        if month < date("2024-04-01") || month > date("2024-04-30") {
            continue;
        }
        let exact = row[2].as_f64().unwrap();
        let series = p
            .series(
                p50,
                month,
                date("2024-04-30"),
                Bucket::Month,
                row[0].as_str(),
                false,
            )
            .unwrap();
        let got = series[0].points[0].value.unwrap();
        assert!(
            (got - exact).abs() <= exact.abs() * 0.01 + 1e-9,
            "{row:?}: {got} vs {exact}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);

    // A projector restored from a snapshot answers exactly as the one folded from raw events.
    projector.save().unwrap();
    let restored = Projector::load(lake.clone()).unwrap();
    assert_eq!(
        restored.catch_up(&mut |_, _| {}).unwrap(),
        0,
        "the snapshot covers every file"
    );
    assert_same_answers(&projector, &restored, (from, to), "restored");
    let row = &batch_rows(&sql.batches[0])[0];
    let total_received: i64 = projector
        .read()
        .dossiers()
        .filter(|(_, _, f)| f.received.is_some())
        .count() as i64;
    assert_eq!(row[0].as_i64().unwrap(), total_received);
    drop(p);

    assert_eq!(
        restored.version(),
        projector.version(),
        "the snapshot's version"
    );

    // Compaction rewrites the files: the projector moves to its version without folding the
    // merged files (their rows are folded already), and every answer and count stays.
    let events = projector.rollups().event_count();
    let policy = parwatch_lake::CompactionPolicy {
        max_files: 2,
        idle: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    assert!(lake.compact(&policy).unwrap().compactions > 0);
    assert_eq!(
        projector.catch_up(&mut |_, _| {}).unwrap(),
        0,
        "a compaction adds no rows"
    );
    let compacted = lake.stats(parwatch_lake::EVENTS_TABLE).version;
    assert_eq!(projector.version(), Some(compacted));
    assert_eq!(
        projector.rollups().event_count(),
        events,
        "no event folded twice"
    );
    assert_same_answers(&projector, &restored, (from, to), "after compaction");

    // A projector that starts on the compacted lake folds the merged files once.
    let fresh = Projector::new(lake.clone());
    assert!(fresh.catch_up(&mut |_, _| {}).unwrap() > 0);
    assert_eq!(fresh.rollups().event_count(), events);
    assert_same_answers(
        &projector,
        &fresh,
        (from, to),
        "folded from the compacted lake",
    );
}
