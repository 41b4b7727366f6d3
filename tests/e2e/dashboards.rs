//! Dashboards as code and embedding over HTTP: a bad file stops the server with its name, a
//! changed file is picked up without a restart, and an embed token's dashboard and agency are
//! enforced by the server on every request an embed makes (data, CSV, refresh).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{
    LocalNats, PORTAL, Parwatch, create_token, embed_token, free_port, get, get_json, publish,
    repo_dashboards, valid_messages, web_args,
};

/// A copy of the repository's dashboards in `dir`.
fn copy_dashboards(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir(repo_dashboards()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// A local NATS under `dir` holding 3,000 valid events, and `parwatch up` with the repository's
/// dashboards and embedding, once it has stored them all (its data in `dir/data`).
async fn up_with_3000_events(dir: &Path) -> (LocalNats, Parwatch) {
    let nats = LocalNats::start(&dir.join("nats")).unwrap();
    publish(&nats.url(), valid_messages(0..3_000, false)).await;
    let args = web_args(&repo_dashboards());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let parwatch = Parwatch::up(&nats.url(), &dir.join("data"), &args).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(3000),
            Duration::from_secs(30),
        )
        .await;
    (nats, parwatch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_dashboard_file_stops_the_server_naming_file_and_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dashboards");
    let good = r#"
title = { vi = "Thử", en = "Test" }
default_range = "90d"
agency = "optional"

[[panels]]
id = "x"
title = { vi = "X", en = "X" }
"#;
    let cases = [
        (
            "metric = \"online_uptak\"\nchart = \"stat\"\n",
            "broken.toml: panel \"x\": unknown metric \"online_uptak\"",
        ),
        (
            "metric = \"online_uptake\"\nchart = \"line\"\ntarget = \"≥ 180%\"\n",
            "broken.toml: panel \"x\": target \"≥ 180%\": a share cannot exceed 100%",
        ),
        (
            "metric = \"received\"\nchart = \"bar\"\nbucket = \"fortnight\"\n",
            "broken.toml: panel \"x\": bucket \"fortnight\"",
        ),
        (
            "sql = \"SELECT nope FROM events WHERE agency_code = $agency\"\nchart = \"table\"\n",
            "broken.toml: panel \"x\": sql: ",
        ),
        (
            "sql = \"SELECT count(*) FROM events\"\nchart = \"table\"\n",
            "broken.toml: panel \"x\": sql: this dashboard can be narrowed to one agency, so its SQL must use $agency",
        ),
        (
            "sql = \"DROP TABLE events\"\nchart = \"table\"\n",
            "only read-only queries",
        ),
    ];
    for (panel, expected) in cases {
        copy_dashboards(&dir);
        std::fs::write(dir.join("broken.toml"), format!("{good}{panel}")).unwrap();
        let http = format!("127.0.0.1:{}", free_port());
        let mut serve = Parwatch::spawn(
            &[
                "serve",
                "--data-dir",
                tmp.path().join("data").to_str().unwrap(),
                "--http",
                &http,
                "--dashboards",
                dir.to_str().unwrap(),
            ],
            &[],
            tmp.path(),
            "serve",
        );
        let status = serve.wait_exit(Duration::from_secs(30));
        let log = serve.log_text();
        assert!(!status.success(), "started despite {panel}:\n{log}");
        assert!(log.contains(expected), "{expected}\nnot in:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_files_are_picked_up_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dashboards");
    copy_dashboards(&dir);
    let serve = Parwatch::serve_with(
        &tmp.path().join("data"),
        &["--open", "--dashboards", dir.to_str().unwrap()],
        &[],
    )
    .await;
    let base = serve.base();
    let ids = |v: &Value| -> Vec<String> {
        v["dashboards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, list) = get_json(&format!("{base}/api/v1/dashboards")).await;
    assert_eq!(ids(&list), ["province", "agency", "quality"], "by order");

    let extra = r#"
title = { vi = "Bưu chính công ích", en = "Public postal service" }
default_range = "12m"
order = 5

[[panels]]
id = "postal"
title = { vi = "Qua bưu chính công ích", en = "Postal share" }
metric = "postal_share"
chart = "line"
target = "≥ 3%"
"#;
    std::fs::write(dir.join("postal.toml"), extra).unwrap();
    let (_, list) = get_json(&format!("{base}/api/v1/dashboards")).await;
    assert_eq!(ids(&list), ["province", "agency", "quality", "postal"]);
    let (status, postal) = get_json(&format!("{base}/api/v1/dashboards/postal")).await;
    assert_eq!(status, 200);
    assert_eq!(
        postal["panels"][0]["target"],
        json!({"op": ">=", "value": 0.03})
    );

    // A mistake while running: the last good definitions stay, and the error is reported.
    std::fs::write(
        dir.join("postal.toml"),
        extra.replace("postal_share", "postal_shar"),
    )
    .unwrap();
    let (_, list) = get_json(&format!("{base}/api/v1/dashboards")).await;
    assert_eq!(ids(&list).len(), 4);
    let error = list["error"].as_str().unwrap();
    assert!(
        error.contains("postal.toml: panel \"postal\": unknown metric \"postal_shar\""),
        "{error}"
    );
    std::fs::remove_file(dir.join("postal.toml")).unwrap();
    let (_, list) = get_json(&format!("{base}/api/v1/dashboards")).await;
    assert_eq!(ids(&list), ["province", "agency", "quality"]);
    assert_eq!(list["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeds_are_locked_on_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nats, parwatch) = up_with_3000_events(tmp.path()).await;
    let data = tmp.path().join("data");
    let dashboards = repo_dashboards();
    let base = parwatch.base().to_owned();
    let range = "from=2024-04-01&to=2024-04-30";
    let (agency, other) = ("000.00.03.H02", "000.00.04.H02");

    let token = embed_token(
        &data,
        &dashboards,
        &["--dashboard", "province", "--agency", agency, "--ttl", "1h"],
    )
    .unwrap();
    let embed = |path: &str, extra: &str| format!("{base}/embed/api/{path}?token={token}&{extra}");

    // The embed's numbers are the agency's, the same the app shows for that agency.
    let (status, locked) = get_json(&embed("panels/online", range)).await;
    assert_eq!(status, 200, "{locked}");
    assert_eq!(locked["agency"], agency);
    let (_, app) = get_json(&format!(
        "{base}/api/v1/dashboards/province/panels/online?{range}&agency={agency}"
    ))
    .await;
    assert_eq!(locked["value"], app["value"]);
    let (_, province) = get_json(&format!(
        "{base}/api/v1/dashboards/province/panels/online?{range}"
    ))
    .await;
    assert_ne!(
        locked["value"], province["value"],
        "narrowed, not province-wide"
    );
    let (_, series) = get_json(&format!(
        "{base}/api/v1/metrics/online_uptake?{range}&bucket=month&agency={agency}"
    ))
    .await;
    assert_eq!(
        locked["value"]["numerator"], series["series"][0]["points"][0]["numerator"],
        "the embed agrees with api-v1"
    );

    // Another agency, a comparison, or another dashboard cannot be asked for.
    for (url, status, word) in [
        (
            embed("panels/online", &format!("{range}&agency={other}")),
            403,
            "locked to agency 000.00.03.H02",
        ),
        (
            embed("panels/online-trend", &format!("{range}&compare={other}")),
            403,
            "cannot compare",
        ),
        (embed("panels/stored", range), 404, "no panel"),
    ] {
        let (got, body) = get_json(&url).await;
        assert_eq!(got, status, "{url}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{url}: {body}"
        );
    }
    // The CSV download is locked too: every row is the agency's.
    let (status, headers, csv) = get(&embed(
        "panels/online-trend",
        &format!("{range}&format=csv"),
    ))
    .await;
    assert_eq!(status, 200, "{csv}");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("province-online-trend-2024-04-01-2024-04-30.csv")
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "period,from,to,agency_code,rank,value,numerator,denominator,change"
    );
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.contains(agency)), "{csv}");
    // A ranking shows the agency's own place only.
    let (_, ranking) = get_json(&embed("panels/on-time-ranking", range)).await;
    assert_eq!(ranking["rows"].as_array().unwrap().len(), 1);
    assert_eq!(ranking["rows"][0]["agency_code"], agency);
    assert_eq!(ranking["ranked"], 7);
    // The refresh check answers with an opaque version: it changes with the data and does
    // not tell the province's event count (the app's unscoped viewers get the count).
    let (status, refresh) = get_json(&embed("version", "")).await;
    assert_eq!(status, 200);
    assert_eq!(
        refresh["version"].as_str().map(str::len),
        Some(16),
        "{refresh}"
    );
    assert_eq!(get_json(&embed("version", "")).await.1, refresh);
    assert_eq!(
        get_json(&format!("{base}/api/v1/version")).await.1["version"],
        3000
    );
    let (status, _) = get_json(&format!("{base}/embed/api/version?token=")).await;
    assert_eq!(status, 401);

    // Missing, tampered and forged tokens are refused on data and page alike.
    let mut tampered = token.clone().into_bytes();
    let middle = token.find('.').unwrap() + 5;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in ["", tampered.as_str(), "not.a.token"] {
        let (status, body) = get_json(&format!(
            "{base}/embed/api/panels/online?token={bad}&{range}"
        ))
        .await;
        assert_eq!(status, 401, "{bad}: {body}");
        let (status, _, page) = get(&format!("{base}/embed/province?token={bad}")).await;
        assert_eq!(status, 401);
        assert!(page.contains("\"mode\":\"refused\""), "{page}");
    }
    // A token is for its own dashboard.
    let (status, _, page) = get(&format!("{base}/embed/agency?token={token}")).await;
    assert_eq!(status, 403, "{page}");

    // A good token renders the page, framable by the configured portal only.
    let (status, headers, page) = get(&format!("{base}/embed/province?token={token}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("\"mode\":\"embed\""));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("frame-ancestors 'self' {PORTAL}")),
        "{csp}"
    );
    let (_, headers, _) = get(&format!("{base}/")).await;
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'self'") && !csp.contains(PORTAL),
        "{csp}"
    );

    // Expired tokens are refused with their own message.
    let short = embed_token(
        &data,
        &dashboards,
        &["--dashboard", "province", "--ttl", "1s"],
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = get_json(&format!("{base}/embed/api/dashboard?token={short}")).await;
    assert_eq!(status, 401);
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // The command line refuses what an embed could not show.
    for (args, word) in [
        (vec!["--dashboard", "nope"], "no dashboard \"nope\""),
        (
            vec!["--dashboard", "quality", "--agency", agency],
            "cannot be locked to an agency",
        ),
        (vec!["--dashboard", "agency"], "shows one agency"),
        (vec!["--dashboard", "province", "--ttl", "soon"], "--ttl"),
    ] {
        let error = embed_token(&data, &dashboards, &args).unwrap_err();
        assert!(error.contains(word), "{args:?}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_answer_like_the_api_and_sql() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nats, parwatch) = up_with_3000_events(tmp.path()).await;
    let base = parwatch.base();
    let panel = |dashboard: &str, panel: &str, query: &str| {
        format!("{base}/api/v1/dashboards/{dashboard}/panels/{panel}?{query}")
    };

    // A stat over a range that is not a whole bucket: the sum of the daily points.
    let range = "from=2024-04-01&to=2024-04-02";
    let (status, stat) = get_json(&panel("province", "received", range)).await;
    assert_eq!(status, 200, "{stat}");
    let (_, days) = get_json(&format!(
        "{base}/api/v1/metrics/received?{range}&bucket=day"
    ))
    .await;
    let sum: i64 = days["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["numerator"].as_i64().unwrap())
        .sum();
    assert_eq!(stat["value"]["numerator"], sum);
    assert_eq!(stat["previous"]["from"], "2024-03-30");
    assert_eq!(stat["previous"]["to"], "2024-03-31");
    let (_, online) = get_json(&panel("province", "online", range)).await;
    assert_eq!(online["target"], json!({"op": ">=", "value": 0.8}));
    let value = online["value"]["value"].as_f64().unwrap();
    assert_eq!(online["target_met"], value >= 0.8);

    // Comparing agencies adds one series each after the province's.
    let (_, chart) = get_json(&panel(
        "province",
        "online-trend",
        "from=2024-04-01&to=2024-04-03&bucket=day&compare=000.00.01.H02,000.00.02.H02",
    ))
    .await;
    let groups: Vec<&Value> = chart["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["agency_code"])
        .collect();
    assert_eq!(
        groups,
        [
            &Value::Null,
            &json!("000.00.01.H02"),
            &json!("000.00.02.H02")
        ]
    );
    assert_eq!(chart["series"][1]["points"].as_array().unwrap().len(), 3);

    // An SQL panel binds the range as values: the same as the query written out by hand.
    let (status, stored) = get_json(&panel(
        "quality",
        "stored",
        "from=2024-04-01&to=2024-04-02&bucket=day",
    ))
    .await;
    assert_eq!(status, 200, "{stored}");
    let by_hand = parwatch
        .sql("SELECT CAST(event_date AS VARCHAR), count(*) FROM events \
              WHERE event_date BETWEEN DATE '2024-04-01' AND DATE '2024-04-02' GROUP BY 1 ORDER BY 1")
        .await;
    assert_eq!(stored["rows"], by_hand["rows"]);

    let (_, openapi) = get_json(&format!("{base}/api/v1/openapi.json")).await;
    for path in [
        "/api/v1/dashboards/{id}/panels/{panel}",
        "/api/v1/status",
        "/api/v1/version",
        "/embed/{id}",
        "/embed/api/panels/{panel}",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
    }

    // Mistakes are 4xx with a message.
    for (url, status, word) in [
        (panel("province", "nope", range), 404, "no panel"),
        (panel("nope", "received", range), 404, "no dashboard"),
        (
            panel("province", "received", "from=2024-04-31"),
            400,
            "2024-04-31",
        ),
        (
            panel("province", "online-trend", "bucket=fortnight"),
            400,
            "fortnight",
        ),
        (
            panel("province", "received", "compare=000.00.01.H02"),
            400,
            "compare",
        ),
        (
            panel("quality", "stored", "agency=000.00.01.H02"),
            400,
            "cannot be narrowed",
        ),
        (panel("agency", "received", range), 400, "agency=CODE"),
        (panel("province", "received", "format=xml"), 400, "xml"),
    ] {
        let (got, body) = get_json(&url).await;
        assert_eq!(got, status, "{url}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{url}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agency_names_come_from_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    // The default place: <data-dir>/agencies.csv. A name with a comma is quoted.
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (own, other, unnamed) = ("000.00.03.H02", "000.00.04.H02", "000.00.05.H02");
    std::fs::write(
        data.join("agencies.csv"),
        format!("agency_code,name\n{own},Sở Tư pháp\n{other},\"Sở Nông nghiệp, Môi trường\"\n"),
    )
    .unwrap();
    let (_nats, parwatch) = up_with_3000_events(tmp.path()).await;
    let base = parwatch.base().to_owned();

    // The web UI's agency list names those the directory names, and only those.
    let (status, listed) = get_json(&format!("{base}/api/v1/agencies")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["agencies"].as_array().unwrap().len(), 7, "{listed}");
    assert_eq!(listed["names"][own], "Sở Tư pháp");
    assert_eq!(listed["names"][other], "Sở Nông nghiệp, Môi trường");
    assert!(listed["names"].get(unnamed).is_none(), "{listed}");

    // SQL joins events to names.
    let named = parwatch
        .sql(&format!(
            "SELECT e.agency_code, a.name, count(*) AS n FROM events e \
             LEFT JOIN agencies a USING (agency_code) \
             WHERE e.agency_code IN ('{own}', '{unnamed}') GROUP BY 1, 2 ORDER BY 1"
        ))
        .await;
    let rows = named["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{named}");
    assert_eq!(rows[0][1], "Sở Tư pháp");
    assert_eq!(rows[1][1], Value::Null);
    assert_eq!(
        parwatch
            .scalar(&format!(
                "SELECT count(*) FROM events WHERE agency_code = '{own}'"
            ))
            .await,
        rows[0][2]
    );

    // An embed locked to an agency carries its name only.
    let token = embed_token(
        &data,
        &repo_dashboards(),
        &["--dashboard", "province", "--agency", own, "--ttl", "1h"],
    )
    .unwrap();
    let (status, _, page) = get(&format!("{base}/embed/province?token={token}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Sở Tư pháp"), "{page}");
    assert!(!page.contains("Nông nghiệp"), "{page}");

    // An agency's token sees its own row of the directory.
    let scoped = create_token(&data, "analyst", Some(own));
    let answer = parwatch
        .post_sql(
            Some(&scoped),
            "SELECT agency_code, name FROM agencies",
            None,
        )
        .await;
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["rows"], json!([[own, "Sở Tư pháp"]]), "{answer}");

    // A broken directory stops the start with its line.
    let broken = tmp.path().join("broken.csv");
    std::fs::write(&broken, format!("agency_code,name\n{own},A\n{own},B\n")).unwrap();
    let mut serve = Parwatch::spawn(
        &["serve", "--data-dir", data.to_str().unwrap(), "--no-pg"],
        &[
            ("PARWATCH_HTTP", &format!("127.0.0.1:{}", free_port())),
            ("PARWATCH_AGENCIES", broken.to_str().unwrap()),
        ],
        tmp.path(),
        "serve-broken-directory",
    );
    assert!(!serve.wait_exit(Duration::from_secs(30)).success());
    let log = serve.log_text();
    assert!(
        log.contains("broken.csv: line 3: agency 000.00.03.H02 appears twice"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fills_the_lake_and_names_its_agencies() {
    let tmp = tempfile::tempdir().unwrap();
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let data = tmp.path().join("data");
    let parwatch = Parwatch::up(
        &nats.url(),
        &data,
        &["--demo", "--demo-scale", "1", "--demo-rate", "5"],
    )
    .await;
    assert!(data.join("agencies.csv").exists());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let (status, listed) = get_json(&format!("{}/api/v1/agencies", parwatch.base())).await;
        assert_eq!(status, 200, "{listed}");
        let codes = listed["agencies"].as_array().unwrap();
        // Two years of history reach most of the province's agencies.
        if codes.len() >= 20 {
            break listed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "demo history not in: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for code in listed["agencies"].as_array().unwrap() {
        let name = &listed["names"][code.as_str().unwrap()];
        assert!(
            name.as_str().is_some_and(|n| !n.is_empty()),
            "{code} unnamed: {listed}"
        );
    }
}
