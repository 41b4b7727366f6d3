//! Every page in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver), against `parwatch up` filled by `parwatch simulate`. Each page must render
//! with no console error; tiles must show the numbers api-v1 gives for the same data, in
//! Vietnamese format; the ranking drills into the agency; the page follows new events without
//! a reload; an embed renders with a valid token, inside an allowed portal's frame only, and
//! refuses a tampered one. The pages are also read as assistive technology reads them, through
//! Chromium's accessibility tree (DevTools protocol): charts named and backed by a table of
//! their values, clickable rows operable from the keyboard with a visible focus, live regions
//! quiet until something changes, every label in both languages and every glyph in a font.
//! Screenshots go to `target/screenshots/` for a person to look at.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::browser::{Browser, Province, simulate, vi_number, wait_landed};
use crate::harness::{
    LocalNats, Outgoing, PORTAL, Parwatch, SECRET, embed_token, free_port, get, get_json, publish,
    repo_dashboards,
};

const RANGE: &str = "from=2024-01-01&to=2024-06-30";

/// A metric over the test range as the tile should show it, computed from api-v1's daily
/// points: counts summed, rates as summed numerator over summed denominator.
async fn expected_tile(base: &str, metric: &str, agency: Option<&str>) -> String {
    let agency = agency.map_or(String::new(), |a| format!("&agency={a}"));
    let (status, body) = get_json(&format!(
        "{base}/api/v1/metrics/{metric}?{RANGE}&bucket=day{agency}"
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let points = body["series"][0]["points"].as_array().unwrap();
    let num: i64 = points
        .iter()
        .map(|p| p["numerator"].as_i64().unwrap())
        .sum();
    if points[0]["denominator"].is_null() {
        vi_number(num as f64, 0)
    } else {
        let den: i64 = points
            .iter()
            .map(|p| p["denominator"].as_i64().unwrap())
            .sum();
        format!("{}%", vi_number(num as f64 * 100.0 / den as f64, 1))
    }
}

/// A portal's web page framing `src`, served on `port` (0: any free one); returns the port.
async fn portal(port: u16, src: String) -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap_or_else(|e| panic!("portal port {port}: {e}"));
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let src = src.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let body = format!(
                    "<!doctype html><title>Cổng thông tin Sở</title><h1>Sở Tư pháp</h1>\
                     <iframe src=\"{src}\" width=\"720\" height=\"900\"></iframe>"
                );
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// `n` dossiers received on 15 March 2024 by `agency`, none seen before.
fn new_dossiers(agency: &str, n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            let event = json!({
                "event_id": format!("live-{i}"), "type": "dossier.received", "schema_version": 1,
                "occurred_at": "2024-03-15T09:00:00+07:00", "source": "motcua-test",
                "agency_code": agency, "dossier_id": format!("LIVE-{i}"),
                "data": {"channel": "counter", "due_at": "2024-03-29T17:00:00+07:00"},
            });
            Outgoing {
                subject: "par.events.v1.dossier.received".to_owned(),
                body: serde_json::to_vec(&event).unwrap(),
                msg_id: None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let names = tmp.path().join("agencies.csv");
    let published = simulate(&nats.url(), "2024-01-01", "2024-06-30", 40, Some(&names));
    let data = tmp.path().join("data");
    let dashboards = repo_dashboards();
    // Two portals on other origins: one allowed to frame embeds, one not.
    let origin_port = free_port();
    let allowed = format!("http://localhost:{origin_port}");
    let origins = format!("{PORTAL},{allowed}");
    let parwatch = Parwatch::up(
        &nats.url(),
        &data,
        &[
            "--dashboards",
            dashboards.to_str().unwrap(),
            "--embed-secret",
            SECRET,
            "--embed-origins",
            &origins,
            "--agencies",
            names.to_str().unwrap(),
        ],
    )
    .await;
    let base = parwatch.base().to_owned();
    wait_landed(&base, published).await;
    let browser = Browser::start().await;
    let b = &browser;

    // The province overview: tiles equal api-v1 for the same range, in Vietnamese format.
    b.open(&format!("{base}/#/?{RANGE}"), "overview").await;
    let rendered = b
        .client
        .execute(
            "return performance.getEntriesByName('parwatch:rendered')[0].startTime",
            vec![],
        )
        .await
        .unwrap();
    eprintln!("overview: first render {rendered} ms after navigation start");
    for (panel, metric) in [
        ("received", "received"),
        ("online", "online_uptake"),
        ("full-online", "full_online_share"),
        ("postal", "postal_share"),
        ("on-time", "on_time_rate"),
        ("late", "late_files"),
        ("apology", "apology_rate"),
    ] {
        let shown = b.text(&format!("[data-panel={panel}] .tile-value")).await;
        assert_eq!(
            shown,
            expected_tile(&base, metric, None).await,
            "tile {panel}"
        );
    }
    let target = b.text("[data-panel=online] .tile-target").await;
    assert!(target.starts_with("Chỉ tiêu ≥ 80,0%"), "{target}");
    let heading = b.text("h1").await;
    assert_eq!(heading, "Tổng quan tỉnh");
    let from = b
        .on("input[name=from]", |e| async move { e.prop("value").await })
        .await;
    assert_eq!(from.as_deref(), Some("01/01/2024"));
    // Hovering a chart shows the bucket and its value.
    b.on("[data-panel=online-trend] .overlay", |overlay| {
        let hover = MouseActions::new("mouse".to_owned()).then(PointerAction::MoveToElement {
            element: overlay,
            duration: None,
            x: 0.0,
            y: 0.0,
        });
        b.client.perform_actions(hover)
    })
    .await;
    let tip = b.text("[data-panel=online-trend] .chart-tip").await;
    assert!(tip.starts_with("Tháng ") && tip.contains('%'), "{tip}");
    b.screenshot("overview").await;

    // The page follows new events without a reload.
    b.client
        .execute("window.notReloaded = true", vec![])
        .await
        .unwrap();
    let before = b.text("[data-panel=received] .tile-value").await;
    let (_, agencies) = get_json(&format!("{base}/api/v1/agencies")).await;
    let some_agency = agencies["agencies"][0].as_str().unwrap().to_owned();
    publish(&nats.url(), new_dossiers(&some_agency, 40)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let expected = loop {
        let now = b.text("[data-panel=received] .tile-value").await;
        let api = expected_tile(&base, "received", None).await;
        if now == api && now != before {
            break api;
        }
        assert!(
            Instant::now() < deadline,
            "tile still {now} (was {before}, api {api})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        expected,
        vi_number(before.replace('.', "").parse::<f64>().unwrap() + 40.0, 0)
    );
    let kept = b
        .client
        .execute("return window.notReloaded === true", vec![])
        .await
        .unwrap();
    assert_eq!(kept, json!(true), "refreshed in place, not reloaded");
    assert!(b.console_errors().await.is_empty());

    // Daily buckets, and a second agency compared on every chart over time.
    let chart = "[data-panel=online-trend] svg";
    b.click("select[name=bucket] option[value=day]").await;
    b.ready("daily").await;
    let days = b
        .wait_for(
            "daily buckets",
            &format!("return document.querySelector('{chart}')?.dataset.buckets"),
        )
        .await;
    assert_eq!(days, json!("182"), "1 January to 30 June 2024");
    b.click(&format!(
        "select[name=compare] option[value='{some_agency}']"
    ))
    .await;
    b.ready("compare").await;
    let series = b
        .wait_for(
            "compared",
            &format!("return document.querySelector('{chart}')?.dataset.series"),
        )
        .await;
    assert_eq!(series, json!("2"));
    let legend = b.text("[data-panel=online-trend] .legend").await;
    assert!(
        legend.contains("Toàn tỉnh") && legend.contains(&some_agency),
        "{legend}"
    );
    assert!(b.text(".chip").await.contains(&some_agency));
    b.screenshot("overview-compare").await;

    // English: the same numbers in English format.
    b.click("button.lang").await;
    b.ready("overview (en)").await;
    assert_eq!(b.text("h1").await, "Province overview");
    let received = b.text("[data-panel=received] .tile-value").await;
    assert_eq!(
        received,
        expected.replace('.', ","),
        "en-GB groups thousands with commas"
    );
    b.screenshot("overview-en").await;
    b.click("button.lang").await;
    b.ready("overview (vi)").await;

    // The ranking, and its drill-down into one agency.
    b.open(
        &format!("{base}/#/ranking?metric=on_time_rate&{RANGE}"),
        "ranking",
    )
    .await;
    let (_, ranking) = get_json(&format!(
        "{base}/api/v1/ranking?metric=on_time_rate&{RANGE}"
    ))
    .await;
    let first = &ranking["rows"][0];
    let code = first["agency_code"].as_str().unwrap().to_owned();
    // Agencies are shown by the name the directory (written by the simulator) gives them.
    let name = parwatch
        .scalar(&format!(
            "SELECT name FROM agencies WHERE agency_code = '{code}'"
        ))
        .await;
    let name = name.as_str().unwrap().to_owned();
    assert!(!name.is_empty() && name != code, "{name}");
    let row = b.text("tbody tr:first-child").await;
    let value = format!(
        "{}%",
        vi_number(first["value"].as_f64().unwrap() * 100.0, 1)
    );
    assert!(
        row.contains(&format!("{name} ({code})")) && row.contains(&value),
        "{row} vs {first}"
    );
    b.screenshot("ranking").await;
    b.click("tbody tr:first-child").await;
    let hash = b
        .wait_for(
            "drill-down",
            "return location.hash.startsWith('#/agency/') && location.hash",
        )
        .await;
    assert_eq!(
        hash,
        json!(format!("#/agency/{code}?from=2024-01-01&to=2024-06-30"))
    );
    b.ready("agency").await;
    assert!(b.text("h1").await.contains(&format!("{name} ({code})")));
    let shown = b.text("[data-panel=received] .tile-value").await;
    assert_eq!(shown, expected_tile(&base, "received", Some(&code)).await);
    b.screenshot("agency").await;

    // Data quality: freshness, rejections by fault, the worker's lag.
    // Rejections are dated by when they were received: today, inside the default 30 days.
    b.open(&format!("{base}/#/quality"), "quality").await;
    let (_, status) = get_json(&format!("{base}/api/v1/status")).await;
    let rejected = status["rejected"].as_u64().unwrap();
    assert!(rejected > 0);
    assert_eq!(
        b.text("[data-status=rejected] .stat-value").await,
        vi_number(rejected as f64, 0)
    );
    assert_eq!(b.text("[data-status=lag] .stat-value").await, "0");
    let faults = b
        .client
        .find_all(Locator::Css("[data-panel=by-fault] tbody tr"))
        .await
        .unwrap();
    assert!(faults.len() >= 5, "{} faults", faults.len());
    b.screenshot("quality").await;

    // The SQL console.
    b.open(&format!("{base}/#/sql"), "sql").await;
    let editor = b
        .client
        .find(Locator::Css("textarea[name=sql]"))
        .await
        .unwrap();
    editor.clear().await.unwrap();
    editor
        .send_keys("SELECT agency_code, count(*) AS dossiers FROM dossiers GROUP BY agency_code ORDER BY dossiers DESC LIMIT 5")
        .await
        .unwrap();
    b.click("button[name=run]").await;
    let rows = b
        .wait_for(
            "sql result",
            "const head = document.querySelector('.sql-out th'); \
             const rows = document.querySelectorAll('.sql-out tbody tr'); \
             return head && head.textContent === 'Cơ quan, đơn vị' && rows.length",
        )
        .await;
    assert_eq!(rows, json!(5));
    let top = parwatch
        .sql("SELECT agency_code, count(*) FROM dossiers GROUP BY agency_code ORDER BY 2 DESC LIMIT 1")
        .await;
    let first_row = b.text(".sql-out tbody tr:first-child").await;
    assert!(
        first_row.contains(top["rows"][0][0].as_str().unwrap()),
        "{first_row} vs {top}"
    );
    assert!(b.console_errors().await.is_empty());
    b.screenshot("sql").await;

    // An embed locked to one agency: no app chrome, the agency's numbers.
    let token = embed_token(
        &data,
        &dashboards,
        &["--dashboard", "province", "--agency", &code, "--ttl", "1h"],
    )
    .unwrap();
    let embed_url = format!("{base}/embed/province?token={token}#/?{RANGE}");
    b.open(&embed_url, "embed").await;
    assert!(
        b.client.find(Locator::Css("header.top")).await.is_err(),
        "no app header"
    );
    assert!(
        b.client
            .find(Locator::Css("select[name=agency]"))
            .await
            .is_err(),
        "no agency choice"
    );
    let shown = b.text("[data-panel=received] .tile-value").await;
    assert_eq!(shown, expected_tile(&base, "received", Some(&code)).await);
    assert!(
        b.text("h1").await.contains(&name),
        "the embed names its agency"
    );
    b.screenshot("embed").await;

    // Framed by the allowed portal it renders; by another origin the browser refuses it.
    portal(origin_port, embed_url.clone()).await;
    b.client.goto(&format!("{allowed}/")).await.unwrap();
    b.client.enter_frame(0).await.unwrap();
    b.ready("embed in the allowed portal").await;
    assert_eq!(b.text("[data-panel=received] .tile-value").await, shown);
    b.client.enter_parent_frame().await.unwrap();
    b.screenshot("embed-in-portal").await;
    let other = portal(0, embed_url).await;
    b.client
        .goto(&format!("http://localhost:{other}/"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut errors = Vec::new();
    while !errors
        .iter()
        .any(|e: &String| e.contains("frame-ancestors"))
    {
        assert!(
            Instant::now() < deadline,
            "the browser enforces frame-ancestors: {errors:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        errors.extend(b.console_errors().await);
    }

    // A tampered token: a clear refusal, with a 401.
    let mut bytes = token.into_bytes();
    let at = bytes.iter().position(|&c| c == b'.').unwrap() + 3;
    bytes[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(bytes).unwrap();
    let url = format!("{base}/embed/province?token={tampered}");
    let (status, _, _) = get(&url).await;
    assert_eq!(status, 401);
    b.client.goto(&url).await.unwrap();
    let title = b
        .wait_for(
            "refusal",
            "const h = document.querySelector('main.refused h1'); return h && h.textContent",
        )
        .await;
    assert_eq!(title, json!("Không thể hiển thị bảng điều khiển nhúng"));
    let errors = b.console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("401")),
        "only the refused document's own status: {errors:#?}"
    );
    b.screenshot("embed-refused").await;
}

/// Letters Vietnamese writes and English does not (lower case).
const VIETNAMESE: &str = "àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ";

/// The Vietnamese letters in `text`.
fn vietnamese_letters(text: &str) -> String {
    text.chars()
        .filter(|c| c.to_lowercase().any(|l| VIETNAMESE.contains(l)))
        .collect()
}

/// Characters of `arguments[0]` no font of the page draws: each drawn on a canvas in the page's
/// font, compared with a code point no font has (the missing-glyph box, "tofu").
const MISSING_GLYPHS: &str = r#"
const font = getComputedStyle(document.body).fontFamily;
const canvas = document.createElement('canvas');
canvas.width = 64; canvas.height = 64;
const g = canvas.getContext('2d', { willReadFrequently: true });
g.font = `32px ${font}`;
g.textBaseline = 'middle';
const draw = (c) => { g.clearRect(0, 0, 64, 64); g.fillText(c, 8, 32); return g.getImageData(0, 0, 64, 64).data.join(); };
const tofu = draw('\u{10FFFD}');
return [...new Set(arguments[0])].filter((c) => !/\s/.test(c) && draw(c) === tofu);
"#;

/// The page's own scripts and stylesheets: their paths, and their characters beyond ASCII.
const ASSETS: &str = r#"
const done = arguments[arguments.length - 1];
const paths = performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)
  .filter((p) => /^\/assets\/[\w-]+\.(js|css)$/.test(p));
Promise.all(paths.map((p) => fetch(p).then((r) => r.text())))
  .then((texts) => done([paths, texts.join('').replace(/[\x00-\x7f]/g, '')]));
"#;

/// What the page says: its rendered text and its elements' `aria-label`s.
const PAGE_TEXT: &str = "return [document.body.innerText, \
     ...[...document.querySelectorAll('[aria-label]')].map((e) => e.getAttribute('aria-label'))].join('\\n')";

/// Every catalogue of `i18n.js` as the page loads it: keys missing in a language, and all texts.
const CATALOGUES: &str = r#"
const done = arguments[arguments.length - 1];
import('/assets/i18n.js').then(({ CATALOGUES }) => {
  const missing = [];
  const texts = [];
  for (const [name, byLang] of Object.entries(CATALOGUES)) {
    if (Object.keys(byLang).sort().join() !== 'en,vi') missing.push(`${name}: languages ${Object.keys(byLang)}`);
    const keys = new Set([...Object.keys(byLang.vi || {}), ...Object.keys(byLang.en || {})]);
    for (const key of keys) {
      for (const lang of ['vi', 'en']) {
        const text = byLang[lang]?.[key];
        if (typeof text !== 'string' || !text.trim()) missing.push(`${name}.${lang}.${key}`);
        else texts.push([name, lang, key, text]);
      }
    }
  }
  done({ missing, texts });
}).catch((e) => done({ missing: [String(e)], texts: [] }));
"#;

fn ax_name(node: &Value) -> &str {
    node["name"]["value"].as_str().unwrap_or_default()
}

fn ax_role(node: &Value) -> &str {
    node["role"]["value"].as_str().unwrap_or_default()
}

/// A boolean property of an accessibility node (`focusable`, `focused`, ...).
fn ax_flag(node: &Value, name: &str) -> bool {
    node["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == name && p["value"]["value"] == json!(true))
}

/// What the page says, checked for glyphs no font draws (and the □ that stood for one).
async fn assert_glyphs(b: &Browser, page: &str) -> String {
    let text = b.client.execute(PAGE_TEXT, vec![]).await.unwrap();
    let text = text.as_str().unwrap().to_owned();
    assert!(
        !text.contains('\u{25A1}') && !text.contains('\u{FFFD}'),
        "{page}: a box or replacement character in {text}"
    );
    let missing = b
        .client
        .execute(MISSING_GLYPHS, vec![json!(text)])
        .await
        .unwrap();
    assert_eq!(missing, json!([]), "{page}: characters no font draws");
    text
}

/// Every chart of the page is an image with a name starting with its panel's title, and a
/// disclosure that the keyboard opens (Enter on its summary) onto a table of its values: a row
/// per bucket, a column per series. Returns each chart's panel and its table's cells.
async fn assert_charts(b: &Browser, page: &str) -> Vec<(String, Vec<String>)> {
    let panels = b
        .client
        .execute(
            "return [...document.querySelectorAll('.chart-plot svg')].map((s) => { \
               const p = s.closest('[data-panel]'); \
               return [p.dataset.panel, p.querySelector('h2').textContent, Number(s.dataset.buckets), Number(s.dataset.series)]; })",
            vec![],
        )
        .await
        .unwrap();
    let panels = panels.as_array().unwrap().clone();
    assert!(!panels.is_empty(), "{page}: no chart");
    let images = b.ax_nodes(".chart-plot svg").await;
    assert_eq!(images.len(), panels.len());
    let mut tables = Vec::new();
    for (image, panel) in images.iter().zip(&panels) {
        let (id, title) = (panel[0].as_str().unwrap(), panel[1].as_str().unwrap());
        let (buckets, series) = (
            panel[2].as_u64().unwrap() as usize,
            panel[3].as_u64().unwrap() as usize,
        );
        assert_eq!(ax_role(image), "image", "{page} {id}: {image}");
        let name = ax_name(image);
        assert!(
            name.starts_with(title) && name.len() > title.len(),
            "{page} {id}: named {name:?}"
        );
        let summary = format!("[data-panel={id}] details.chart-data summary");
        let opener = b.client.find(Locator::Css(&summary)).await.unwrap();
        opener.send_keys("\u{E007}").await.unwrap();
        b.wait_for(
            "the table opens",
            &format!("return document.querySelector('[data-panel={id}] details.chart-data').open"),
        )
        .await;
        let within = format!("[data-panel={id}] details.chart-data");
        // The accessibility tree follows the DOM a moment later.
        let deadline = Instant::now() + Duration::from_secs(10);
        let table = loop {
            let table = b.ax_within(&within, "table").await;
            if !table.is_empty() || Instant::now() > deadline {
                break table;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            table.len(),
            1,
            "{page} {id}: a table in the accessibility tree"
        );
        assert_eq!(
            ax_name(&table[0]),
            title,
            "{page} {id}: the table's caption"
        );
        let rows = b.ax_within(&within, "rowheader").await;
        let columns = b.ax_within(&within, "columnheader").await;
        let cells: Vec<String> = b
            .ax_within(&within, "cell")
            .await
            .iter()
            .map(|c| ax_name(c).to_owned())
            .collect();
        assert_eq!(
            (rows.len(), columns.len()),
            (buckets, series + 1),
            "{page} {id}"
        );
        assert_eq!(cells.len(), buckets * series, "{page} {id}");
        tables.push((id.to_owned(), cells));
    }
    tables
}

/// The clickable rows of `css` are rows the keyboard reaches, each with a link naming where it
/// goes; Tab onto the second shows a focus ring the others do not have, and `key` on it opens
/// its link. Returns that address.
async fn assert_clickable_rows(b: &Browser, css: &str, key: &str, screenshot: &str) -> String {
    let rows = b.ax_nodes(css).await;
    assert!(rows.len() >= 2, "{css}: {} rows", rows.len());
    for row in &rows {
        assert_eq!(ax_role(row), "row", "{row}");
        assert!(ax_flag(row, "focusable"), "{css}: not focusable: {row}");
    }
    let links = b.ax_within(&format!("{css}:nth-child(2)"), "link").await;
    assert_eq!(links.len(), 1, "{css}: one link per row");
    let target = b
        .client
        .execute(
            &format!(
                "const rows = document.querySelectorAll('{css}'); rows[0].focus(); \
                      return rows[1].querySelector('a').getAttribute('href')"
            ),
            vec![],
        )
        .await
        .unwrap();
    let target = target.as_str().unwrap().to_owned();
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focus = b
        .client
        .execute(
            &format!("const rows = document.querySelectorAll('{css}'); const s = (r) => getComputedStyle(r); \
                      return [document.activeElement === rows[1], rows[1].matches(':focus-visible'), \
                              s(rows[1]).outlineStyle, s(rows[1]).outlineWidth, s(rows[2] || rows[0]).outlineStyle]"),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        focus,
        json!([true, true, "solid", "3px", "none"]),
        "{css}: Tab onto the second row"
    );
    let focused = b.ax_nodes(&format!("{css}:nth-child(2)")).await;
    assert!(ax_flag(&focused[0], "focused"), "{focused:?}");
    assert!(!ax_name(&links[0]).is_empty());
    b.screenshot(screenshot).await;
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(key)
        .await
        .unwrap();
    let hash = b
        .wait_for(
            "the row opens",
            &format!("return location.hash === {target:?} && location.hash"),
        )
        .await;
    assert_eq!(hash, json!(target));
    target
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_by_assistive_technology() {
    let province = Province::simulated().await;
    let base = province.parwatch.base().to_owned();
    let browser = Browser::start().await;
    let b = &browser;

    // Every text of the UI exists in both languages; the English ones are English.
    b.open(&format!("{base}/#/?{RANGE}"), "overview").await;
    let catalogues = b.client.execute_async(CATALOGUES, vec![]).await.unwrap();
    assert_eq!(
        catalogues["missing"],
        json!([]),
        "texts missing in a language"
    );
    let texts = catalogues["texts"].as_array().unwrap();
    assert!(texts.len() > 300, "{} texts", texts.len());
    for text in texts {
        let (key, lang, value) = (
            text[2].as_str().unwrap(),
            &text[1],
            text[3].as_str().unwrap(),
        );
        // The language switch is named in the language it switches to.
        if lang == "en" && key != "lang_switch" {
            assert_eq!(vietnamese_letters(value), "", "en.{key}: {value}");
        }
    }
    // Every character beyond ASCII in the page's scripts and stylesheet (texts, arrows, signs),
    // whatever the data, is drawn by a font.
    let assets = b.client.execute_async(ASSETS, vec![]).await.unwrap();
    let loaded: Vec<&str> = assets[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for asset in [
        "app.js", "api.js", "i18n.js", "pages.js", "par.js", "chart.js", "app.css",
    ] {
        assert!(
            loaded.contains(&format!("/assets/{asset}").as_str()),
            "{loaded:?}"
        );
    }
    let missing = b
        .client
        .execute(MISSING_GLYPHS, vec![assets[1].clone()])
        .await
        .unwrap();
    assert_eq!(
        missing,
        json!([]),
        "characters of the web assets no font draws"
    );

    // The overview: charts named and tabled; tiles with no missing glyph.
    assert_glyphs(b, "overview").await;
    let tables = assert_charts(b, "overview").await;
    // The online uptake's table holds the API's values, as the page writes them.
    let (status, panel) = get_json(&format!(
        "{base}/api/v1/dashboards/province/panels/online-trend?{RANGE}"
    ))
    .await;
    assert_eq!(status, 200, "{panel}");
    let expected: Vec<String> = panel["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| match p["value"].as_f64() {
            None => "–".to_owned(),
            Some(v) => format!(
                "{}% ({}/{})",
                vi_number(v * 100.0, 1),
                vi_number(p["numerator"].as_f64().unwrap(), 0),
                vi_number(p["denominator"].as_f64().unwrap(), 0)
            ),
        })
        .collect();
    let online = tables.iter().find(|(id, _)| id == "online-trend").unwrap();
    assert_eq!(online.1, expected);
    b.screenshot("a11y-overview-tables").await;

    // The live region stays quiet while nothing changes, though the page checks every 5 s...
    let updated = b.text("#updated").await;
    let quiet = b.live_regions().await;
    assert!(quiet.iter().any(|(role, _)| role == "status"), "{quiet:?}");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_ne!(b.text("#updated").await, updated, "checked meanwhile");
    assert_eq!(
        b.live_regions().await,
        quiet,
        "nothing new, nothing announced"
    );
    // ...and says so once when new data is shown.
    let (_, agencies) = get_json(&format!("{base}/api/v1/agencies")).await;
    let some_agency = agencies["agencies"][0].as_str().unwrap().to_owned();
    publish(&province.nats.url(), new_dossiers(&some_agency, 5)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let news = loop {
        let now = b.live_regions().await;
        if now != quiet {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "no announcement of new data: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let said: Vec<&String> = news
        .iter()
        .map(|(_, text)| text)
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(said.len(), 1, "{news:?}");
    assert!(said[0].starts_with("Đã có dữ liệu mới"), "{news:?}");
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(b.live_regions().await, news, "announced once");

    // Clickable rows: the ranking's, then the PAR Index's (Space, then Enter).
    b.open(
        &format!("{base}/#/ranking?metric=on_time_rate&{RANGE}"),
        "ranking",
    )
    .await;
    let agency = assert_clickable_rows(b, "tr.clickable", " ", "a11y-ranking-focus").await;
    assert!(agency.starts_with("#/agency/"), "{agency}");
    b.ready("agency").await;
    b.open(&format!("{base}/#/par?year=2024"), "par").await;
    let par_agency = assert_clickable_rows(b, "tr.clickable", "\u{E007}", "a11y-par-focus").await;
    assert!(par_agency.starts_with("#/par/"), "{par_agency}");
    b.ready("par agency").await;
    b.wait_for(
        "trend",
        "return document.querySelector('[data-panel=par-trend-rank] svg') !== null",
    )
    .await;
    assert_glyphs(b, "par agency").await;
    assert_charts(b, "par agency").await;

    // English: no Vietnamese left, rubric names included (from the scoring models' name_en).
    let code = par_agency
        .trim_start_matches("#/par/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (_, index) = get_json(&format!("{base}/api/v1/par-index?year=2024&agency={code}")).await;
    let mine = &index["agencies"][0];
    for (url, page) in [
        (format!("{base}/?lang=en#/?{RANGE}"), "overview"),
        (
            format!("{base}/?lang=en#/ranking?metric=on_time_rate&{RANGE}"),
            "ranking",
        ),
        (format!("{base}/?lang=en#/par?year=2024"), "par"),
        (format!("{base}/?lang=en{par_agency}"), "par agency"),
        (format!("{base}/?lang=en#/agency/{code}?{RANGE}"), "agency"),
        (format!("{base}/?lang=en#/quality"), "quality"),
        (format!("{base}/?lang=en#/sql"), "sql"),
    ] {
        b.open(&url, page).await;
        b.wait_for(
            "drawn",
            "return !document.body.innerText.includes('Loading')",
        )
        .await;
        let lang = b
            .client
            .execute("return document.documentElement.lang", vec![])
            .await
            .unwrap();
        assert_eq!(lang, json!("en"));
        let text = assert_glyphs(b, page).await;
        let left = vietnamese_letters(&text.replace("Tiếng Việt", ""));
        assert_eq!(left, "", "{page} in English: {text}");
        if page.starts_with("par") {
            for c in mine["components"].as_array().unwrap() {
                let en = c["name_en"].as_str().unwrap();
                assert!(text.contains(en), "{page}: {en} not in {text}");
            }
        }
        if page == "par agency" {
            for k in mine["criteria"].as_array().unwrap() {
                assert!(text.contains(k["name_en"].as_str().unwrap()), "{k}");
            }
            let tables = assert_charts(b, "par agency (en)").await;
            assert!(tables.iter().all(|(_, cells)| !cells.is_empty()));
            b.screenshot("a11y-par-agency-en").await;
        }
    }
}
