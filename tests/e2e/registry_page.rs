//! The two views of the figures in a real browser, over the registry's hand-built case
//! ([`RegistryLake`]): the province dashboard narrowed to N1, a commune made on 1 July 2025 of
//! 0.6 of C1 and the whole of C2, switched from as recorded to restated to the units of
//! 1 August 2025 with the view switch. The tiles equal the API's answer in each view, the
//! address keeps the view, the on-time chart marks the July reorganisation at its date, and
//! the ranking page ranks the units of the date only; a dashboard of SQL panels has no switch.

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::harness::browser::{Browser, vi_number};
use crate::harness::get_json;
use crate::registry::RegistryLake;

const RANGE: &str = "from=2025-01-01&to=2025-08-31";
const RESTATED: &str = "&units=restated&units_date=2025-08-01";

/// A stat panel of N1 as its tile writes it, from the API's answer in the view `view` (the
/// query's tail): shares in per cent with one decimal, whole counts without.
async fn tile(base: &str, panel: &str, view: &str) -> String {
    let (status, body) = get_json(&format!(
        "{base}/api/v1/dashboards/province/panels/{panel}?{RANGE}&agency=N1{view}"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    match body["value"]["value"].as_f64() {
        None => "–".to_owned(),
        Some(v) if body["unit"] == "ratio" => format!("{}%", vi_number(v * 100.0, 1)),
        Some(v) if v.fract() == 0.0 => vi_number(v, 0),
        Some(v) => vi_number(v, 1),
    }
}

/// Waits until the tiles of `panels` show what the API answers in `view`.
async fn tiles_equal_the_api(b: &Browser, base: &str, panels: &[&str], view: &str) {
    for panel in panels {
        let expected = tile(base, panel, view).await;
        let script = format!(
            "const v = document.querySelector('[data-panel={panel}] .tile-value'); \
             return v !== null && v.textContent === {}",
            json!(expected)
        );
        b.wait_for(&format!("tile {panel} showing {expected}"), &script)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_switch_restates_the_dashboard_and_marks_the_breaks() {
    let lake = RegistryLake::start().await;
    let base = lake.parwatch.base().to_owned();
    let (_, ranges) = get_json(&format!("{base}/api/v1/ranges")).await;
    let today = ranges["today"].as_str().unwrap().to_owned();
    let browser = Browser::start().await;
    let b = &browser;
    let panels = ["on-time", "received"];

    // As recorded (the default): N1 did not exist before July and received nothing after.
    b.open(&format!("{base}/#/?{RANGE}&agency=N1"), "as recorded")
        .await;
    tiles_equal_the_api(b, &base, &panels, "").await;
    assert_eq!(b.text("[data-panel=on-time] .tile-value").await, "–");
    assert!(
        b.text(".units-switch button.active").await == "Như ghi nhận",
        "as recorded is the default"
    );
    let shown_date = b
        .on("input[name=units_date]", |e| async move {
            e.prop("value").await
        })
        .await;
    let d: Vec<&str> = today.split('-').collect();
    assert_eq!(
        shown_date,
        Some(format!("{}/{}/{}", d[2], d[1], d[0])),
        "today by default"
    );

    // Restated to the units of 1 August 2025, with the switch.
    b.on("input[name=units_date]", |e| async move {
        e.clear().await?;
        e.send_keys("01/08/2025").await
    })
    .await;
    b.click("button[name=restated]").await;
    let hash = b
        .wait_for(
            "the view in the address",
            "return location.hash.includes('units=restated') && location.hash",
        )
        .await;
    assert!(
        hash.as_str().unwrap().contains("units_date=2025-08-01"),
        "{hash}"
    );
    b.ready("restated").await;
    tiles_equal_the_api(b, &base, &panels, RESTATED).await;
    // (0.6·5 + 5) / (0.6·10 + 5) on time, 0.6·10 + 5 received.
    assert_eq!(b.text("[data-panel=on-time] .tile-value").await, "72,7%");
    assert_eq!(b.text("[data-panel=received] .tile-value").await, "11");
    assert_eq!(
        b.text(".units-switch button.active").await,
        "Quy đổi theo đơn vị ngày"
    );
    // The agency choice offers the units of the date, N1 chosen.
    let choice = b
        .client
        .execute(
            "const s = document.querySelector('select[name=agency]'); \
             return [s.value, [...s.options].map((o) => o.value).filter(Boolean)]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(choice, json!(["N1", ["D2", "N1", "N2"]]));

    // The on-time chart marks 1 July 2025, naming the changes.
    let mark = "[data-panel=on-time-trend] g.break[data-date='2025-07-01']";
    b.wait_for(
        "a break mark",
        &format!("return document.querySelector(\"{mark}\") !== null"),
    )
    .await;
    let marks = b
        .client
        .execute(
            "return [...document.querySelectorAll('[data-panel=on-time-trend] g.break')]\
             .map((g) => [g.dataset.date, g.querySelector('text').textContent, g.querySelector('title').textContent])",
            vec![],
        )
        .await
        .unwrap();
    let marks = marks.as_array().unwrap();
    assert_eq!(marks.len(), 1, "one mark per date: {marks:?}");
    assert_eq!(marks[0][0], "2025-07-01");
    assert_eq!(marks[0][1], "01/07/2025");
    let named = marks[0][2].as_str().unwrap();
    // The new communes by the names the registry gives them (no directory here).
    for part in [
        "Chia tách: C1 → Phường Một (N1), Phường Hai (N2)",
        "Sáp nhập: C2 → Phường Một (N1)",
        "Thành lập: Phường Một (N1)",
    ] {
        assert!(named.contains(part), "{named}");
    }
    // Where it falls: at the left edge of July's bucket, between June's and July's points.
    let placed = b
        .client
        .execute(
            "const svg = document.querySelector('[data-panel=on-time-trend] svg.chart-svg'); \
             const x = Number(svg.querySelector('g.break line').getAttribute('x1')); \
             const buckets = Number(svg.dataset.buckets); \
             const box = svg.querySelector('rect.overlay'); \
             const band = Number(box.getAttribute('width')) / buckets; \
             return (x - Number(box.getAttribute('x'))) / band",
            vec![],
        )
        .await
        .unwrap();
    let placed = placed.as_f64().unwrap();
    assert!(
        (placed - 6.0).abs() < 1e-6,
        "July is the 7th month: {placed}"
    );
    let listed = b.text("[data-panel=on-time-trend] .chart-breaks").await;
    assert!(
        listed.starts_with("Thay đổi đơn vị: 01/07/2025"),
        "{listed}"
    );
    b.screenshot("registry-restated").await;

    // The view survives a reload from the address, and switches back.
    b.client.refresh().await.unwrap();
    b.ready("reloaded").await;
    tiles_equal_the_api(b, &base, &panels, RESTATED).await;
    b.click("button[name=as_recorded]").await;
    b.wait_for(
        "as recorded again",
        "return !location.hash.includes('units')",
    )
    .await;
    b.ready("as recorded again").await;
    tiles_equal_the_api(b, &base, &panels, "").await;

    // The ranking page ranks the units of the date, as the API does.
    b.open(
        &format!("{base}/#/ranking?from=2025-01-01&to=2025-01-31{RESTATED}"),
        "ranking restated",
    )
    .await;
    b.wait_for(
        "ranking rows",
        "return document.querySelectorAll('table.ranking tbody tr').length",
    )
    .await;
    let (_, api) = get_json(&format!(
        "{base}/api/v1/ranking?metric=on_time_rate&from=2025-01-01&to=2025-01-31{RESTATED}"
    ))
    .await;
    let expected: Vec<Value> = api["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["agency_code"].clone())
        .collect();
    assert_eq!(expected, [json!("D2"), json!("N1"), json!("N2")]);
    let shown = b
        .client
        .execute(
            "return [...document.querySelectorAll('table.ranking tbody tr')].map((r) => r.dataset.agency)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!(expected));
    let row = b
        .client
        .find(Locator::Css("table.ranking tr[data-agency=N1] td.value"))
        .await
        .unwrap();
    assert_eq!(row.text().await.unwrap(), "72,7%");

    // The quality dashboard has SQL panels only: no switch where it would change nothing.
    b.open(&format!("{base}/#/quality?{}", &RESTATED[1..]), "quality")
        .await;
    let switches = b
        .client
        .execute(
            "return document.querySelectorAll('.units-switch').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(switches, json!(0));
    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "{errors:#?}");
}
