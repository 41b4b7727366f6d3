//! Agency scopes against an analyst who attacks with SQL: expressions that fail or behave on a
//! row (casts, `arrow_cast`, division by zero, regexes, text-to-time parsing) never see another
//! agency's rows, so their errors cannot quote them — over HTTP and PostgreSQL, whether the
//! caller's rows are rare or dominant in a batch. Statistics (`EXPLAIN VERBOSE`/`ANALYZE`) and
//! rows without an agency stay with unscoped roles; composed string functions cannot take the
//! process past its SQL memory limit.

use std::collections::BTreeSet;
use std::time::Duration;

use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, AgencyKind, Assessor, EventData, TaskStatus};
use serde_json::{Value, json};

use crate::harness::{
    LocalNats, Outgoing, Parwatch, create_token, memory_mib, psql, publish, valid_event,
};

/// 2% of the dossiers: the caller's rows are rare in every batch.
const RARE: &str = "000.00.31.H02";
/// 90% of the dossiers: the caller's rows dominate every batch.
const DOMINANT: &str = "000.00.32.H02";
/// The rest: an agency nobody in this test may read.
const OTHER: &str = "000.00.33.H02";
const AGENCIES: [&str; 3] = [RARE, DOMINANT, OTHER];
/// Dossiers published (six events each).
const DOSSIERS: usize = 300;
/// In the raw body of a rejected message without an agency: only unscoped roles may see it.
const NO_AGENCY_SECRET: &str = "Nguyen Van Bi Mat 0909123456";

/// The agency of dossier `d`.
fn agency_of(d: usize) -> &'static str {
    match d % 50 {
        0 => RARE,
        1..=4 => OTHER,
        _ => DOMINANT,
    }
}

/// What marks a value as belonging to `agency` wherever it appears: its code, and the
/// `D-<nn>-` prefix of its dossier ids.
fn markers(agency: &str) -> [String; 2] {
    let short = &agency[7..9];
    [agency.to_owned(), format!("D-{short}-")]
}

/// Dossier events, PAR work and rejected messages of the three agencies.
fn messages() -> Vec<Outgoing> {
    let mut out = Vec::new();
    for i in 0..DOSSIERS * 6 {
        let agency = agency_of(i / 6);
        let dossier = format!("D-{}-{:05}", &agency[7..9], i / 6);
        out.push(Outgoing::event(
            &valid_event(i).agency(agency).dossier(dossier),
        ));
    }
    for (n, agency) in AGENCIES.iter().enumerate() {
        let short = &agency[7..9];
        let governance = [
            TestEvent::plan_activity(&format!("D-{short}-KH-{n}"), ActivityStatus::Done)
                .field("title", format!("D-{short}-title"))
                .due("2024-06-30T17:00:00+07:00"),
            TestEvent::task(&format!("D-{short}-NV-{n}"), TaskStatus::Completed)
                .due("2024-04-15T17:00:00+07:00")
                .completed_at("2024-04-08T15:20:00+07:00"),
            TestEvent::of(EventData::ParScore {
                year: 2024,
                component: "direction".into(),
                criterion: "superior_tasks".into(),
                score: 1.5,
                max: 2.0,
                assessor: Assessor::SelfAssessment,
                agency_kind: Some(AgencyKind::Department),
                evidence: Some(format!("D-{short}-evidence")),
            }),
        ];
        for (k, event) in governance.into_iter().enumerate() {
            let event = event
                .id(format!("gov-{short}-{k}"))
                .at("2024-05-02T09:00:00+07:00")
                .source("test-governance")
                .agency(*agency);
            out.push(Outgoing::event(&event));
        }
        // Rejected (no occurred_at), naming its agency and carrying its marker in the body.
        let bad = json!({"event_id": format!("bad-{short}"), "type": "dossier.received",
            "schema_version": 1, "source": "test", "agency_code": agency,
            "dossier_id": format!("D-{short}-BAD"), "data": {}});
        out.push(Outgoing::json("par.events.v1.dossier.received", &bad));
    }
    // Rejected, with no agency at all: a citizen's details in the raw body.
    out.push(Outgoing {
        subject: "par.events.v1.dossier.received".to_owned(),
        body: format!("{{\"applicant\": \"{NO_AGENCY_SECRET}\"").into_bytes(),
        msg_id: None,
    });
    out
}

/// A lake holding [`messages`], served by `up`.
async fn lake() -> (tempfile::TempDir, LocalNats, Parwatch) {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let messages = messages();
    let total = messages.len();
    publish(&nats.url(), messages).await;
    let up = Parwatch::up(&nats.url(), &tmp.path().join("data"), &[]).await;
    up.wait_for(
        "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM rejected_events)",
        json!(total),
        Duration::from_secs(60),
    )
    .await;
    (tmp, nats, up)
}

/// Queries an attacker scoped to `me` writes against `table`: each failing expression over
/// (at most four of) its text columns, on every row in the select list, and on the others' rows
/// only behind a condition that makes DataFusion evaluate it on the whole batch (the attack of
/// the security review).
fn probes(me: &str, table: &str, columns: &[String]) -> Vec<String> {
    let failing = |v: &str, column: &str| {
        [
            format!("CAST({v} || ' | ' || {column} AS INT)"),
            format!("arrow_cast({v}, 'Int64')"),
            format!("1 / (length({v}) - length({column}))"),
            format!("regexp_like('x', '(' || {v})"),
            format!("to_timestamp({v})"),
            format!("CAST({v} AS DATE)"),
        ]
    };
    let has_agency = columns.iter().any(|c| c == "agency_code");
    let mut out = Vec::new();
    for column in columns.iter().take(4) {
        for f in failing(column, column) {
            out.push(format!("SELECT {f} FROM {table}"));
        }
        if has_agency {
            let targeted = format!("CASE WHEN agency_code <> '{me}' THEN {column} END");
            for f in failing(&targeted, column) {
                out.push(format!(
                    "SELECT count(*) FROM {table} WHERE \
                     (CASE WHEN agency_code = '{me}' THEN NULL ELSE TRUE END) AND ({f}) IS NULL"
                ));
            }
        }
    }
    out
}

/// The text columns of every table `token` can see.
async fn text_columns(server: &Parwatch, token: &str) -> Vec<(String, Vec<String>)> {
    let answer = server
        .sql_as(
            token,
            "SELECT table_name, column_name FROM information_schema.columns \
         WHERE table_schema = 'public' AND data_type LIKE 'Utf8%' ORDER BY 1, 2",
        )
        .await;
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for row in answer["rows"].as_array().expect("rows") {
        let (table, column) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        match tables.last_mut() {
            Some((t, columns)) if t == table => columns.push(column.to_owned()),
            _ => tables.push((table.to_owned(), vec![column.to_owned()])),
        }
    }
    tables
}

/// The foreign markers `text` contains, for a caller scoped to `me`.
fn leaks(me: &str, text: &str) -> Vec<String> {
    let mut found: Vec<String> = AGENCIES
        .iter()
        .filter(|a| **a != me)
        .flat_map(|a| markers(a))
        .filter(|m| text.contains(m.as_str()))
        .collect();
    if text.contains(NO_AGENCY_SECRET) {
        found.push(NO_AGENCY_SECRET.to_owned());
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_errors_and_plans_show_no_other_agency_value_over_http_and_postgres() {
    let (tmp, _nats, up) = lake().await;
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    drop(up);
    let server = Parwatch::serve(&data).await;
    let tables = text_columns(&server, &admin).await;
    let names: BTreeSet<&str> = tables.iter().map(|(t, _)| t.as_str()).collect();
    for table in [
        "events",
        "rejected_events",
        "dossiers",
        "daily_agency_stats",
        "plan_activities",
        "directive_tasks",
        "par_scores",
        "agencies",
    ] {
        assert!(names.contains(table), "{table} missing from {names:?}");
    }

    // The probes work: unscoped, the error channel does show stored values.
    let (status, error) = http_error(
        &server,
        &admin,
        "SELECT CAST(dossier_id AS INT) FROM dossiers",
    )
    .await;
    assert_eq!(status, 400);
    assert!(error.contains("D-"), "{error}");

    for me in [RARE, DOMINANT] {
        let token = create_token(&data, "analyst", Some(me));
        // The tables a scoped token sees, and its own rows are there.
        let own = server.sql_as(&token, "SELECT count(*) FROM dossiers").await;
        let expected = (0..DOSSIERS).filter(|d| agency_of(*d) == me).count();
        assert_eq!(own["rows"][0][0], json!(expected), "{me}: {own}");

        let mut sql_script = String::new();
        let (mut failed, mut total) = (0, 0);
        for (table, columns) in &tables {
            for sql in probes(me, table, columns) {
                total += 1;
                let response = server.post_sql(Some(&token), &sql, None).await;
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                let found = leaks(me, &body);
                assert!(
                    found.is_empty(),
                    "{me}: {sql} -> {status} {body}: {found:?}"
                );
                failed += usize::from(status != 200);
                sql_script.push_str(&sql);
                sql_script.push_str(";\n");
            }
        }
        // Most probes fail on the caller's own rows; they must fail without values.
        assert!(
            failed * 4 > total,
            "{me}: only {failed} of {total} probes failed"
        );

        let (_, out, err) = psql(
            server.pg_port(),
            &token,
            &["-v", "ON_ERROR_STOP=0", "-A", "-t"],
            Some(&sql_script),
        );
        let errors = err.matches("ERROR").count();
        assert!(
            errors * 4 > total,
            "{me}: psql saw {errors} errors of {total}: {err}"
        );
        let found = leaks(me, &format!("{out}\n{err}"));
        assert!(found.is_empty(), "{me}: over PostgreSQL: {found:?}\n{err}");
    }
}

/// Status and error text of a query.
async fn http_error(server: &Parwatch, token: &str, sql: &str) -> (u16, String) {
    let response = server.post_sql(Some(token), sql, None).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The text of an EXPLAIN.
async fn explain(server: &Parwatch, token: &str, sql: &str) -> String {
    let response = server
        .post_sql(Some(token), &format!("EXPLAIN {sql}"), None)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_is_applied_in_the_scan_below_every_user_expression() {
    let (tmp, _nats, up) = lake().await;
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let token = create_token(&data, "analyst", Some(RARE));
    drop(up);
    let server = Parwatch::serve(&data).await;

    let queries = [
        "SELECT dossier_id FROM dossiers WHERE CAST(dossier_id AS INT) > 0",
        "SELECT event_id FROM events WHERE regexp_like(dossier_id, '^D') ORDER BY length(event_id) LIMIT 3",
        "SELECT e.event_id FROM events e JOIN dossiers d ON e.dossier_id = d.dossier_id \
         WHERE d.dossier_id LIKE 'D-%'",
        "SELECT count(*) FROM rejected_events WHERE raw LIKE '%x%'",
    ];
    for sql in queries {
        let plan = explain(&server, &token, sql).await;
        let lines: Vec<&str> = plan.lines().collect();
        let scopes: Vec<usize> = (0..lines.len())
            .filter(|i| lines[*i].contains("ScopeExec"))
            .collect();
        assert!(!scopes.is_empty(), "{sql}: no scope in\n{plan}");
        for at in scopes {
            // Everything under the barrier (deeper indentation) is the scope and the scan.
            let depth = lines[at].len() - lines[at].trim_start().len();
            for line in lines[at + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > depth)
            {
                let upper = line.to_uppercase();
                for user in ["CAST", "REGEXP", "LENGTH", "LIKE", "DYNAMICFILTER", "D-%"] {
                    assert!(
                        !upper.contains(user),
                        "{sql}: {user} below the scope:\n{plan}"
                    );
                }
            }
        }
        // Files appear by their object paths (no leading `/`), never by where the lake lies.
        let place = tmp.path().to_str().unwrap().trim_start_matches('/');
        assert!(!plan.contains(place), "{plan}");
        let admin_plan = explain(&server, &admin, sql).await;
        assert!(!admin_plan.contains(place), "{admin_plan}");
    }

    // Statistics and metrics over every agency's rows are not for scoped tokens.
    for sql in [
        "EXPLAIN VERBOSE SELECT count(*) FROM events",
        "EXPLAIN ANALYZE SELECT count(*) FROM events",
        "EXPLAIN ANALYZE VERBOSE SELECT * FROM dossiers",
    ] {
        let (status, error) = http_error(&server, &token, sql).await;
        assert_eq!(status, 403, "{sql}: {error}");
        assert!(error.contains("agency-scoped"), "{error}");
        let (status, error) = http_error(&server, &admin, sql).await;
        assert_eq!(status, 200, "{sql}: {error}");
    }

    // Rejected messages without an agency: unscoped roles only.
    let all = server
        .sql_as(
            &admin,
            "SELECT count(*) FROM rejected_events WHERE agency_code IS NULL",
        )
        .await;
    assert_eq!(all["rows"][0][0], json!(1), "{all}");
    let scoped = server
        .sql_as(&token, "SELECT agency_code, raw FROM rejected_events")
        .await;
    let rows = scoped["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{scoped}");
    assert_eq!(rows[0][0], json!(RARE));
    assert!(leaks(RARE, &scoped.to_string()).is_empty(), "{scoped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_string_functions_stay_within_the_sql_memory_limit() {
    const LIMIT_MB: u64 = 64;
    let (tmp, _nats, up) = lake().await;
    drop(up);
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let server = Parwatch::serve_with(
        &data,
        &[
            "--sql-memory-mb",
            &LIMIT_MB.to_string(),
            "--sql-timeout",
            "20",
        ],
        &[],
    )
    .await;
    let pid = server.pid();
    // Warm up: the first queries load the catalogue and the projections.
    server.sql_as(&admin, "SELECT count(*) FROM events").await;
    server.sql_as(&admin, "SELECT count(*) FROM dossiers").await;
    let (rss_before, _) = memory_mib(pid);
    let parens = |n: usize, inner: &str| {
        (0..n).fold(inner.to_owned(), |acc, _| {
            format!("replace({acc}, 'a', 'aa')")
        })
    };
    let bombs = [
        "SELECT length(replace(arrow_cast(repeat('a', 10000000), 'LargeUtf8'), 'a', repeat('b', 100)))".to_owned(),
        format!("SELECT length({})", parens(40, "repeat('a', 1000000)")),
        "SELECT length(repeat(repeat('x', 100000), 100000))".to_owned(),
        format!(
            "SELECT length(concat({}))",
            ["repeat('a', 60000000)"; 12].join(", ")
        ),
        format!(
            "WITH t AS (SELECT repeat('a', 2000000) AS s) SELECT length({}) FROM t",
            ["s"; 40].join(" || ")
        ),
        "SELECT cardinality(array_repeat(array_repeat(repeat('x', 1000), 1000), 1000))".to_owned(),
        "SELECT length(regexp_replace(repeat('a', 1000000), '', repeat('b', 1000), 'g'))".to_owned(),
        "SELECT max(length(replace(event_id || repeat('x', 100000), 'x', repeat('y', 1000)))) FROM events".to_owned(),
        "SELECT length(lpad('a', 2000000000))".to_owned(),
        format!(
            "SELECT max(length(concat_ws({}, {}))) FROM dossiers",
            "repeat('-', 50000000)",
            ["dossier_id"; 20].join(", ")
        ),
    ];
    let mut report = Vec::new();
    for sql in &bombs {
        let (status, error) = http_error(&server, &admin, sql).await;
        let (rss, peak) = memory_mib(pid);
        let short: String = sql.chars().take(80).collect();
        report.push(format!(
            "{status} rss {rss} MiB peak {peak} MiB: {short} -> {error}"
        ));
        assert_eq!(status, 422, "{short}: {error}");
        assert!(error.contains("memory limit"), "{short}: {error}");
        assert_eq!(server.get(None, "/healthz").await.status(), 200);
    }
    let (rss_after, peak) = memory_mib(pid);
    println!(
        "RSS before {rss_before} MiB, after {rss_after} MiB, peak {peak} MiB (SQL memory limit {LIMIT_MB} MiB)\n{}",
        report.join("\n")
    );
    // The stated margin: half the limit for the two query threads' expressions, plus 64 MiB.
    let ceiling = rss_before + (LIMIT_MB + LIMIT_MB / 2 + 64) as f64;
    assert!(peak < ceiling, "peak {peak} MiB over {ceiling} MiB");
    // Ordinary functions over the same tables still answer.
    let answer = server
        .sql_as(
            &admin,
            "SELECT count(*), max(length(replace(dossier_id || 'abc', 'a', 'xyz'))) FROM dossiers",
        )
        .await;
    assert_eq!(answer["rows"][0][0], json!(DOSSIERS));
}
