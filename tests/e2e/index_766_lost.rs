//! Where the 766 points are lost, end to end: the hand-computed March 2025 of
//! `index_766.rs` (its events, through NATS and the real binary) answered by
//! `/api/v1/index-766/{agency}/lost`: every item that cost points, with its reason, as many as
//! each indicator's denominator minus numerator; pages by cursor; the CSV download, whose cells
//! with commas, quotes or line breaks Python's csv module reads back whole; an agency-scoped
//! token sees only its own agency; bad parameters are 400.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;
use serde_json::{Value, json};

use crate::harness::{LocalNats, Outgoing, Parwatch, create_token, publish, wait_projected};
use crate::index_766::{A, B, events};

/// A department whose procedure code and dossier id hold a comma, quotes and a line break.
const C: &str = "000.00.33.H02";
/// C's procedure, catalogued unpublished.
const C_PROCEDURE: &str = "1.000099, \"bis\"\nmới";
/// C's dossier, at the counter and resolved late.
const C_DOSSIER: &str = "C-1, \"gấp\"\nlần 2";

/// C's events: the procedure catalogued unpublished on 1 March, the dossier received on the
/// 3rd, due on the 5th and resolved on the 10th.
fn c_events() -> Vec<Outgoing> {
    [
        (
            "2025-03-01T08:00:00+07:00",
            TestEvent::catalogued().field("published", false),
        ),
        (
            "2025-03-03T09:00:00+07:00",
            TestEvent::received(Channel::Counter)
                .due("2025-03-05T17:00:00+07:00")
                .dossier(C_DOSSIER),
        ),
        (
            "2025-03-10T10:00:00+07:00",
            TestEvent::resolved(parwatch_proto::Outcome::Approved).dossier(C_DOSSIER),
        ),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, (at, event))| {
        let id = format!("i766-c-{n}");
        let event = event
            .procedure(C_PROCEDURE)
            .id(&id)
            .at(at)
            .source("e2e")
            .agency(C);
        Outgoing::event(&event).with_msg_id(id)
    })
    .collect()
}

/// `text` read by Python's csv module (RFC 4180, as spreadsheets read it): its rows.
fn python_csv(text: &str) -> Vec<Vec<String>> {
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import csv, io, json, sys\n\
                  rows = csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding='utf-8', newline=''), strict=True)\n\
                  print(json.dumps(list(rows)))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python's csv refused:\n{text}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// NATS and `parwatch up` with the events of `index_766.rs` ingested and projected.
pub(crate) async fn start(tmp: &std::path::Path) -> (LocalNats, Parwatch) {
    let nats = LocalNats::start(&tmp.join("nats")).unwrap();
    let messages = events();
    let count = messages.len();
    assert_eq!(publish(&nats.url(), messages).await, count);
    let up = Parwatch::up(&nats.url(), &tmp.join("data"), &[]).await;
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(count),
        Duration::from_secs(30),
    )
    .await;
    wait_projected(up.base()).await;
    (nats, up)
}

/// The items as (indicator, id, reason).
fn items(answer: &Value) -> Vec<(String, String, String)> {
    answer["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|i| {
            let text = |k: &str| i[k].as_str().unwrap().to_owned();
            (text("indicator"), text("id"), text("reason"))
        })
        .collect()
}

fn item(indicator: &str, id: &str, reason: &str) -> (String, String, String) {
    (indicator.to_owned(), id.to_owned(), reason.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_items_behind_each_lost_point() {
    let tmp = tempfile::tempdir().unwrap();
    let (nats, up) = start(tmp.path()).await;
    let path = format!("/api/v1/index-766/{A}/lost?period=2025-03");
    let (status, lost) = up.get_json(&path).await;
    assert_eq!(status, 200, "{lost}");
    assert_eq!(
        (&lost["agency_code"], &lost["total"], &lost["next"]),
        (&json!(A), &json!(63.114), &Value::Null)
    );
    // No portal figures imported for March (index_766_page.rs imports some).
    assert_eq!(lost["portal"], Value::Null);
    // Each indicator: as many items as its denominator minus its numerator.
    let indicators = lost["indicators"].as_array().unwrap();
    assert_eq!(indicators.len(), 12);
    let listed = items(&lost);
    for i in indicators {
        let code = i["code"].as_str().unwrap();
        let expected = i["denominator"].as_i64().unwrap() - i["numerator"].as_i64().unwrap();
        let n = listed.iter().filter(|(c, _, _)| c == code).count() as i64;
        assert_eq!(
            (i["lost"].as_i64().unwrap(), n),
            (expected, expected),
            "{i}"
        );
    }
    let on_time = indicators.iter().find(|i| i["code"] == "on_time").unwrap();
    // 20 points, 8 earned (2 of 5 on time).
    assert_eq!(
        (&on_time["max"], &on_time["points"], &on_time["lost_points"]),
        (&json!(20.0), &json!(8.0), &json!(12.0))
    );
    // By hand, in input order then id (docs/index-766.md's table of inputs).
    assert_eq!(
        listed,
        [
            // Catalogue on 31 March: P4 unpublished; P2 incomplete, P3 and P4 not publicised.
            item("published", "P4", "not_published"),
            item("publicised", "P2", "incomplete"),
            item("publicised", "P3", "not_publicised"),
            item("publicised", "P4", "not_publicised"),
            // D3 synced to the provincial portal only.
            item("synced", "D3", "not_synced"),
            // D3 two supplement requests, D4 open past its appointment on the 31st, D6 late.
            item("on_time", "D3", "second_supplement"),
            item("on_time", "D4", "open_late"),
            item("on_time", "D6", "late"),
            // P3 and P4 not offered online (P3 only from April).
            item("online_procedures", "P3", "not_online"),
            item("online_procedures", "P4", "not_online"),
            // D1, D4, D5 at the counter.
            item("online_dossiers", "D1", "not_online"),
            item("online_dossiers", "D4", "not_online"),
            item("online_dossiers", "D5", "not_online"),
            // D3's fee paid at the counter (D1's fee of 0 is outside).
            item("paid_online", "D3", "paid_offline"),
            item("rating", "D3", "dissatisfied"),
            // PK2 answered after its deadline, PK3 open past it (PK4 not due).
            item("petitions", "PK2", "answered_late"),
            item("petitions", "PK3", "overdue"),
            item("digitised", "D4", "not_digitised"),
            // Digitised D1, D2, D3, D5; only D2 reused.
            item("reused", "D1", "not_reused"),
            item("reused", "D3", "not_reused"),
            item("reused", "D5", "not_reused"),
            // Resolved D1, D2, D3, D6: D3's result on paper, D6 without a result.
            item("electronic_results", "D3", "not_electronic"),
            item("electronic_results", "D6", "not_electronic"),
        ]
    );
    // One indicator, two items a page: D3, D4, then D6; times in UTC (+07:00 in the events).
    let page = |after: Option<&str>| {
        let mut path =
            format!("/api/v1/index-766/{A}/lost?period=2025-03&indicator=on_time&limit=2");
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        path
    };
    let (_, first) = up.get_json(&page(None)).await;
    assert_eq!(
        items(&first),
        [
            item("on_time", "D3", "second_supplement"),
            item("on_time", "D4", "open_late")
        ]
    );
    assert_eq!(first["indicators"].as_array().unwrap().len(), 1);
    assert_eq!(first["indicators"][0]["lost"], 3, "counts are whole");
    assert_eq!(
        (&first["items"][1]["at"], &first["items"][1]["due_at"]),
        (&Value::Null, &json!("2025-03-25T10:00:00Z")),
        "D4 counts at the period's end"
    );
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = up.get_json(&page(Some(&next))).await;
    assert_eq!(items(&second), [item("on_time", "D6", "late")]);
    assert_eq!(
        (
            &second["items"][0]["at"],
            &second["items"][0]["due_at"],
            &second["next"]
        ),
        (
            &json!("2025-03-06T03:00:00Z"),
            &json!("2025-03-04T10:00:00Z"),
            &Value::Null
        )
    );

    // The CSV download: one line per item.
    let csv = up.get(None, &format!("{path}&format=csv")).await;
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("index-766-{A}-2025-03-lost.csv"))
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + listed.len(), "{text}");
    assert_eq!(
        lines[0],
        "agency_code,period,indicator,subject,id,reason,at,due_at"
    );
    assert!(
        lines.contains(&format!(
            "{A},2025-03,on_time,dossier,D6,late,2025-03-06T03:00:00+00:00,2025-03-04T10:00:00+00:00"
        )
        .as_str()),
        "{text}"
    );

    // B: two dossiers, E2 a day late; reused only by E1.
    let (_, b) = up
        .get_json(&format!("/api/v1/index-766/{B}/lost?period=2025-03"))
        .await;
    assert_eq!(
        items(&b),
        [
            item("on_time", "E2", "late"),
            item("reused", "E2", "not_reused")
        ]
    );

    // C's procedure code and dossier id hold a comma, quotes and a line break: the CSV quotes
    // them (RFC 4180) and Python's csv module reads back every item whole, as the JSON lists it.
    let c_messages = c_events();
    let stored = publish(&nats.url(), c_messages).await;
    assert_eq!(stored, 3);
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(events().len() + stored),
        Duration::from_secs(30),
    )
    .await;
    let c_path = format!("/api/v1/index-766/{C}/lost?period=2025-03");
    let (_, c_lost) = up.get_json(&c_path).await;
    let c_items = items(&c_lost);
    for (indicator, id, reason) in [
        ("published", C_PROCEDURE, "not_published"),
        ("synced", C_DOSSIER, "not_synced"),
        ("on_time", C_DOSSIER, "late"),
    ] {
        assert!(c_items.contains(&item(indicator, id, reason)), "{c_lost}");
    }
    let csv = up.get(None, &format!("{c_path}&format=csv")).await;
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(text.contains("\"C-1, \"\"gấp\"\"\nlần 2\""), "{text}");
    let rows = python_csv(&text);
    assert_eq!(
        rows[0],
        [
            "agency_code",
            "period",
            "indicator",
            "subject",
            "id",
            "reason",
            "at",
            "due_at"
        ]
    );
    assert!(rows.iter().all(|r| r.len() == 8), "{rows:?}");
    let read: Vec<(String, String, String)> = rows[1..]
        .iter()
        .map(|r| (r[2].clone(), r[4].clone(), r[5].clone()))
        .collect();
    assert_eq!(read, c_items, "{text}");

    for (path, status, word) in [
        (
            format!("/api/v1/index-766/{A}/lost?period=2025-03&indicator=speed"),
            400,
            "on_time",
        ),
        (
            format!("/api/v1/index-766/{A}/lost?period=2025-03&limit=0"),
            400,
            "limit",
        ),
        (
            format!("/api/v1/index-766/{A}/lost?period=2025-03&limit=50001"),
            400,
            "50000",
        ),
        (
            format!("/api/v1/index-766/{A}/lost?period=2025-03&after=nothing"),
            400,
            "after",
        ),
        (
            format!("/api/v1/index-766/{A}/lost?period=2025-13"),
            400,
            "2025-13",
        ),
        (
            "/api/v1/index-766/000.00.99.H02/lost?period=2025-03".to_owned(),
            404,
            "no 766 index",
        ),
    ] {
        let (got, body) = up.get_json(&path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{path}: {body}"
        );
    }

    // A token scoped to B: B's items, 403 for A's (as the index).
    let mut up = up;
    assert!(up.terminate().success());
    let data = tmp.path().join("data");
    let viewer_b = create_token(&data, "viewer", Some(B));
    let viewer = create_token(&data, "viewer", None);
    // Each list is a scan of every dossier: it counts against the caller's SQL budget.
    let serve = Parwatch::serve_with(&data, &[], &[("PARWATCH_SQL_PER_MINUTE", "3")]).await;
    let path = format!("/api/v1/index-766/{A}/lost?period=2025-03");
    let mut admitted = 0;
    let refused = loop {
        let answer = serve.get(Some(&viewer), &path).await;
        if answer.status() == 429 {
            break answer;
        }
        assert_eq!(answer.status(), 200);
        admitted += 1;
        assert!(admitted <= 3, "no budget after {admitted} lists");
    };
    assert!(refused.headers().contains_key("retry-after"));
    let own = serve
        .get(
            Some(&viewer_b),
            &format!("/api/v1/index-766/{B}/lost?period=2025-03"),
        )
        .await;
    assert_eq!(own.status(), 200);
    let own: Value = own.json().await.unwrap();
    assert_eq!(items(&own).len(), 2);
    let other = serve
        .get(
            Some(&viewer_b),
            &format!("/api/v1/index-766/{A}/lost?period=2025-03"),
        )
        .await;
    assert_eq!(other.status(), 403);
    let anonymous = serve
        .get(None, &format!("/api/v1/index-766/{B}/lost?period=2025-03"))
        .await;
    assert_eq!(anonymous.status(), 401);
}
