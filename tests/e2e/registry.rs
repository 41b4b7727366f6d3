//! The registry of agencies end to end: dossier events and registry events published to a real
//! nats-server, ingested by `parwatch up`, and a metric and a ranking read over HTTP as recorded
//! and restated to the units of a date, alone and in dashboard panels; the lineage in SQL; what
//! agency-scoped tokens see.
//!
//! January 2025 (resolved, on time): D1 4, 3 — merged into D2 on 2025-03-01; D2 2, 2; C1 10,
//! 5 — split on 2025-07-01 between N1 (0.6) and N2 (0.4); C2 5, 5 — merged into N1 the same
//! day. Restated to the units of 2025-08-01: D2 (3 + 2) / (4 + 2) = 5/6; N1 (0.6·5 + 5) /
//! (0.6·10 + 5) = 8/11; N2 (0.4·5) / (0.4·10) = 1/2. Tasks due in January 2025 (done on
//! time): D1 4 (1), D2 2 (2): restated, D2's PAR Index of 2025 derives its tasks criterion from
//! 3/6, 1 point of 2.

use chrono::DateTime;
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{AgencyLevel, Channel, Outcome, TaskStatus};
use serde_json::{Value, json};

use crate::harness::{
    LocalNats, Outgoing, Parwatch, create_token, embed_token, get_json, lake_with, repo_dashboards,
    wait_projected, web_args,
};

/// `n` dossiers of `agency` received on 2025-01-06, resolved 2 days later (the first
/// `on_time`) or 15 days later (after their due date, 5 days after receipt).
fn dossiers(agency: &str, n: usize, on_time: usize) -> Vec<TestEvent> {
    let at = DateTime::parse_from_rfc3339("2025-01-06T08:00:00+07:00").unwrap();
    (0..n)
        .flat_map(|i| {
            let dossier = format!("{agency}-{i}");
            let resolved = at + chrono::Duration::days(if i < on_time { 2 } else { 15 });
            [
                TestEvent::received(Channel::Counter)
                    .agency(agency)
                    .dossier(&dossier)
                    .at(at)
                    .due(at + chrono::Duration::days(5)),
                TestEvent::resolved(Outcome::Approved)
                    .agency(agency)
                    .dossier(&dossier)
                    .at(resolved),
            ]
        })
        .collect()
}

/// `n` tasks of `agency` due in January 2025, the first `on_time` of them done a day early,
/// the others two days late.
fn tasks(agency: &str, n: u32, on_time: u32) -> Vec<TestEvent> {
    (0..n)
        .flat_map(|i| {
            let id = format!("{}/UBND-VP ({agency})", 100 + i);
            let due = format!("2025-01-{:02}T17:00:00+07:00", 10 + i);
            let done = format!(
                "2025-01-{:02}T10:00:00+07:00",
                if i < on_time { 9 } else { 12 } + i
            );
            [
                TestEvent::task(&id, TaskStatus::Assigned)
                    .due(due.as_str())
                    .agency(agency)
                    .at("2025-01-02T08:00:00+07:00"),
                TestEvent::task(&id, TaskStatus::Completed)
                    .due(due.as_str())
                    .completed_at(done.as_str())
                    .agency(agency)
                    .at(done.as_str()),
            ]
        })
        .collect()
}

fn events() -> Vec<TestEvent> {
    let mut events: Vec<TestEvent> = [("D1", 4, 3), ("D2", 2, 2), ("C1", 10, 5), ("C2", 5, 5)]
        .into_iter()
        .flat_map(|(agency, n, on_time)| dossiers(agency, n, on_time))
        .collect();
    events.extend(tasks("D1", 4, 1));
    events.extend(tasks("D2", 2, 2));
    let decided = "2025-06-16T09:00:00+07:00";
    events.extend([
        TestEvent::merged("D2", "2025-03-01")
            .agency("D1")
            .at("2025-02-20T10:00:00+07:00"),
        TestEvent::registered("Phường Một", AgencyLevel::Commune, "2025-07-01")
            .agency("N1")
            .at(decided),
        TestEvent::registered("Phường Hai", AgencyLevel::Commune, "2025-07-01")
            .agency("N2")
            .at(decided),
        TestEvent::split(&[("N1", Some(0.6)), ("N2", Some(0.4))], "2025-07-01")
            .agency("C1")
            .at(decided),
        TestEvent::merged("N1", "2025-07-01")
            .agency("C2")
            .at(decided),
    ]);
    events
}

/// The first point of `body`'s first series: (value, numerator, denominator).
fn first_point(body: &Value) -> (Value, Value, Value) {
    let point = &body["series"][0]["points"][0];
    (
        point["value"].clone(),
        point["numerator"].clone(),
        point["denominator"].clone(),
    )
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

/// A lake holding the case above (every event landed and folded), served by `parwatch up`
/// with the repository's dashboards and embedding (the tests' secret).
pub(crate) struct RegistryLake {
    /// The server.
    pub(crate) parwatch: Parwatch,
    _nats: LocalNats,
    /// The temporary directory; the data directory is its `data`.
    pub(crate) tmp: tempfile::TempDir,
}

impl RegistryLake {
    /// Publishes the case's events to a fresh nats-server and waits until `parwatch up` has
    /// stored them all (none rejected) and its projections have folded them.
    pub(crate) async fn start() -> Self {
        let web = web_args(&repo_dashboards());
        let web: Vec<&str> = web.iter().map(String::as_str).collect();
        let messages = events().iter().map(Outgoing::event).collect();
        let (tmp, nats, parwatch) = lake_with(messages, &web).await;
        assert_eq!(
            parwatch.sql("SELECT count(*) FROM rejected_events").await["rows"][0][0],
            0
        );
        wait_projected(parwatch.base()).await;
        Self {
            parwatch,
            _nats: nats,
            tmp,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_rankings_as_recorded_and_restated() {
    let lake = RegistryLake::start().await;
    let (parwatch, tmp) = (&lake.parwatch, &lake.tmp);

    let january = "from=2025-01-01&to=2025-01-31&bucket=month";
    // As recorded (the default): N1 did not exist in January.
    let (status, n1) = parwatch
        .get_json(&format!("/api/v1/metrics/on_time_rate?{january}&agency=N1"))
        .await;
    assert_eq!(status, 200, "{n1}");
    assert_eq!(first_point(&n1), (Value::Null, json!(0), json!(0)));
    assert_eq!(
        n1["units"],
        json!({"view": "as_recorded", "date": null, "breaks": []})
    );
    let (_, c1) = parwatch
        .get_json(&format!("/api/v1/metrics/on_time_rate?{january}&agency=C1"))
        .await;
    assert_eq!(first_point(&c1), (json!(0.5), json!(5), json!(10)));

    // Restated to the units of 1 August 2025.
    let restated = "units=restated&units_date=2025-08-01";
    let (status, n1) = parwatch
        .get_json(&format!(
            "/api/v1/metrics/on_time_rate?{january}&agency=N1&{restated}"
        ))
        .await;
    assert_eq!(status, 200, "{n1}");
    let (value, numerator, denominator) = first_point(&n1);
    assert!(close(&value, 8.0 / 11.0), "{n1}");
    assert_eq!((numerator, denominator), (json!(8), json!(11)));
    assert_eq!(n1["units"]["view"], "restated");
    assert_eq!(n1["units"]["date"], "2025-08-01");
    let breaks: Vec<(&str, &str)> = n1["units"]["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["kind"].as_str().unwrap(),
                b["agency_code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        breaks,
        [("split", "C1"), ("merged", "C2"), ("registered", "N1")]
    );
    assert_eq!(n1["units"]["breaks"][0]["date"], "2025-07-01");
    assert_eq!(n1["units"]["breaks"][0]["successors"], json!(["N1", "N2"]));

    // Grouped by unit: only the units of the date, with counters.
    let (_, grouped) = parwatch
        .get_json(&format!(
            "/api/v1/metrics/on_time_rate?{january}&group_by=agency&{restated}"
        ))
        .await;
    let groups: Vec<&str> = grouped["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["group"]["agency_code"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["D2", "N1", "N2"]);

    // Rankings compare like with like.
    let ranks = |body: &Value| -> Vec<(String, Value)> {
        body["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["agency_code"].as_str().unwrap().to_owned(),
                    r["rank"].clone(),
                )
            })
            .collect()
    };
    let (status, recorded) = parwatch
        .get_json("/api/v1/ranking?metric=on_time_rate&from=2025-01-01&to=2025-01-31")
        .await;
    assert_eq!(status, 200, "{recorded}");
    let expected = [("C2", 1), ("D2", 1), ("D1", 3), ("C1", 4)];
    assert_eq!(
        ranks(&recorded),
        expected.map(|(c, r)| (c.to_owned(), json!(r)))
    );
    let (status, restated_ranking) = parwatch
        .get_json(&format!(
            "/api/v1/ranking?metric=on_time_rate&from=2025-01-01&to=2025-01-31&{restated}"
        ))
        .await;
    assert_eq!(status, 200, "{restated_ranking}");
    let expected = [("D2", 1), ("N1", 2), ("N2", 3)];
    assert_eq!(
        ranks(&restated_ranking),
        expected.map(|(c, r)| (c.to_owned(), json!(r))),
        "D2 5/6 > N1 8/11 > N2 1/2"
    );
    assert!(close(&restated_ranking["rows"][2]["value"], 0.5));
    // A ranking of every unit lists its breaks by date, kind and basis, counting the changes.
    let summary: Vec<(&str, &str, i64)> = restated_ranking["units"]["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["agency_code"], Value::Null);
            let text = |k: &str| b[k].as_str().unwrap();
            (text("date"), text("kind"), b["changes"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("2025-03-01", "merged", 1),
            ("2025-07-01", "split", 1),
            ("2025-07-01", "merged", 1),
            ("2025-07-01", "registered", 2),
        ]
    );

    // A mistake in the units is a 400 naming it.
    let (status, error) = parwatch
        .get_json(&format!(
            "/api/v1/metrics/on_time_rate?{january}&units=today"
        ))
        .await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("units"),
        "{error}"
    );

    // The lineage and the registry in SQL.
    let lineage = parwatch
        .sql("SELECT agency_code, successor_code, kind, weight, estimated FROM agency_lineage ORDER BY effective_date, agency_code, successor_code")
        .await;
    assert_eq!(
        lineage["rows"],
        json!([
            ["D1", "D2", "merged", 1.0, false],
            ["C1", "N1", "split", 0.6, false],
            ["C1", "N2", "split", 0.4, false],
            ["C2", "N1", "merged", 1.0, false],
        ])
    );
    let units = parwatch
        .sql("SELECT agency_code FROM agency_registry WHERE (valid_from IS NULL OR valid_from <= DATE '2025-08-01') AND (valid_to IS NULL OR valid_to > DATE '2025-08-01') ORDER BY 1")
        .await;
    assert_eq!(units["rows"], json!([["D2"], ["N1"], ["N2"]]));

    // A token scoped to D2 sees, restated, the history of the department merged into it; as
    // recorded, its own. D1's token keeps D1's recorded history; D1 is no unit of August.
    let data = tmp.path().join("data");
    let d2 = create_token(&data, "viewer", Some("D2"));
    let d1 = create_token(&data, "viewer", Some("D1"));
    let server = Parwatch::serve(&data).await;
    let point = |token: &str, query: &str| {
        let path = format!("/api/v1/metrics/on_time_rate?{january}{query}");
        let server = &server;
        let token = token.to_owned();
        async move {
            let response = server.get(Some(&token), &path).await;
            assert_eq!(response.status(), 200, "{path}");
            first_point(&response.json().await.unwrap())
        }
    };
    let (value, numerator, denominator) = point(&d2, &format!("&{restated}")).await;
    assert!(close(&value, 5.0 / 6.0), "{value}");
    assert_eq!((numerator, denominator), (json!(5), json!(6)));
    assert_eq!(point(&d2, "").await, (json!(1.0), json!(2), json!(2)));
    assert_eq!(point(&d1, "").await, (json!(0.75), json!(3), json!(4)));
    assert_eq!(
        point(&d1, &format!("&{restated}")).await,
        (Value::Null, json!(0), json!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_panels_as_recorded_and_restated() {
    let lake = RegistryLake::start().await;
    let parwatch = &lake.parwatch;
    let january = "from=2025-01-01&to=2025-01-31";
    let restated = "units=restated&units_date=2025-08-01";
    // `id`: `{dashboard}/panels/{panel}`.
    let panel = |id: &str, query: String| {
        let path = format!("/api/v1/dashboards/{id}?{query}");
        async move {
            let (status, body) = parwatch.get_json(&path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    let ratio = |point: &Value| (point["numerator"].clone(), point["denominator"].clone());

    // A stat: N1's January restated is 8/11, as the metric endpoint answers; as recorded, N1
    // had nothing in January. The same request in the other view is another cache entry.
    let recorded = panel("province/panels/on-time", format!("{january}&agency=N1")).await;
    assert_eq!(ratio(&recorded["value"]), (json!(0), json!(0)));
    assert_eq!(recorded["units"]["view"], "as_recorded");
    let stat = panel(
        "province/panels/on-time",
        format!("{january}&agency=N1&{restated}"),
    )
    .await;
    assert!(close(&stat["value"]["value"], 8.0 / 11.0), "{stat}");
    assert_eq!(ratio(&stat["value"]), (json!(8), json!(11)));
    assert_eq!(stat["units"]["view"], "restated");
    assert_eq!(stat["units"]["date"], "2025-08-01");
    let kinds: Vec<&str> = stat["units"]["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["split", "merged", "registered"], "{stat}");
    let again = panel("province/panels/on-time", format!("{january}&agency=N1")).await;
    assert_eq!(again, recorded);

    // A chart over time: the metric endpoint's restated series, point for point.
    let (_, series) = parwatch
        .get_json(&format!(
            "/api/v1/metrics/on_time_rate?{january}&bucket=month&agency=N1&{restated}"
        ))
        .await;
    let chart = panel(
        "province/panels/on-time-trend",
        format!("{january}&agency=N1&{restated}"),
    )
    .await;
    assert_eq!(chart["series"][0]["points"], series["series"][0]["points"]);
    assert_eq!(chart["units"], series["units"]);

    // A ranking ranks the units of the date only.
    let ranking = panel(
        "province/panels/on-time-ranking",
        format!("{january}&{restated}"),
    )
    .await;
    let ranked: Vec<(&str, i64)> = ranking["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["agency_code"].as_str().unwrap(),
                r["rank"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ranked, [("D2", 1), ("N1", 2), ("N2", 3)]);
    assert_eq!(ranking["ranked"], 3);
    let recorded = panel("province/panels/on-time-ranking", january.to_owned()).await;
    assert_eq!(recorded["ranked"], 4);

    // The CSV download is in the view asked for.
    let response = parwatch
        .get(
            None,
            &format!(
                "/api/v1/dashboards/province/panels/on-time?{january}&agency=N1&{restated}&format=csv"
            ),
        )
        .await;
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    let current = csv.lines().nth(1).unwrap();
    assert!(current.ends_with(",8,11,"), "{csv}");

    // SQL panels are as their SQL says; a mistake in the units is a 400 for every panel.
    let sql = panel("quality/panels/stored", format!("{january}&{restated}")).await;
    assert!(sql["rows"].is_array(), "{sql}");
    let (status, error) = parwatch
        .get_json(&format!(
            "/api/v1/dashboards/province/panels/on-time?{january}&units=restated&units_date=2025-13-01"
        ))
        .await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("units_date"),
        "{error}"
    );

    // The agencies a page offers: those with events as recorded, the units of the date
    // restated (N1 and N2 have no dossiers of their own yet).
    let (status, units) = parwatch
        .get_json(&format!("/api/v1/agencies?{restated}"))
        .await;
    assert_eq!(status, 200, "{units}");
    assert_eq!(units["agencies"], json!(["D2", "N1", "N2"]));
    // No directory here: the units only the registry knows take its names; D2 has none.
    assert_eq!(
        units["names"],
        json!({"N1": "Phường Một", "N2": "Phường Hai"})
    );
    let (_, recorded) = parwatch.get_json("/api/v1/agencies").await;
    let recorded = recorded["agencies"].as_array().unwrap().clone();
    for old in ["C1", "C2", "D1", "D2"] {
        assert!(recorded.contains(&json!(old)), "{recorded:?}");
    }

    // An embed is as recorded only: restated figures beside its own could give back what its
    // disclosure control withholds.
    let data = lake.tmp.path().join("data");
    let token = embed_token(&data, &repo_dashboards(), &["--dashboard", "province"]).unwrap();
    let embed = |extra: &str| {
        format!(
            "{}/embed/api/panels/on-time?token={token}&{january}{extra}",
            parwatch.base()
        )
    };
    let (status, body) = get_json(&embed("")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["units"]["view"], "as_recorded");
    let (status, error) = get_json(&embed(&format!("&{restated}"))).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("as recorded"),
        "{error}"
    );
}

/// (agency, tasks criterion's numerator, denominator) of each agency of a PAR Index answer.
fn par_tasks(body: &Value) -> Vec<(String, i64, i64)> {
    body["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let tasks = a["criteria"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["code"] == "superior_tasks")
                .unwrap();
            let derived = &tasks["derived"];
            (
                a["agency_code"].as_str().unwrap().to_owned(),
                derived["numerator"].as_i64().unwrap(),
                derived["denominator"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn par_index_as_recorded_and_restated() {
    let lake = RegistryLake::start().await;
    let parwatch = &lake.parwatch;
    let restated = "units=restated&units_date=2025-08-01";
    let (status, recorded) = parwatch.get_json("/api/v1/par-index?year=2025").await;
    assert_eq!(status, 200, "{recorded}");
    assert_eq!(recorded["units"]["view"], "as_recorded");
    let mut agencies = par_tasks(&recorded);
    agencies.sort();
    assert_eq!(agencies, [("D1".to_owned(), 1, 4), ("D2".to_owned(), 2, 2)]);
    // Restated: D2 alone, its tasks criterion from (1 + 2) / (4 + 2), 1 point of 2.
    let (status, body) = parwatch
        .get_json(&format!("/api/v1/par-index?year=2025&{restated}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(par_tasks(&body), [("D2".to_owned(), 3, 6)]);
    assert_eq!(body["agencies"][0]["index"], 1.0);
    assert_eq!(body["units"]["view"], "restated");
    assert_eq!(body["units"]["date"], "2025-08-01");
    assert!(
        body["units"]["breaks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["date"] == "2025-03-01" && b["kind"] == "merged"),
        "{body}"
    );
    // D2's history restated holds the restated year; a bad view is a 400.
    let (status, history) = parwatch
        .get_json(&format!("/api/v1/par-index/history?agency=D2&{restated}"))
        .await;
    assert_eq!(status, 200, "{history}");
    let years: Vec<&Value> = history["years"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|y| y["year"] == 2025)
        .collect();
    assert_eq!(years, [&body["agencies"][0]]);
    let (status, error) = parwatch
        .get_json("/api/v1/par-index?year=2025&units=today")
        .await;
    assert_eq!(status, 400, "{error}");

    // D1's token, restated: D1 is no unit of August, so nothing.
    let data = lake.tmp.path().join("data");
    let d1 = create_token(&data, "viewer", Some("D1"));
    let server = Parwatch::serve(&data).await;
    let response = server
        .get(
            Some(&d1),
            &format!("/api/v1/par-index?year=2025&{restated}"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["agencies"], json!([]));
}
