//! The 766 index pages in a real browser, over the hand-computed March 2025 of `index_766.rs`
//! (through NATS and the real binary): the ranking shows both departments' totals and ranks
//! in Vietnamese format with a bar per group; a row opens the agency's page with each
//! indicator's points against its maximum, its numerator over denominator, the points lost and
//! the items that cost them, hand-computed; an indicator's count filters the list. Without
//! the portal's figures the page says none were imported; once a portal table is imported
//! (`parwatch index-766 import`), it shows the portal's points and the difference beside ours
//! per indicator and for the total, and says the figures are monthly for a quarter.

use serde_json::json;

use crate::harness::browser::Browser;
use crate::index_766::{A, B};
use crate::index_766_lost::start;
use crate::index_766_reconcile::import;

/// Rows of `tbody` of the table `css`.
async fn rows(b: &Browser, css: &str) -> u64 {
    let script = format!("return document.querySelectorAll('{css} tbody tr').length");
    b.client
        .execute(&script, vec![])
        .await
        .unwrap()
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_766_pages_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nats, up) = start(tmp.path()).await;
    let base = up.base().to_owned();
    let browser = Browser::start().await;
    let b = &browser;

    b.open(&format!("{base}/#/index-766?period=2025-03"), "index-766")
        .await;
    assert_eq!(rows(b, "table.index-766").await, 2);
    // B first (41,75 of 54 points with data: 77,315), A second (63,114), one place lost.
    let row = |code: &str| format!("table.index-766 tr[data-agency='{code}']");
    assert_eq!(b.text(&format!("{} td.index", row(B))).await, "77,315");
    assert_eq!(b.text(&format!("{} td.index", row(A))).await, "63,114");
    assert_eq!(b.text(&format!("{} td.rank strong", row(B))).await, "1");
    assert_eq!(b.text(&format!("{} td.rank", row(A))).await, "2 ▲ 37,456");
    // A's progress group: 8 of 20; B's transparency only its sync, 6 of 6; no payment data.
    assert_eq!(
        b.text(&format!("{} td[data-group=progress] small", row(A)))
            .await,
        "8/20"
    );
    assert_eq!(
        b.text(&format!("{} td[data-group=transparency] small", row(B)))
            .await,
        "6/6"
    );
    assert_eq!(
        b.text(&format!("{} td[data-group=online_payment] small", row(B)))
            .await,
        "chưa có số liệu"
    );
    b.screenshot("index-766").await;

    b.click(&format!("{} a", row(A))).await;
    b.ready("index-766 agency").await;
    b.wait_for(
        "agency page",
        "return document.querySelector('table.index-766-lost') !== null",
    )
    .await;
    assert_eq!(
        b.text(".stat[data-status=total] .stat-value").await,
        "63,114/100 điểm"
    );
    let indicator = |code: &str, cell: &str| {
        format!("table.index-766-indicators tr[data-indicator={code}] {cell}")
    };
    // On time: 2 of 5, 8 of 20 points, 12 lost through 3 dossiers.
    assert_eq!(b.text(&indicator("on_time", ".points")).await, "8/20");
    assert_eq!(b.text(&indicator("on_time", ".ratio")).await, "2/5");
    assert_eq!(b.text(&indicator("on_time", ".lost")).await, "12");
    assert_eq!(b.text(&indicator("on_time", ".items")).await, "3");
    // Rating: 2 of 3 against the 0.9 threshold: 8,889 of 12; paid online: full marks.
    assert_eq!(b.text(&indicator("rating", ".points")).await, "8,889/12");
    assert_eq!(b.text(&indicator("rating", ".lost")).await, "3,111");
    assert_eq!(b.text(&indicator("paid_online", ".items")).await, "1");
    assert_eq!(b.text(&indicator("paid_online", ".lost")).await, "0");
    let bars = b
        .client
        .execute(
            "return document.querySelectorAll('table.index-766-indicators .par-bar').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bars, json!(12));
    // The 23 items of the hand-computed list (tests/e2e/index_766_lost.rs), with reasons.
    assert_eq!(rows(b, "table.index-766-lost").await, 23);
    assert_eq!(
        b.text("table.index-766-lost tr[data-indicator=on_time][data-id=D3] td.reason")
            .await,
        "Yêu cầu bổ sung lần hai"
    );
    assert_eq!(
        b.text("table.index-766-lost tr[data-indicator=petitions][data-id=PK3] td.reason")
            .await,
        "Quá hạn chưa trả lời"
    );
    assert!(
        b.client
            .find(fantoccini::Locator::Css(
                "article[data-panel=index-766-lost] button[name=csv]"
            ))
            .await
            .is_ok()
    );
    b.screenshot("index-766-agency").await;

    // The on-time count filters the list to its three dossiers.
    b.click(&indicator("on_time", ".items a")).await;
    b.ready("index-766 on time").await;
    let ids = b
        .wait_for(
            "filtered list",
            "return location.hash.includes('indicator=on_time') \
             && document.querySelectorAll('table.index-766-lost tbody tr').length === 3 \
             && [...document.querySelectorAll('table.index-766-lost td.id')].map((td) => td.textContent).join(' ')",
        )
        .await;
    assert_eq!(ids, json!("D3 D4 D6"));

    // No portal figures imported yet: the page says so, and shows no portal column.
    let note = "p.portal-note";
    assert_eq!(
        b.text(&format!("{note}[data-portal=none]")).await,
        "Chưa nhập số liệu Cổng Dịch vụ công quốc gia cho tháng 2025-03 (parwatch index-766 import)."
    );
    assert_eq!(rows(b, "table.index-766-indicators").await, 12);
    let portal_cells =
        "return document.querySelectorAll('table.index-766-indicators td.portal').length";
    assert_eq!(
        b.client.execute(portal_cells, vec![]).await.unwrap(),
        json!(0)
    );

    // The portal's table: A's total 70 (ours 63,114), on time 9,5 (ours 8), rating 12 (ours
    // 8,889), and a figure for an indicator our rubric does not have.
    let csv = format!(
        "period,agency_code,indicator,points\n\
         2025-03,{A},total,70\n2025-03,{A},on_time,9.5\n2025-03,{A},rating,12\n\
         2025-03,{A},speed,3\n2025-03,{B},total,77.315\n"
    );
    let (ok, log) = import(&tmp.path().join("data"), &csv, "portal-2025-03.csv");
    assert!(ok, "{log}");
    // The lost-points answer says where the page finds them.
    let (_, lost) = up
        .get_json(&format!(
            "/api/v1/index-766/{A}/lost?period=2025-03&limit=1"
        ))
        .await;
    assert_eq!(
        (&lost["portal"]["source"], &lost["portal"]["reconcile"]),
        (
            &json!("portal-2025-03.csv"),
            &json!(format!(
                "/api/v1/index-766/reconcile?period=2025-03&agency={A}"
            ))
        )
    );
    b.client
        .goto(&format!("{base}/#/index-766/{A}?period=2025-03&reload=1"))
        .await
        .unwrap();
    b.wait_for(
        "portal figures",
        "return document.querySelector('p.portal-note[data-portal=imported]') !== null \
         && document.querySelector('table.index-766-indicators td.portal') !== null",
    )
    .await;
    b.ready("index-766 agency with the portal's figures").await;
    assert!(
        b.text(&format!("{note}[data-portal=imported]"))
            .await
            .starts_with("Số liệu Cổng Dịch vụ công quốc gia: portal-2025-03.csv, nhập lúc "),
    );
    // Ours, the portal's and the difference (ours − the portal's), per indicator.
    for (code, ours, portal, difference) in [
        ("on_time", "8/20", "9,5", "-1,5"),
        ("rating", "8,889/12", "12", "-3,111"),
        ("published", "4,5/6", "–", "–"),
    ] {
        assert_eq!(
            (
                b.text(&indicator(code, ".points")).await,
                b.text(&indicator(code, "td.portal")).await,
                b.text(&indicator(code, "td.difference")).await,
            ),
            (ours.to_owned(), portal.to_owned(), difference.to_owned()),
            "{code}"
        );
    }
    // The figure only the portal has comes last, marked so.
    assert_eq!(rows(b, "table.index-766-indicators").await, 13);
    assert_eq!(
        b.text("table.index-766-indicators tr.portal-only[data-indicator=speed] td.portal")
            .await,
        "3"
    );
    assert_eq!(
        b.text(".stat[data-status=portal] .stat-value").await,
        "70/100 điểm"
    );
    assert_eq!(
        b.text(".stat[data-status=portal] .difference").await,
        "Chênh lệch -6,886"
    );
    b.screenshot("index-766-agency-portal").await;

    // The portal publishes months: a quarter has nothing to compare.
    b.client
        .goto(&format!("{base}/#/index-766/{A}?period=2025-Q1"))
        .await
        .unwrap();
    let text = b
        .wait_for(
            "quarter note",
            "const p = document.querySelector('p.portal-note[data-portal=none]'); return p && p.textContent",
        )
        .await;
    assert_eq!(
        text,
        json!(
            "Cổng Dịch vụ công quốc gia công bố số liệu theo tháng: chọn một tháng để đối chiếu."
        )
    );
    b.ready("index-766 agency, a quarter").await;

    // In English.
    b.client
        .goto(&format!("{base}/?lang=en#/index-766/{A}?period=2025-03"))
        .await
        .unwrap();
    b.wait_for(
        "portal figures in English",
        "return document.querySelector('p.portal-note[data-portal=imported]') !== null",
    )
    .await;
    b.ready("index-766 agency in English").await;
    assert!(
        b.text(&format!("{note}[data-portal=imported]"))
            .await
            .starts_with(
                "The national public-service portal's figures: portal-2025-03.csv, imported "
            ),
    );
    assert_eq!(
        (
            b.text(&indicator("on_time", "td.portal")).await,
            b.text(&indicator("on_time", "td.difference")).await,
            b.text(".stat[data-status=portal] .difference").await,
        ),
        (
            "9.5".to_owned(),
            "-1.5".to_owned(),
            "Difference -6.886".to_owned()
        )
    );
}
