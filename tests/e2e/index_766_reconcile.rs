//! Reconciliation with the portal end to end: the portal's published figures for the
//! hand-computed March 2025 of `index_766.rs`, imported from CSV by `parwatch index-766 import`
//! into the lake's object store, compared by `/api/v1/index-766/reconcile` with the index the
//! real binary computes: per agency and indicator ours, the portal's and the difference, with
//! the link to the items behind ours; a wrong CSV is refused naming its line.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Parwatch;
use crate::index_766::{A, B};
use crate::index_766_lost::start;

/// `parwatch index-766 import --file <csv>` over `data`: whether it succeeded, and its log.
pub(crate) fn import(data: &std::path::Path, csv: &str, name: &str) -> (bool, String) {
    let file = data.join(name);
    std::fs::write(&file, csv).unwrap();
    let data_dir = data.to_str().unwrap();
    let file = file.to_str().unwrap();
    let mut cli = Parwatch::spawn(
        &[
            "index-766",
            "import",
            "--data-dir",
            data_dir,
            "--file",
            file,
        ],
        &[],
        data,
        name,
    );
    let ok = cli.wait_exit(Duration::from_secs(30)).success();
    (ok, cli.log_text())
}

/// The row of `agency`'s `indicator`.
fn row<'a>(answer: &'a Value, agency: &str, indicator: &str) -> &'a Value {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agency_code"] == agency && r["indicator"] == indicator)
        .unwrap_or_else(|| panic!("{agency} {indicator} in {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_figures_beside_ours() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nats, up) = start(tmp.path()).await;
    let data = tmp.path().join("data");

    let (status, body) = up
        .get_json("/api/v1/index-766/reconcile?period=2025-03")
        .await;
    assert_eq!(status, 404, "nothing imported yet: {body}");

    // The portal: A's total 70 and on time 9.5 (ours 63.114 and 8), B's total as ours, and an
    // agency we have no events of.
    let csv = format!(
        "period,agency_code,indicator,points\n\
         2025-03,{A},total,70\n2025-03,{A},on_time,9.5\n2025-03,{A},rating,12\n\
         2025-03,{B},total,77.315\n2025-03,000.00.40.H02,total,88\n2025-04,{A},total,71\n"
    );
    let (ok, log) = import(&data, &csv, "portal.csv");
    assert!(ok, "{log}");
    let (status, answer) = up
        .get_json("/api/v1/index-766/reconcile?period=2025-03")
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["period"], &answer["source"]),
        (&json!("2025-03"), &json!("portal.csv"))
    );
    let total = row(&answer, A, "total");
    // 63.114 − 70 = −6.886.
    assert_eq!(
        (&total["ours"], &total["portal"], &total["difference"]),
        (&json!(63.114), &json!(70.0), &json!(-6.886))
    );
    let on_time = row(&answer, A, "on_time");
    // 8 − 9.5 = −1.5, from 2 of 5; the link lists the 3 dossiers behind it.
    assert_eq!(
        (
            &on_time["ours"],
            &on_time["portal"],
            &on_time["difference"],
            &on_time["numerator"],
            &on_time["denominator"]
        ),
        (&json!(8.0), &json!(9.5), &json!(-1.5), &json!(2), &json!(5))
    );
    // 8.889 − 12 = −3.111.
    assert_eq!(row(&answer, A, "rating")["difference"], json!(-3.111));
    // What the portal did not publish: ours alone.
    let synced = row(&answer, A, "synced");
    assert_eq!(
        (&synced["ours"], &synced["portal"], &synced["difference"]),
        (&json!(4.8), &Value::Null, &Value::Null)
    );
    assert_eq!(row(&answer, B, "total")["difference"], json!(0.0));
    let theirs = row(&answer, "000.00.40.H02", "total");
    assert_eq!(
        (&theirs["ours"], &theirs["portal"], &theirs["lost"]),
        (&Value::Null, &json!(88.0), &Value::Null)
    );
    // A and B: a total and 12 indicators each, and the portal's extra agency.
    assert_eq!(answer["rows"].as_array().unwrap().len(), 2 * 13 + 1);
    let link = on_time["lost"].as_str().unwrap();
    assert_eq!(
        link,
        format!("/api/v1/index-766/{A}/lost?period=2025-03&indicator=on_time")
    );
    let (_, lost) = up.get_json(link).await;
    assert_eq!(lost["items"].as_array().unwrap().len(), 3);

    // One agency; April was imported too; a quarter is not the portal's.
    let (_, only_b) = up
        .get_json(&format!(
            "/api/v1/index-766/reconcile?period=2025-03&agency={B}"
        ))
        .await;
    assert!(
        only_b["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["agency_code"] == B)
    );
    let (_, april) = up
        .get_json("/api/v1/index-766/reconcile?period=2025-04")
        .await;
    assert_eq!(row(&april, A, "total")["portal"], json!(71.0));
    let (status, body) = up
        .get_json("/api/v1/index-766/reconcile?period=2025-Q1")
        .await;
    assert_eq!(status, 400, "{body}");

    // A re-import of March replaces it; a wrong file is refused naming the line, changing nothing.
    let (ok, log) = import(
        &data,
        &format!("period,agency_code,indicator,points\n2025-03,{A},total,64\n"),
        "portal-2.csv",
    );
    assert!(ok, "{log}");
    let (_, again) = up
        .get_json("/api/v1/index-766/reconcile?period=2025-03")
        .await;
    assert_eq!(row(&again, A, "total")["difference"], json!(-0.886));
    assert_eq!(row(&again, A, "on_time")["portal"], Value::Null);
    let (ok, log) = import(
        &data,
        &format!("period,agency_code,indicator,points\n2025-03,{A},total,640\n"),
        "broken.csv",
    );
    assert!(!ok);
    assert!(log.contains("broken.csv: line 2: points"), "{log}");
    let (_, same) = up
        .get_json("/api/v1/index-766/reconcile?period=2025-03")
        .await;
    assert_eq!(row(&same, A, "total")["portal"], json!(64.0));
}
