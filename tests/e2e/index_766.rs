//! The 766 service index end to end: a hand-computed March 2025 of two departments, every
//! indicator and every edge rule (two supplement requests, supplement time crossing a month end,
//! a zero-fee procedure, indicators with no data), published to JetStream, ingested by the real
//! binary and answered by `/api/v1/index-766`; the same after a restart from the snapshot; an
//! agency-scoped token sees its own agency only; a broken rubric directory stops the start.
//!
//! Every expected figure below is worked out by hand from the events, with the arithmetic in the
//! comments (rubric: deploy/index-766/2022-06-23.toml; rules: docs/index-766.md).

use std::time::Duration;

use parwatch_proto::testing::TestEvent;
use parwatch_proto::{Channel, Outcome, Portal, Rating, ServiceMode};
use serde_json::{Value, json};

use crate::harness::{LocalNats, Outgoing, Parwatch, create_token, publish, wait_projected};

/// The department with data for every indicator.
pub(crate) const A: &str = "000.00.31.H02";
/// The department with six indicators without data.
pub(crate) const B: &str = "000.00.32.H02";

/// The events, each with id and `Nats-Msg-Id` `i766-<n>`.
struct Events {
    n: usize,
    out: Vec<Outgoing>,
}

impl Events {
    fn push(&mut self, agency: &str, at: &str, event: TestEvent) {
        self.n += 1;
        let id = format!("i766-{:04}", self.n);
        let event = event.id(&id).at(at).source("e2e").agency(agency);
        self.out.push(Outgoing::event(&event).with_msg_id(id));
    }

    /// An event of dossier `dossier` of procedure `procedure` at local time `at` (+07:00).
    fn dossier(&mut self, agency: &str, dossier: &str, at: &str, event: TestEvent) {
        let at = format!("2025-{at}:00+07:00");
        let event = event.dossier(dossier).procedure("1.000001");
        self.push(agency, &at, event);
    }

    /// `dossier.received` through `channel` (online ones fully online), due at `due`.
    fn received(&mut self, agency: &str, dossier: &str, at: &str, channel: Channel, due: &str) {
        let mut event = TestEvent::received(channel).due(format!("2025-{due}:00+07:00").as_str());
        if channel == Channel::Online {
            event = event.online_mode(ServiceMode::Full);
        }
        self.dossier(agency, dossier, at, event);
    }

    fn resolved(&mut self, agency: &str, dossier: &str, at: &str) {
        self.dossier(agency, dossier, at, TestEvent::resolved(Outcome::Approved));
    }
}

/// Agency A: every indicator has data. Agency B: two dossiers only, six indicators without data
/// (also the fixture of `index_766_lost.rs` and `index_766_page.rs`).
pub(crate) fn events() -> Vec<Outgoing> {
    let mut e = Events {
        n: 0,
        out: Vec::new(),
    };
    use Channel::{Counter, Online};

    // A's catalogue: P1 published, publicised, complete, online; P2 the same but incomplete
    // and partly online; P3 published only (made whole on 5 April: not March's); P4 catalogued
    // unpublished on 1 February.
    let catalogued = |published: bool, publicised: bool, complete: bool, online: Value| {
        TestEvent::catalogued()
            .field("published", published)
            .field("publicised", publicised)
            .field("complete", complete)
            .field("online_mode", online)
    };
    for (code, at, event) in [
        (
            "P1",
            "2025-01-10",
            catalogued(true, true, true, json!("full")),
        ),
        (
            "P2",
            "2025-01-10",
            catalogued(true, true, false, json!("partial")),
        ),
        (
            "P3",
            "2025-01-10",
            catalogued(true, false, false, Value::Null),
        ),
        (
            "P4",
            "2025-02-01",
            catalogued(false, false, false, Value::Null),
        ),
        (
            "P3",
            "2025-04-05",
            catalogued(true, true, true, json!("full")),
        ),
    ] {
        e.push(A, &format!("{at}T08:00:00+07:00"), event.procedure(code));
    }

    // D1: at the counter, on time, synced, scanned, electronic result, a zero fee (outside the
    // payment indicator), very satisfied.
    e.received(A, "D1", "03-03T09:00", Counter, "03-10T17:00");
    e.dossier(A, "D1", "03-03T09:05", TestEvent::synced(Portal::National));
    e.dossier(A, "D1", "03-03T09:10", TestEvent::digitised("TP-1", false));
    e.dossier(A, "D1", "03-03T09:15", TestEvent::fee_requested(0));
    e.resolved(A, "D1", "03-07T10:00");
    e.dossier(A, "D1", "03-07T10:00", TestEvent::result_issued(true));
    e.dossier(
        A,
        "D1",
        "03-08T08:00",
        TestEvent::rated(Rating::VerySatisfied),
    );
    // D2: online; one supplement request (5th → 8th: 3 days), resolved on the 13th after its
    // appointment of the 11th but before the 14th it is pushed to: on time. Reused component,
    // fee paid online, electronic result, satisfied.
    e.received(A, "D2", "03-04T09:00", Online, "03-11T17:00");
    e.dossier(A, "D2", "03-04T09:05", TestEvent::synced(Portal::National));
    e.dossier(A, "D2", "03-04T09:10", TestEvent::digitised("TP-1", true));
    e.dossier(A, "D2", "03-05T09:00", TestEvent::supplement_requested());
    e.dossier(A, "D2", "03-06T09:00", TestEvent::fee_requested(50_000));
    e.dossier(A, "D2", "03-06T10:00", TestEvent::fee_paid(50_000, true));
    e.dossier(A, "D2", "03-08T09:00", TestEvent::supplement_provided());
    e.resolved(A, "D2", "03-13T10:00");
    e.dossier(A, "D2", "03-13T10:00", TestEvent::result_issued(true));
    e.dossier(A, "D2", "03-14T08:00", TestEvent::rated(Rating::Satisfied));
    // D3: online; two supplement requests: late although resolved before its appointment.
    // Synced to the provincial portal only, scanned, paper result, fee paid at the counter,
    // dissatisfied.
    e.received(A, "D3", "03-05T09:00", Online, "03-12T17:00");
    e.dossier(
        A,
        "D3",
        "03-05T09:05",
        TestEvent::synced(Portal::Provincial),
    );
    e.dossier(A, "D3", "03-05T09:10", TestEvent::digitised("TP-2", false));
    e.dossier(A, "D3", "03-06T09:00", TestEvent::supplement_requested());
    e.dossier(A, "D3", "03-07T09:00", TestEvent::supplement_provided());
    e.dossier(A, "D3", "03-08T09:00", TestEvent::supplement_requested());
    e.dossier(A, "D3", "03-09T09:00", TestEvent::supplement_provided());
    e.dossier(A, "D3", "03-09T10:00", TestEvent::fee_requested(100_000));
    e.dossier(A, "D3", "03-10T09:00", TestEvent::fee_paid(100_000, false));
    e.resolved(A, "D3", "03-10T10:00");
    e.dossier(A, "D3", "03-10T10:00", TestEvent::result_issued(false));
    e.dossier(
        A,
        "D3",
        "03-11T08:00",
        TestEvent::rated(Rating::Dissatisfied),
    );
    // D4: due on the 25th, still open on the 31st: late at the month's end. Synced, not
    // digitised.
    e.received(A, "D4", "03-20T09:00", Counter, "03-25T17:00");
    e.dossier(A, "D4", "03-20T09:05", TestEvent::synced(Portal::National));
    // D5: due on 31 March, a supplement asked on the 27th and provided on 3 April (7 days
    // across the month's end): waiting on the citizen at March's end (neither resolved nor
    // late); resolved on 7 April at 10:00, before the appointment pushed to 7 April 17:00.
    e.received(A, "D5", "03-24T09:00", Counter, "03-31T17:00");
    e.dossier(A, "D5", "03-24T09:05", TestEvent::synced(Portal::National));
    e.dossier(A, "D5", "03-24T09:10", TestEvent::digitised("TP-1", false));
    e.dossier(A, "D5", "03-27T09:00", TestEvent::supplement_requested());
    e.dossier(A, "D5", "04-03T09:00", TestEvent::supplement_provided());
    e.resolved(A, "D5", "04-07T10:00");
    // D6: received in February, resolved late in March; nothing else.
    e.received(A, "D6", "02-25T09:00", Counter, "03-04T17:00");
    e.resolved(A, "D6", "03-06T10:00");

    // A's petitions: PK1 answered by its deadline, PK2 after it, PK3 open past it at March's
    // end, PK4 not due before April.
    for (id, at, due, answered) in [
        ("PK1", "03-02", "03-12", Some("03-10")),
        ("PK2", "03-05", "03-15", Some("03-20")),
        ("PK3", "03-10", "03-25", None),
        ("PK4", "03-25", "04-10", None),
    ] {
        let received =
            TestEvent::petition_received(id).due(format!("2025-{due}T17:00:00+07:00").as_str());
        e.push(A, &format!("2025-{at}T09:00:00+07:00"), received);
        if let Some(answered) = answered {
            let answer = TestEvent::petition_answered(id);
            e.push(A, &format!("2025-{answered}T09:00:00+07:00"), answer);
        }
    }

    // B: E1 on time, E2 a day late; both online, synced, electronic results; E1 reused, E2
    // scanned. No catalogue, fees, ratings or petitions.
    for (dossier, received, resolved, reused) in [
        ("E1", "03-03T09:00", "03-05T10:00", true),
        ("E2", "03-04T09:00", "03-12T10:00", false),
    ] {
        let due = if dossier == "E1" {
            "03-10T17:00"
        } else {
            "03-11T17:00"
        };
        e.received(B, dossier, received, Online, due);
        e.dossier(B, dossier, received, TestEvent::synced(Portal::National));
        e.dossier(B, dossier, received, TestEvent::digitised("TP-1", reused));
        e.resolved(B, dossier, resolved);
        e.dossier(B, dossier, resolved, TestEvent::result_issued(true));
    }
    e.out
}

fn agency<'a>(answer: &'a Value, code: &str) -> &'a Value {
    answer["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_code"] == code)
        .unwrap_or_else(|| panic!("{code} in {answer}"))
}

/// Each indicator of an agency as (code, numerator, denominator, points, missing).
fn indicators(agency: &Value) -> Vec<(String, Value, Value, Value, Value)> {
    agency["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["indicators"].as_array().unwrap())
        .map(|i| {
            (
                i["code"].as_str().unwrap().to_owned(),
                i["numerator"].clone(),
                i["denominator"].clone(),
                i["points"].clone(),
                i["missing"].clone(),
            )
        })
        .collect()
}

fn row(code: &str, n: i64, d: i64, points: Value) -> (String, Value, Value, Value, Value) {
    let missing = json!(points.is_null());
    (code.to_owned(), json!(n), json!(d), points, missing)
}

/// What March 2025 must be, worked out by hand.
async fn check_march(parwatch: &Parwatch) {
    let (status, march) = parwatch.get_json("/api/v1/index-766?period=2025-03").await;
    assert_eq!(status, 200, "{march}");
    assert_eq!(
        (
            &march["period"],
            &march["from"],
            &march["to"],
            &march["as_of"],
            &march["rubric"]
        ),
        (
            &json!("2025-03"),
            &json!("2025-03-01"),
            &json!("2025-03-31"),
            &json!("2025-03-31"),
            &json!("2022-06-23")
        )
    );
    let a = agency(&march, A);
    assert_eq!(
        indicators(a),
        vec![
            // Transparency. Catalogue on 31 March: P1–P4; published P1, P2, P3: 3/4 × 6 = 4.5.
            row("published", 3, 4, json!(4.5)),
            // Publicised and complete: P1 only (P3's April facts do not count): 1/4 × 6 = 1.5.
            row("publicised", 1, 4, json!(1.5)),
            // Received D1–D5; synced to the national portal D1, D2, D4, D5: 4/5 × 6 = 4.8.
            row("synced", 4, 5, json!(4.8)),
            // Progress. Resolved in March D1, D2, D3, D6; on time D1 and D2 (its 3 days of
            // supplement push the 11th to the 14th); D3 late (two requests), D6 late; open and
            // late on the 31st: D4 (D5 waits on the citizen): 2/(4+1) × 20 = 8.
            row("on_time", 2, 5, json!(8.0)),
            // Online services. Offered online: P1, P2: 2/4 = 0.5 of the 0.8 threshold × 6 = 3.75.
            row("online_procedures", 2, 4, json!(3.75)),
            // Received online D2, D3: 2/5 = 0.4 of the 0.5 threshold × 6 = 4.8.
            row("online_dossiers", 2, 5, json!(4.8)),
            // Online payment. D1's fee is 0: outside; D2 paid online, D3 at the counter:
            // 1/2 = 0.5 ≥ the 0.5 threshold: 10.
            row("paid_online", 1, 2, json!(10.0)),
            // Satisfaction. Rated D1 very satisfied, D2 satisfied, D3 dissatisfied: 2/3 of the
            // 0.9 threshold × 12 = 8.888…
            row("rating", 2, 3, json!(8.889)),
            // Petitions answered in March PK1 (on time), PK2 (late); PK3 open past its
            // deadline; PK4 not due: 1/(2+1) × 6 = 2.
            row("petitions", 1, 3, json!(2.0)),
            // Digitisation. D1, D2, D3, D5 of D1–D5: 4/5 = 0.8 ≥ 0.8: 8.
            row("digitised", 4, 5, json!(8.0)),
            // Reused: D2 of the 4 digitised: 0.25 of the 0.8 threshold × 6 = 1.875.
            row("reused", 1, 4, json!(1.875)),
            // Electronic results: D1, D2 of the 4 resolved: 0.5 of 0.8 × 8 = 5.
            row("electronic_results", 2, 4, json!(5.0)),
        ]
    );
    // 4.5 + 1.5 + 4.8 + 8 + 3.75 + 4.8 + 10 + 8.888… + 2 + 8 + 1.875 + 5 = 63.113…, of 100.
    assert_eq!(
        (
            &a["points"],
            &a["max_with_data"],
            &a["total"],
            &a["complete"],
            &a["missing"]
        ),
        (
            &json!(63.114),
            &json!(100.0),
            &json!(63.114),
            &json!(true),
            &json!([])
        )
    );
    let groups: Vec<(&Value, &Value)> = a["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (&g["code"], &g["points"]))
        .collect();
    assert_eq!(
        groups,
        [
            (&json!("transparency"), &json!(10.8)),
            (&json!("progress"), &json!(8.0)),
            (&json!("online_services"), &json!(8.55)),
            (&json!("online_payment"), &json!(10.0)),
            (&json!("satisfaction"), &json!(10.889)),
            (&json!("digitisation"), &json!(14.875)),
        ]
    );

    let b = agency(&march, B);
    assert_eq!(
        indicators(b),
        vec![
            row("published", 0, 0, Value::Null),
            row("publicised", 0, 0, Value::Null),
            // E1, E2 synced: 6.
            row("synced", 2, 2, json!(6.0)),
            // E1 on time, E2 a day late: 1/2 × 20 = 10.
            row("on_time", 1, 2, json!(10.0)),
            row("online_procedures", 0, 0, Value::Null),
            // Both online: 6.
            row("online_dossiers", 2, 2, json!(6.0)),
            row("paid_online", 0, 0, Value::Null),
            row("rating", 0, 0, Value::Null),
            row("petitions", 0, 0, Value::Null),
            // Both digitised: 8; E1 reused: 0.5 of 0.8 × 6 = 3.75; both electronic: 8.
            row("digitised", 2, 2, json!(8.0)),
            row("reused", 1, 2, json!(3.75)),
            row("electronic_results", 2, 2, json!(8.0)),
        ]
    );
    // 6 + 10 + 6 + 8 + 3.75 + 8 = 41.75 of the 6 + 20 + 6 + 8 + 6 + 8 = 54 points with data:
    // 41.75 / 54 × 100 = 77.3148…
    assert_eq!(
        (
            &b["points"],
            &b["max_with_data"],
            &b["total"],
            &b["complete"]
        ),
        (&json!(41.75), &json!(54.0), &json!(77.315), &json!(false))
    );
    assert_eq!(
        b["missing"],
        json!([
            "transparency.published",
            "transparency.publicised",
            "online_services.online_procedures",
            "online_payment.paid_online",
            "satisfaction.rating",
            "satisfaction.petitions"
        ])
    );
    // B first, A second, among the two departments. February: A alone, from D6 (received, not
    // online, not synced, not digitised: 0 of 6 + 6 + 8) and the catalogue as in March
    // (4.5 + 1.5 + 3.75): 9.75 of 38 points with data = 25.657…; B had no data.
    let ranks: Vec<(&Value, &Value, &Value, &Value, &Value, &Value, &Value)> = march["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                &a["agency_code"],
                &a["kind"],
                &a["rank"],
                &a["of"],
                &a["previous_total"],
                &a["change"],
                &a["rank_change"],
            )
        })
        .collect();
    assert_eq!(
        ranks,
        [
            (
                &json!(B),
                &json!("department"),
                &json!(1),
                &json!(2),
                &json!(null),
                &json!(null),
                &json!(null)
            ),
            // 63.114 − 25.658 = 37.456; first of one in February, second now: one place lost.
            (
                &json!(A),
                &json!("department"),
                &json!(2),
                &json!(2),
                &json!(25.658),
                &json!(37.456),
                &json!(-1)
            ),
        ]
    );
}

fn input<'a>(agency: &'a Value, code: &str) -> (&'a Value, &'a Value) {
    let i = agency["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["indicators"].as_array().unwrap())
        .find(|i| i["code"] == code)
        .unwrap();
    (&i["numerator"], &i["denominator"])
}

/// The 766 inputs as metrics: A's on-time input by month and quarter, the index's own
/// figures above; never by day; ranked like any metric.
async fn check_metrics(up: &Parwatch) {
    let path = |bucket: &str| {
        format!(
            "/api/v1/metrics/index_766_dossiers_on_time?from=2025-01-01&to=2025-04-30\
             &bucket={bucket}&agency={A}"
        )
    };
    let (status, months) = up.get_json(&path("month")).await;
    assert_eq!(status, 200, "{months}");
    let figures: Vec<(Value, Value)> = months["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["numerator"].clone(), p["denominator"].clone()))
        .collect();
    // March 2/5 and April 1/2 as the index says (check_march, above).
    assert_eq!(figures[2..], [(json!(2), json!(5)), (json!(1), json!(2))]);
    let (_, quarters) = up.get_json(&path("quarter")).await;
    let q1 = &quarters["series"][0]["points"][0];
    assert_eq!(
        (&q1["numerator"], &q1["denominator"]),
        (&json!(2), &json!(5))
    );
    let (status, by_day) = up.get_json(&path("day")).await;
    assert_eq!(status, 400, "{by_day}");
    assert!(
        by_day["error"].as_str().unwrap().contains("whole months"),
        "{by_day}"
    );
    let (status, ranking) = up
        .get_json("/api/v1/ranking?metric=index_766_dossiers_online&from=2025-03-01&to=2025-03-31")
        .await;
    assert_eq!(status, 200, "{ranking}");
    let ranked: Vec<&Value> = ranking["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["rank"].is_null())
        .map(|r| &r["agency_code"])
        .collect();
    assert_eq!(ranked.len(), 2, "{ranking}");
    let (_, catalogue) = up.get_json("/api/v1/metrics").await;
    let names = catalogue["metrics"].as_array().unwrap();
    assert_eq!(
        names
            .iter()
            .filter(|m| m["name"].as_str().unwrap().starts_with("index_766_"))
            .count(),
        12
    );
}

/// B merged into A from 1 June: restated to the units of 1 July, March has one unit, A, whose
/// every input is the sum of A's and B's as recorded, scored from those sums.
async fn check_restated(up: &Parwatch, nats: &LocalNats) {
    let merged = TestEvent::merged(A, "2025-06-01")
        .id("i766-merge")
        .agency(B)
        .source("e2e")
        .at("2025-05-20T10:00:00+07:00");
    let message = Outgoing::event(&merged).with_msg_id("i766-merge");
    assert_eq!(publish(&nats.url(), vec![message]).await, 1);
    let expected = |recorded: &Value| {
        let mut sums: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for code in [A, B] {
            for (indicator, n, d, ..) in indicators(agency(recorded, code)) {
                let sum = sums.entry(indicator).or_default();
                sum.0 += n.as_i64().unwrap();
                sum.1 += d.as_i64().unwrap();
            }
        }
        sums
    };
    let path = "/api/v1/index-766?period=2025-03&units=restated&units_date=2025-07-01";
    let restated = loop {
        let (status, body) = up.get_json(path).await;
        assert_eq!(status, 200, "{body}");
        if body["agencies"].as_array().unwrap().len() == 1 {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, recorded) = up.get_json("/api/v1/index-766?period=2025-03").await;
    assert_eq!(recorded["units"]["view"], "as_recorded");
    assert_eq!(
        (&restated["units"]["view"], &restated["units"]["date"]),
        (&json!("restated"), &json!("2025-07-01"))
    );
    let unit = agency(&restated, A);
    let got: std::collections::BTreeMap<String, (i64, i64)> = indicators(unit)
        .into_iter()
        .map(|(code, n, d, ..)| (code, (n.as_i64().unwrap(), d.as_i64().unwrap())))
        .collect();
    assert_eq!(got, expected(&recorded));
    // Scored from the sums: A's on-time 2/5 and B's add up before the points are given.
    assert_ne!(unit["total"], agency(&recorded, A)["total"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_computed_month_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let messages = events();
    let count = messages.len();
    assert_eq!(publish(&nats.url(), messages).await, count);
    let data = tmp.path().join("data");
    let mut up = Parwatch::up(&nats.url(), &data, &[]).await;
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(count),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        up.scalar("SELECT count(*) FROM rejected_events").await,
        json!(0)
    );
    wait_projected(up.base()).await;
    check_march(&up).await;

    // April: D5, resolved on the 7th within its appointment pushed by the 7 days of supplement
    // that crossed the month's end, on time; D4 still open and late on 30 April: 1/(1+1).
    let (_, april) = up.get_json("/api/v1/index-766?period=2025-04").await;
    assert_eq!(input(agency(&april, A), "on_time"), (&json!(1), &json!(2)));
    // The first quarter sums its months' flows (received D1–D6, D6 in February) and takes
    // the stocks on 31 March: on time 2 of 4 resolved + 1 open and late; online 2 of 6.
    let (_, q1) = up
        .get_json(&format!("/api/v1/index-766?period=2025-Q1&agency={A}"))
        .await;
    let a = agency(&q1, A);
    assert_eq!(input(a, "on_time"), (&json!(2), &json!(5)));
    assert_eq!(input(a, "online_dossiers"), (&json!(2), &json!(6)));
    assert_eq!(q1["agencies"].as_array().unwrap().len(), 1);
    // The year holds the same March facts and April's: resolved D1, D2, D3, D5, D6 (on time
    // D1, D2, D5), D4 open and late at the year's end: 3/6.
    let (_, year) = up
        .get_json(&format!("/api/v1/index-766?period=2025&agency={A}"))
        .await;
    assert_eq!(input(agency(&year, A), "on_time"), (&json!(3), &json!(6)));

    check_metrics(&up).await;
    check_restated(&up, &nats).await;

    for (path, word) in [
        ("/api/v1/index-766?period=2025-13", "2025-13"),
        (
            "/api/v1/index-766?period=2021-05",
            "no 766 index rubric in force on 2021-05-01",
        ),
        ("/api/v1/index-766?period=2025-03&kind=province", "province"),
    ] {
        let (status, body) = up.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{path}: {body}"
        );
    }
    // The SQL tables: March's row of each agency, and one row per indicator.
    let march = "month = DATE '2025-03-01'";
    assert_eq!(
        up.sql(&format!(
            "SELECT agency_code, total, rank, change FROM index_766 WHERE {march} ORDER BY rank"
        ))
        .await["rows"],
        json!([[B, 77.315, 1, null], [A, 63.114, 2, 37.456]])
    );
    assert_eq!(
        up.sql(&format!(
            "SELECT numerator, denominator, points FROM index_766_inputs \
             WHERE {march} AND agency_code = '{A}' AND indicator = 'on_time'"
        ))
        .await["rows"],
        json!([[2, 5, 8.0]])
    );
    assert_eq!(
        up.scalar(&format!(
            "SELECT count(*) FROM index_766_inputs WHERE {march} AND missing"
        ))
        .await,
        json!(6),
        "B's six indicators without data"
    );
    let (_, communes) = up
        .get_json("/api/v1/index-766?period=2025-03&kind=commune")
        .await;
    assert_eq!(communes["agencies"], json!([]));
    let (_, openapi) = up.get_json("/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/index-766"].is_object());

    // A restart answers the same from the projections' snapshot; a token scoped to B sees B
    // only and is refused A.
    assert!(up.terminate().success());
    let viewer_b = create_token(&data, "viewer", Some(B));
    let viewer_sql = create_token(&data, "analyst", Some(B));
    let serve = Parwatch::serve_with(&data, &["--open"], &[]).await;
    check_march(&serve).await;
    drop(serve);
    let serve = Parwatch::serve(&data).await;
    let answer: Value = serve
        .get(Some(&viewer_b), "/api/v1/index-766?period=2025-03")
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&Value> = answer["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["agency_code"])
        .collect();
    assert_eq!(codes, [&json!(B)], "{answer}");
    assert_eq!(
        agency(&answer, B)["rank"],
        1,
        "ranked among every department"
    );
    let refused = serve
        .get(
            Some(&viewer_b),
            &format!("/api/v1/index-766?period=2025-03&agency={A}"),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        serve
            .sql_as(&viewer_sql, "SELECT DISTINCT agency_code FROM index_766")
            .await["rows"],
        json!([[B]])
    );
    drop(serve);

    // A rubric directory with a broken file stops the start, naming the file.
    let rubrics = tmp.path().join("rubrics");
    std::fs::create_dir_all(&rubrics).unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/index-766/2022-06-23.toml");
    let text = std::fs::read_to_string(repo).unwrap();
    std::fs::write(
        rubrics.join("2025-07-01.toml"),
        text.replacen("max = 20", "max = 21", 1),
    )
    .unwrap();
    let mut broken = Parwatch::spawn(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--index-766",
            rubrics.to_str().unwrap(),
        ],
        &[],
        tmp.path(),
        "broken",
    );
    assert!(!broken.wait_exit(Duration::from_secs(20)).success());
    let log = broken.log_text();
    assert!(
        log.contains("2025-07-01.toml")
            && log.contains("progress: the indicators' maxima add up to 20, not the group's 21"),
        "{log}"
    );
}
