//! The three roles of an agency on a dossier end to end: receipts naming their receiving point
//! and commune area published to a real nats-server, ingested by `parwatch up`, and metrics and
//! rankings read over HTTP under each role, as recorded and restated through the lineage; a
//! bad `area_code` rejected; what agency-scoped tokens read in each role.
//!
//! January 2025, every dossier received on the 6th (due the 11th), resolved on time or late:
//!
//! | competent | dossiers (on time) | receiving | area |
//! |---|---|---|---|
//! | district D | 4 (3) | D | commune A |
//! | district D | 2 (1) | D | commune B |
//! | commune A | 2 (2) | A | A |
//! | commune B | 1 (0) | B | B |
//! | department X | 2 (1) | centre S | – (X) |
//! | department X | 1 (1) | X | – (X) |
//!
//! On 1 July 2025 D is abolished, split between the new communes N1 and N2 without weights
//! (nothing received by either: equal shares), A merged into N1 and B into N2. Restated to the
//! units of 1 August 2025, January's on-time rate:
//! - competent: N1 = A + ½D = (2 + 4/2) / (2 + 6/2) = 4/5; N2 = B + ½D = (0 + 2) / (1 + 3) = 1/2;
//! - area: N1 takes A's area, the district's 4 included: (3 + 2) / (4 + 2) = 5/6; N2 takes
//!   B's: (1 + 0) / (2 + 1) = 1/3; the district's own area is empty, so nothing is split.
//!
//! Recorded, by receiving point: S 1/2, X 1/1, D 4/6, A 2/2, B 0/1.

use chrono::{DateTime, Duration};
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{AgencyLevel, Channel, Outcome};
use serde_json::{Value, json};

use crate::harness::{
    LocalNats, Outgoing, Parwatch, create_token, embed_token, get_json, lake_with, publish,
    repo_dashboards, wait_projected, web_args,
};

/// `n` dossiers of `agency` naming `receiving` and `area` (when given), the first `on_time`
/// resolved 2 days after receipt, the others 15 days after (their due date was 5 days).
fn dossiers(
    agency: &str,
    tag: &str,
    n: usize,
    on_time: usize,
    receiving: Option<&str>,
    area: Option<&str>,
) -> Vec<TestEvent> {
    let at = DateTime::parse_from_rfc3339("2025-01-06T08:00:00+07:00").unwrap();
    (0..n)
        .flat_map(|i| {
            let dossier = format!("{agency}-{tag}-{i}");
            let mut received = TestEvent::received(Channel::Counter)
                .agency(agency)
                .dossier(&dossier)
                .at(at)
                .due(at + Duration::days(5));
            if let Some(code) = receiving {
                received = received.receiving(code);
            }
            if let Some(code) = area {
                received = received.area(code);
            }
            let days = if i < on_time { 2 } else { 15 };
            [
                received,
                TestEvent::resolved(Outcome::Approved)
                    .agency(agency)
                    .dossier(&dossier)
                    .at(at + Duration::days(days)),
            ]
        })
        .collect()
}

fn events() -> Vec<TestEvent> {
    let mut events = Vec::new();
    events.extend(dossiers("D", "a", 4, 3, Some("D"), Some("A")));
    events.extend(dossiers("D", "b", 2, 1, None, Some("B")));
    events.extend(dossiers("A", "own", 2, 2, None, Some("A")));
    events.extend(dossiers("B", "own", 1, 0, None, None));
    events.extend(dossiers("X", "centre", 2, 1, Some("S"), None));
    events.extend(dossiers("X", "own", 1, 1, None, None));
    let decided = "2025-06-16T09:00:00+07:00";
    events.extend([
        TestEvent::registered("Xã Một", AgencyLevel::Commune, "2025-07-01")
            .agency("N1")
            .at(decided),
        TestEvent::registered("Xã Hai", AgencyLevel::Commune, "2025-07-01")
            .agency("N2")
            .at(decided),
        TestEvent::split(&[("N1", None), ("N2", None)], "2025-07-01")
            .agency("D")
            .at(decided),
        TestEvent::merged("N1", "2025-07-01")
            .agency("A")
            .at(decided),
        TestEvent::merged("N2", "2025-07-01")
            .agency("B")
            .at(decided),
    ]);
    events
}

const JANUARY: &str = "from=2025-01-01&to=2025-01-31&bucket=month";
const RESTATED: &str = "units=restated&units_date=2025-08-01";

/// (agency, numerator, denominator, value) of each series' January point.
fn january(body: &Value) -> Vec<(String, i64, i64, f64)> {
    body["series"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|s| {
            let p = &s["points"][0];
            (
                s["group"]["agency_code"].as_str().unwrap_or("").to_owned(),
                p["numerator"].as_i64().unwrap(),
                p["denominator"].as_i64().unwrap(),
                p["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn rate(agency: &str, n: i64, d: i64, value: f64) -> (String, i64, i64, f64) {
    (agency.to_owned(), n, d, value)
}

/// Equal up to rounding of the values.
fn same(got: &[(String, i64, i64, f64)], expected: &[(String, i64, i64, f64)]) -> bool {
    got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|(g, e)| (&g.0, g.1, g.2) == (&e.0, e.1, e.2) && (g.3 - e.3).abs() < 1e-9)
}

/// (agency, rank) of a ranking's rows.
fn ranks(body: &Value) -> Vec<(String, Value)> {
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| {
            (
                r["agency_code"].as_str().unwrap().to_owned(),
                r["rank"].clone(),
            )
        })
        .collect()
}

fn ranked(rows: &[(&str, Option<i64>)]) -> Vec<(String, Value)> {
    rows.iter()
        .map(|(c, r)| ((*c).to_owned(), json!(r)))
        .collect()
}

struct Case {
    parwatch: Parwatch,
    nats: LocalNats,
    tmp: tempfile::TempDir,
}

async fn start() -> Case {
    let messages = events().iter().map(Outgoing::event).collect();
    let web = web_args(&repo_dashboards());
    let web: Vec<&str> = web.iter().map(String::as_str).collect();
    let (tmp, nats, parwatch) = lake_with(messages, &web).await;
    wait_projected(parwatch.base()).await;
    Case {
        parwatch,
        nats,
        tmp,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dossiers_counted_by_receiving_point_and_area_restated_through_communes() {
    let Case {
        parwatch,
        nats,
        tmp,
    } = start().await;
    let series = |query: String| {
        let parwatch = &parwatch;
        async move {
            let path = format!("/api/v1/metrics/on_time_rate?{JANUARY}&group_by=agency&{query}");
            let (status, body) = parwatch.get_json(&path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };

    // As recorded: the competent agencies (the default, and named), then the receiving points.
    let competent = series(String::new()).await;
    assert_eq!(competent["role"], "competent");
    let expected = [
        rate("A", 2, 2, 1.0),
        rate("B", 0, 1, 0.0),
        rate("D", 4, 6, 4.0 / 6.0),
        rate("X", 2, 3, 2.0 / 3.0),
    ];
    assert!(same(&january(&competent), &expected), "{competent}");
    assert_eq!(
        series("role=competent".into()).await["series"],
        competent["series"]
    );
    let receiving = series("role=receiving".into()).await;
    assert_eq!(receiving["role"], "receiving");
    let expected = [
        rate("A", 2, 2, 1.0),
        rate("B", 0, 1, 0.0),
        rate("D", 4, 6, 4.0 / 6.0),
        rate("S", 1, 2, 0.5),
        rate("X", 1, 1, 1.0),
    ];
    assert!(same(&january(&receiving), &expected), "{receiving}");
    // By area: the district's dossiers in their communes; X named no area, so it keeps its own.
    let area = series("role=area".into()).await;
    let expected = [
        rate("A", 5, 6, 5.0 / 6.0),
        rate("B", 1, 3, 1.0 / 3.0),
        rate("X", 2, 3, 2.0 / 3.0),
    ];
    assert!(same(&january(&area), &expected), "{area}");

    // Restated to the units of August: by area, the district's dossiers land in the communes
    // their area communes became; as competent, the district is split by estimated weights.
    let restated = series(RESTATED.into()).await;
    let expected = [
        rate("N1", 4, 5, 4.0 / 5.0),
        rate("N2", 2, 4, 0.5),
        rate("X", 2, 3, 2.0 / 3.0),
    ];
    assert!(same(&january(&restated), &expected), "{restated}");
    let by_area = series(format!("role=area&{RESTATED}")).await;
    assert_eq!(by_area["role"], "area");
    assert_eq!(by_area["units"]["view"], "restated");
    let expected = [
        rate("N1", 5, 6, 5.0 / 6.0),
        rate("N2", 1, 3, 1.0 / 3.0),
        rate("X", 2, 3, 2.0 / 3.0),
    ];
    assert!(same(&january(&by_area), &expected), "{by_area}");
    // Counts too: N1's area received 6 dossiers in January, N2's 3.
    let (_, received) = parwatch
        .get_json(&format!(
            "/api/v1/metrics/received?{JANUARY}&agency=N1&role=area&{RESTATED}"
        ))
        .await;
    assert_eq!(
        received["series"][0]["points"][0]["value"], 6.0,
        "{received}"
    );

    // Rankings: as recorded by receiving point, ties by code; restated by area, only the units
    // of August (S, a receiving point only, has nothing there and stays unranked).
    let ranking = |query: &str| {
        let path =
            format!("/api/v1/ranking?metric=on_time_rate&from=2025-01-01&to=2025-01-31&{query}");
        let parwatch = &parwatch;
        async move {
            let (status, body) = parwatch.get_json(&path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    let by_receiving = ranking("role=receiving").await;
    assert_eq!(by_receiving["role"], "receiving");
    assert_eq!(
        ranks(&by_receiving),
        ranked(&[
            ("A", Some(1)),
            ("X", Some(1)),
            ("D", Some(3)),
            ("S", Some(4)),
            ("B", Some(5)),
        ])
    );
    let by_area = ranking(&format!("role=area&{RESTATED}")).await;
    assert_eq!(
        ranks(&by_area),
        ranked(&[
            ("N1", Some(1)),
            ("X", Some(2)),
            ("N2", Some(3)),
            ("S", None)
        ])
    );
    assert_eq!(by_area["rows"][0]["numerator"], 5);
    assert_eq!(by_area["rows"][0]["denominator"], 6);
    let competent = ranking(RESTATED).await;
    assert_eq!(
        ranks(&competent),
        ranked(&[
            ("N1", Some(1)),
            ("X", Some(2)),
            ("N2", Some(3)),
            ("S", None)
        ])
    );
    assert_eq!(competent["role"], "competent");

    // An unknown role is a 400 naming the choices.
    for path in [
        format!("/api/v1/metrics/on_time_rate?{JANUARY}&role=commune"),
        "/api/v1/ranking?metric=on_time_rate&role=commune".to_owned(),
    ] {
        let (status, error) = parwatch.get_json(&path).await;
        assert_eq!(status, 400, "{path}: {error}");
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains("unknown role \"commune\"") && message.contains("area"),
            "{message}"
        );
    }

    // A metric panel counts in the role asked, and says so; an embed takes no role.
    let (status, stat) = parwatch
        .get_json("/api/v1/dashboards/province/panels/on-time?from=2025-01-01&to=2025-01-31&agency=A&role=area")
        .await;
    assert_eq!(status, 200, "{stat}");
    assert_eq!(
        (&stat["value"]["numerator"], &stat["value"]["denominator"]),
        (&json!(5), &json!(6)),
        "{stat}"
    );
    assert_eq!(stat["role"], "area");
    let (status, error) = parwatch
        .get_json("/api/v1/dashboards/province/panels/on-time?role=commune")
        .await;
    assert_eq!(status, 400, "{error}");
    let data = tmp.path().join("data");
    let token = embed_token(&data, &repo_dashboards(), &["--dashboard", "province"]).unwrap();
    let embed = |role: &str| {
        format!(
            "{}/embed/api/panels/on-time?token={token}&from=2025-01-01&to=2025-01-31{role}",
            parwatch.base()
        )
    };
    let (status, body) = get_json(&embed("")).await;
    assert_eq!(
        (status, &body["role"]),
        (200, &json!("competent")),
        "{body}"
    );
    let (status, error) = get_json(&embed("&role=area")).await;
    assert_eq!(status, 403, "{error}");

    // SQL sees each dossier's roles.
    let roles = parwatch
        .sql(
            "SELECT agency_code, receiving_agency_code, area_code, count(*) FROM dossiers \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .await;
    assert_eq!(
        roles["rows"],
        json!([
            ["A", "A", "A", 2],
            ["B", "B", "B", 1],
            ["D", "D", "A", 4],
            ["D", "D", "B", 2],
            ["X", "S", "X", 2],
            ["X", "X", "X", 1],
        ])
    );

    // A receipt naming a commune with a space in its code is rejected, naming the field; it
    // counts nowhere.
    let bad = TestEvent::received(Channel::Counter)
        .agency("D")
        .dossier("D-bad")
        .at("2025-01-06T08:00:00+07:00")
        .field("area_code", "000.51.03 H02");
    publish(&nats.url(), vec![Outgoing::event(&bad)]).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM rejected_events \
             WHERE fault = 'bad_value' AND reason LIKE 'data.area_code: %'",
            json!(1),
            std::time::Duration::from_secs(30),
        )
        .await;
    let count = parwatch
        .sql("SELECT count(*) FROM dossiers WHERE dossier_id = 'D-bad'")
        .await;
    assert_eq!(count["rows"][0][0], 0);
    drop(tmp);
}

/// A token scoped to an agency reads its own code in every role: the dossiers it decided, those
/// received at its counter, those of its commune; restated, its unit's. Another agency's
/// figures stay refused, in every role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_reads_its_own_code_in_every_role() {
    let case = start().await;
    let data = case.tmp.path().join("data");
    let a = create_token(&data, "viewer", Some("A"));
    let s = create_token(&data, "viewer", Some("S"));
    let n1 = create_token(&data, "viewer", Some("N1"));
    let server = Parwatch::serve(&data).await;
    let point = |token: &str, query: &str| {
        let path = format!("/api/v1/metrics/on_time_rate?{JANUARY}{query}");
        let (server, token) = (&server, token.to_owned());
        async move {
            let response = server.get(Some(&token), &path).await;
            assert_eq!(response.status(), 200, "{path}");
            let body: Value = response.json().await.unwrap();
            let p = &body["series"][0]["points"][0];
            (p["numerator"].clone(), p["denominator"].clone())
        }
    };
    assert_eq!(point(&a, "").await, (json!(2), json!(2)));
    assert_eq!(point(&a, "&role=area").await, (json!(5), json!(6)));
    assert_eq!(point(&a, "&role=receiving").await, (json!(2), json!(2)));
    assert_eq!(point(&s, "").await, (json!(0), json!(0)));
    assert_eq!(point(&s, "&role=receiving").await, (json!(1), json!(2)));
    assert_eq!(
        point(&n1, &format!("&role=area&{RESTATED}")).await,
        (json!(5), json!(6))
    );
    // Another agency's: refused whatever the role.
    let response = server
        .get(
            Some(&a),
            &format!("/api/v1/metrics/on_time_rate?{JANUARY}&agency=B&role=area"),
        )
        .await;
    assert_eq!(response.status(), 403);
    // A ranking gives the token its own row in the role asked.
    let response = server
        .get(
            Some(&s),
            "/api/v1/ranking?metric=on_time_rate&from=2025-01-01&to=2025-01-31&role=receiving",
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(ranks(&body), ranked(&[("S", Some(4))]), "{body}");
}
