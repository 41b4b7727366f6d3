//! The SQL sandbox in process: an agency-scoped session's expressions never meet another
//! agency's rows (errors carry no foreign value, the scope sits below every user predicate in
//! the physical plan), statistics stay with unscoped sessions, and composed string functions
//! are refused before they outgrow the memory limit. The end-to-end suite (`scope_leaks`)
//! attacks the same over HTTP and PostgreSQL.

use datafusion::arrow::array::AsArray;
use parwatch_lake::{
    Commit, ErrorKind, Lake, LakeLocation, LimitKind, Limits, QueryEngine, Scope, StoredEvent,
};
use parwatch_proto::testing::TestEvent;

const RARE: &str = "000.00.31.H02";
const DOMINANT: &str = "000.00.32.H02";
const OTHER: &str = "000.00.33.H02";

fn agency_of(i: usize) -> &'static str {
    match i % 50 {
        0 => RARE,
        1..=4 => OTHER,
        _ => DOMINANT,
    }
}

fn event(i: usize) -> StoredEvent<'static> {
    let agency = agency_of(i);
    let event = TestEvent::late()
        .id(format!("ev-{i}"))
        .at(format!("2024-04-0{}T09:00:00+07:00", 1 + i % 2).as_str())
        .source("t")
        .agency(agency)
        .dossier(format!("D-{}-{i:05}", &agency[7..9]));
    StoredEvent {
        event: event.build(),
        stream_seq: i as u64 + 1,
    }
}

fn engine(tmp: &std::path::Path) -> QueryEngine {
    let lake = Lake::open(&LakeLocation::local(tmp).unwrap()).unwrap();
    let commit = Commit {
        events: (0..1000).map(event).collect(),
        rejected: vec![],
    };
    lake.write(&commit, chrono::Utc::now(), &mut Default::default())
        .unwrap();
    let limits = Limits {
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    QueryEngine::with_limits(&lake, limits).unwrap()
}

/// Foreign values in `text` for a session scoped to `me`.
fn foreign(me: &str, text: &str) -> Vec<String> {
    [RARE, DOMINANT, OTHER]
        .into_iter()
        .filter(|a| *a != me)
        .flat_map(|a| [a.to_owned(), format!("D-{}-", &a[7..9])])
        .filter(|m| text.contains(m.as_str()))
        .collect()
}

const FAILING: [&str; 6] = [
    "CAST({v} AS INT)",
    "arrow_cast({v}, 'Int64')",
    "1 / (length({v}) - length({v}))",
    "regexp_like('x', '(' || {v})",
    "to_timestamp({v})",
    "CAST({v} AS DATE)",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_errors_carry_no_value_of_another_agency() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine(tmp.path());
    // Unscoped, the channel exists: the error quotes a stored value.
    let all = engine.session(&Scope::All).unwrap();
    let error = all
        .sql("SELECT CAST(dossier_id AS INT) FROM events")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("D-"), "{error}");
    assert_eq!(error.kind(), ErrorKind::Data);

    for me in [RARE, DOMINANT] {
        let session = engine.session(&Scope::Agency(me.to_owned())).unwrap();
        let own = session.sql("SELECT count(*) FROM events").await.unwrap();
        let count = own.batches[0]
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0);
        assert_eq!(
            count as usize,
            (0..1000).filter(|i| agency_of(*i) == me).count()
        );
        for column in ["agency_code", "dossier_id", "event_id", "source"] {
            let targeted = format!("CASE WHEN agency_code <> '{me}' THEN {column} END");
            for expr in FAILING {
                for v in [column, targeted.as_str()] {
                    let f = expr.replace("{v}", v);
                    // In the select list every row is computed; behind the AND, the own rows
                    // need not be (their left side is null).
                    for (sql, every_row) in [
                        (format!("SELECT {f} FROM events"), true),
                        (
                            format!(
                                "SELECT count(*) FROM events WHERE \
                             (CASE WHEN agency_code = '{me}' THEN NULL ELSE TRUE END) AND ({f}) IS NULL"
                            ),
                            false,
                        ),
                    ] {
                        match session.sql(&sql).await {
                            // Only the caller's rows: the targeted forms find nothing to fail on.
                            Ok(_) => assert!(
                                v == targeted || !every_row,
                                "{sql} should fail on own rows"
                            ),
                            Err(e) => {
                                let text = e.to_string();
                                assert!(foreign(me, &text).is_empty(), "{sql}: {text}");
                                assert!(!text.contains(me), "{sql}: values shown: {text}");
                                assert_eq!(e.kind(), ErrorKind::Data, "{sql}: {text}");
                            }
                        }
                    }
                }
            }
        }
    }
}

fn plan_text(out: &parwatch_lake::QueryOutput) -> String {
    out.batches
        .iter()
        .flat_map(|b| {
            let plans = b.column(1).as_string::<i32>();
            (0..b.num_rows())
                .map(|i| plans.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_sits_below_every_user_predicate_and_statistics_stay_unscoped() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine(tmp.path());
    let session = engine.session(&Scope::Agency(RARE.to_owned())).unwrap();
    let out = session
        .sql(
            "EXPLAIN SELECT event_id FROM events WHERE CAST(dossier_id AS INT) > 0 \
             ORDER BY length(event_id) LIMIT 3",
        )
        .await
        .unwrap();
    let plan = plan_text(&out);
    let lines: Vec<&str> = plan.lines().collect();
    let scope = lines
        .iter()
        .position(|l| l.contains("ScopeExec"))
        .unwrap_or_else(|| panic!("no scope in\n{plan}"));
    let user = lines
        .iter()
        .position(|l| l.contains("FilterExec") && l.contains("CAST"))
        .unwrap_or_else(|| panic!("no user filter in\n{plan}"));
    assert!(
        user < scope,
        "the user's filter runs below the scope:\n{plan}"
    );
    let depth = |l: &str| l.len() - l.trim_start().len();
    for line in lines[scope + 1..]
        .iter()
        .take_while(|l| depth(l) > depth(lines[scope]))
    {
        for word in ["CAST", "length", "DynamicFilter"] {
            assert!(!line.contains(word), "{word} below the scope:\n{plan}");
        }
    }
    let lake_dir = tmp.path().to_str().unwrap().trim_start_matches('/');
    assert!(!plan.contains(lake_dir), "{plan}");

    for sql in [
        "EXPLAIN VERBOSE SELECT count(*) FROM events",
        "EXPLAIN ANALYZE SELECT count(*) FROM events",
    ] {
        let e = session.sql(sql).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotAQuery, "{sql}: {e}");
        let all = engine.session(&Scope::All).unwrap();
        all.sql(sql).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_string_functions_are_refused_before_they_outgrow_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = engine(tmp.path());
    let session = engine.session(&Scope::All).unwrap();
    let doubling = (0..40).fold("repeat('a', 1000000)".to_owned(), |acc, _| {
        format!("replace({acc}, 'a', 'aa')")
    });
    let bombs = [
        "SELECT length(replace(arrow_cast(repeat('a', 10000000), 'LargeUtf8'), 'a', repeat('b', 100)))".to_owned(),
        format!("SELECT length({doubling})"),
        "SELECT length(repeat(repeat('x', 100000), 100000))".to_owned(),
        format!("SELECT length(concat({}))", ["repeat('a', 15000000)"; 12].join(", ")),
        format!(
            "WITH t AS (SELECT repeat('a', 2000000) AS s) SELECT length({}) FROM t",
            ["s"; 40].join(" || ")
        ),
        "SELECT cardinality(array_repeat(array_repeat(repeat('x', 1000), 1000), 1000))".to_owned(),
        "SELECT length(regexp_replace(repeat('a', 1000000), '', repeat('b', 1000), 'g'))".to_owned(),
        "SELECT max(length(replace(event_id || repeat('x', 100000), 'x', repeat('y', 1000)))) FROM events".to_owned(),
        "SELECT length(lpad('a', 2000000000))".to_owned(),
        format!(
            "SELECT max(length(concat_ws(repeat('-', 5000000), {}))) FROM events",
            ["dossier_id"; 20].join(", ")
        ),
    ];
    for sql in &bombs {
        let e = session.sql(sql).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Limit(LimitKind::Memory), "{sql}: {e}");
    }
    // Ordinary uses of the same functions and operator still answer.
    let out = session
        .sql(
            "SELECT count(*), max(length(replace(dossier_id || 'abc', 'a', 'xyz'))), \
             max(length(repeat(agency_code, 3))), max(length(lpad(event_id, 20, '*'))) FROM events",
        )
        .await
        .unwrap();
    assert_eq!(out.row_count(), 1);
    let out = session
        .sql("SELECT 'a' || NULL IS NULL, 'a' || 'b'")
        .await
        .unwrap();
    let b = &out.batches[0];
    assert!(b.column(0).as_boolean().value(0));
    assert_eq!(b.column(1).as_string::<i32>().value(0), "ab");
    assert_eq!(b.schema().field(1).name(), "Utf8(\"a\") || Utf8(\"b\")");
}
