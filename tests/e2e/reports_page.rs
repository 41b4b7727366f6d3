//! The Reports page in a real browser, over a year and a half simulated by `parwatch simulate`:
//! a preview shows the API's figures in Vietnamese format; the public report shows its
//! suppressed cells as `x` with the footnote where the internal one shows numbers; publishing
//! from the page lists the report, which opens frozen with no change since; new events dated in
//! the period then show as differences with their dossiers; the exports download as a
//! workbook and a PDF; the page reads in English too.

use serde_json::{Value, json};

use crate::harness::browser::{Browser, Province, vi_number, wait_landed};
use crate::harness::{Outgoing, get_json, post_json, publish};

const PERIOD: &str = "2024-Q1";

/// `n` dossiers received by `agency` on 15 February 2024, none seen before.
fn late_dossiers(agency: &str, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            let event = json!({
                "event_id": format!("report-late-{i}"), "type": "dossier.received",
                "schema_version": 1, "occurred_at": "2024-02-15T09:00:00+07:00",
                "source": "motcua-test", "agency_code": agency,
                "dossier_id": format!("REPORT-LATE-{i}"),
                "data": {"channel": "counter", "due_at": "2024-02-29T17:00:00+07:00"},
            });
            Outgoing {
                subject: "par.events.v1.dossier.received".to_owned(),
                body: serde_json::to_vec(&event).unwrap(),
                msg_id: None,
            }
        })
        .collect()
}

/// Captures downloads instead of saving them: each blob's type, size and first bytes, and the
/// file name the page gives it.
const CAPTURE: &str = "window.__downloads = [];
    if (window.__captured) return;
    window.__captured = true;
    const made = URL.createObjectURL.bind(URL);
    URL.createObjectURL = (blob) => {
      const entry = { type: blob.type, size: blob.size, head: null, name: null };
      blob.slice(0, 4).arrayBuffer().then((b) => { entry.head = Array.from(new Uint8Array(b)); });
      window.__downloads.push(entry);
      return made(blob);
    };
    HTMLAnchorElement.prototype.click = function () {
      if (this.download) window.__downloads[window.__downloads.length - 1].name = this.download;
    };";

/// Clicks `button` and returns the download it made (type, size, first bytes, name).
async fn download(b: &Browser, button: &str) -> Value {
    b.client.execute(CAPTURE, vec![]).await.unwrap();
    b.click(button).await;
    b.wait_for(
        button,
        "const d = window.__downloads[0]; return d && d.head && d.name && d",
    )
    .await
}

/// Chooses `value` in the page's select `name`, as a person would (a change event).
async fn choose(b: &Browser, name: &str, value: &str) {
    b.client
        .execute(
            "const s = document.querySelector(`select[name=${arguments[0]}]`);
             s.value = arguments[1];
             s.dispatchEvent(new Event('change'));",
            vec![json!(name), json!(value)],
        )
        .await
        .unwrap();
}

/// The text of every cell of `table` in the preview, by row key and column index.
async fn cells(b: &Browser, panel: &str, table: &str) -> Value {
    b.client
        .execute(
            &format!(
                "return [...document.querySelectorAll(\"[data-panel={panel}] [data-table={table}] tbody tr\")]
                   .map((tr) => [tr.dataset.row, [...tr.querySelectorAll('td')].map((td) => td.textContent)])"
            ),
            vec![],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_in_a_real_browser() {
    let province = Province::simulated().await;
    let base = province.parwatch.base().to_owned();
    let browser = Browser::start().await;
    let b = &browser;

    // The internal province report: the page's numbers are the API's, in vi-VN.
    let (status, api) = get_json(&format!(
        "{base}/api/v1/reports/province/preview?period={PERIOD}"
    ))
    .await;
    assert_eq!(status, 200, "{api}");
    b.open(
        &format!("{base}/#/reports?report=province&period={PERIOD}"),
        "reports",
    )
    .await;
    assert_eq!(b.text("h1").await, "Báo cáo định kỳ");
    b.wait_for(
        "preview",
        "return document.querySelector('[data-panel=report-preview] .report[data-report=province]') !== null",
    )
    .await;
    let table = &api["sections"][0]["tables"][0];
    let shown = cells(b, "report-preview", "received_by_agency").await;
    let lines = table["lines"].as_array().unwrap();
    assert_eq!(shown.as_array().unwrap().len(), lines.len());
    for (line, row) in lines.iter().zip(shown.as_array().unwrap()) {
        assert_eq!(row[0], line["key"]);
        let received = vi_number(line["cells"][0].as_f64().unwrap(), 0);
        assert_eq!(row[1][0], json!(received), "{}", line["key"]);
    }
    let suppressed =
        "return document.querySelectorAll('[data-panel=report-preview] td.suppressed').length";
    assert_eq!(
        b.client.execute(suppressed, vec![]).await.unwrap(),
        json!(0),
        "an internal report shows every cell"
    );
    b.screenshot("reports-preview").await;

    // The public report hides what the API hides, as `x`, and says why.
    let (_, public) = get_json(&format!(
        "{base}/api/v1/reports/public/preview?period={PERIOD}"
    ))
    .await;
    let hidden: usize = public["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tables"].as_array().unwrap())
        .flat_map(|t| t["lines"].as_array().unwrap())
        .map(|l| l["suppressed"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(
        hidden > 0,
        "3 dossiers a working day leave small cells: {public}"
    );
    choose(b, "report", "public").await;
    b.ready("public report").await;
    b.wait_for(
        "public preview",
        "return document.querySelector('[data-panel=report-preview] .report[data-report=public]') !== null",
    )
    .await;
    let count = b.client.execute(suppressed, vec![]).await.unwrap();
    assert_eq!(count, json!(hidden));
    let texts = b
        .client
        .execute(
            "return [...document.querySelectorAll('[data-panel=report-preview] td.suppressed')].map((td) => td.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        texts.as_array().unwrap().iter().all(|t| t == "x"),
        "{texts}"
    );
    let note = b.text("[data-panel=report-preview] .report-note").await;
    assert!(
        note.starts_with("x: số liệu không công bố") && note.contains("dưới 5 hồ sơ"),
        "{note}"
    );
    b.screenshot("reports-public").await;

    // Publish the province report from the page; it is listed, and opens frozen, unchanged.
    b.open(
        &format!("{base}/#/reports?report=province&period={PERIOD}"),
        "reports (province)",
    )
    .await;
    b.wait_for(
        "province preview",
        "return document.querySelector('[data-panel=report-preview] .report[data-report=province]') !== null",
    )
    .await;
    b.click("button[name=publish]").await;
    let said = b
        .wait_for(
            "published",
            "const s = document.getElementById('report-status').textContent; return s.startsWith('Đã ban hành') && s",
        )
        .await;
    let (_, listed) = get_json(&format!("{base}/api/v1/reports/published")).await;
    let id = listed["published"][0]["id"].as_str().unwrap().to_owned();
    assert!(said.as_str().unwrap().contains(&id), "{said}");
    let row = format!("[data-panel=reports-published] tr[data-published='{id}']");
    b.wait_for(
        "listed",
        &format!("return document.querySelector(\"{row}\") !== null"),
    )
    .await;
    b.click(&format!("{row} a")).await;
    b.ready("published report").await;
    let differences = "return document.querySelector('[data-panel=report-changes] .changes')?.dataset.differences";
    assert_eq!(b.wait_for("changes", differences).await, json!("0"));
    assert!(
        b.text("[data-panel=report-changes]")
            .await
            .contains("Số liệu không thay đổi từ khi ban hành")
    );

    // Late events for February: the page names the changed cells and the new dossiers.
    let (_, status) = get_json(&format!("{base}/api/v1/status")).await;
    let landed = status["ingest"]["events_stored"].as_u64().unwrap()
        + status["ingest"]["rejected"].as_u64().unwrap();
    let agency = lines[0]["key"].as_str().unwrap();
    let sent = publish(&province.nats.url(), late_dossiers(agency, 3)).await;
    wait_landed(&base, landed + sent as u64).await;
    b.client.refresh().await.unwrap();
    b.ready("published report (after late events)").await;
    let moved = b
        .wait_for(
            "differences",
            "const n = Number(document.querySelector('[data-panel=report-changes] .changes')?.dataset.differences); return n > 0 && n",
        )
        .await;
    let (_, changes) = get_json(&format!("{base}/api/v1/reports/published/{id}/changes")).await;
    assert_eq!(
        moved,
        json!(changes["differences"].as_array().unwrap().len())
    );
    let text = b.text("[data-panel=report-changes]").await;
    assert!(text.contains("REPORT-LATE-0"), "{text}");
    assert!(
        b.text(&format!(
            "[data-panel=report-changes] tr[data-table=received_by_agency][data-row='{agency}']"
        ))
        .await
        .contains("3 sự kiện"),
        "{text}"
    );
    b.screenshot("reports-changes").await;

    // Exports: a workbook (a zip) and a PDF, named after the report.
    let xlsx = download(b, "button[name=published-xlsx]").await;
    assert_eq!(
        xlsx["type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(xlsx["head"], json!([0x50, 0x4b, 0x03, 0x04]), "a zip");
    assert_eq!(xlsx["name"], json!(format!("{id}.xlsx")));
    let pdf = download(b, "button[name=published-pdf]").await;
    assert_eq!(pdf["type"], "application/pdf");
    assert_eq!(pdf["head"], json!(b"%PDF".to_vec()));
    let preview_pdf = download(b, "button[name=preview-pdf]").await;
    assert_eq!(preview_pdf["name"], json!(format!("province-{PERIOD}.pdf")));

    // A public embed of an agency's dashboard: the tiles the server withholds read "x".
    let busiest = lines[..lines.len() - 1]
        .iter()
        .max_by_key(|l| l["cells"][0].as_f64().unwrap() as i64)
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = post_json(
        &format!("{base}/api/v1/embed-tokens"),
        None,
        &json!({"dashboard": "agency", "agency": busiest, "ttl": "1h"}),
    )
    .await;
    let status = response.status().as_u16();
    let minted: Value = response.json().await.unwrap();
    assert!(status == 200 || status == 201, "{status} {minted}");
    let path = minted["embed_path"].as_str().unwrap();
    let range = "from=2024-02-01&to=2024-02-29";
    b.open(&format!("{base}{path}#/?{range}"), "embed").await;
    let token = path.split("token=").nth(1).unwrap();
    let mut withheld = 0;
    for panel in ["received", "online", "on-time", "apology"] {
        let (_, answer) = get_json(&format!(
            "{base}/embed/api/panels/{panel}?token={token}&{range}"
        ))
        .await;
        let tile = b
            .wait_for(
                panel,
                &format!(
                    "return document.querySelector('[data-panel={panel}] .tile-value')?.textContent"
                ),
            )
            .await;
        if answer["value"]["suppressed"] == json!(true) {
            assert_eq!(tile, json!("x"), "{panel}: {answer}");
            withheld += 1;
        } else {
            assert_ne!(tile, json!("x"), "{panel}: {answer}");
        }
    }
    assert!(
        withheld > 0,
        "a month of one agency at 3 dossiers a day has small figures"
    );
    b.screenshot("reports-embed").await;
    b.open(
        &format!("{base}/#/reports?published={id}&report=province&period={PERIOD}"),
        "back to the report",
    )
    .await;

    // English.
    b.click("button.lang").await;
    b.ready("reports (en)").await;
    b.wait_for(
        "english",
        "return document.querySelector('h1')?.textContent === 'Periodic reports'",
    )
    .await;
    assert!(
        b.text("[data-panel=report-changes] h3")
            .await
            .contains("Changes since publication")
    );
    assert!(b.console_errors().await.is_empty());
}
