//! The OpenAPI document served at `/api/v1/openapi.json` against the real server: it lists
//! exactly the routes below, it is valid OpenAPI, and every route's real answers (successes
//! and refusals: 400, 401, 403, 404, 413, 415, 421, 422, 429) carry a status the document
//! declares for that operation, with a content type it declares and a JSON body that
//! validates against the declared schema (checked by `clients/openapi_check.py`).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Parwatch, create_token, lake_with_events};

const OWN: &str = "000.00.01.H02";
const OTHER: &str = "000.00.02.H02";

/// Every route of the API: method and path as the document writes them.
const ROUTES: [(&str, &str); 35] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/sql"),
    ("get", "/api/v1/metrics"),
    ("get", "/api/v1/metrics/{name}"),
    ("get", "/api/v1/ranking"),
    ("get", "/api/v1/par-index"),
    ("get", "/api/v1/par-index/history"),
    ("get", "/api/v1/index-766"),
    ("get", "/api/v1/index-766/{agency}/lost"),
    ("get", "/api/v1/index-766/reconcile"),
    ("get", "/"),
    ("get", "/assets/{name}"),
    ("get", "/api/v1/dashboards"),
    ("get", "/api/v1/dashboards/{id}"),
    ("get", "/api/v1/dashboards/{id}/panels/{panel}"),
    ("get", "/api/v1/agencies"),
    ("get", "/api/v1/ranges"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/version"),
    ("get", "/embed/{id}"),
    ("get", "/embed/api/dashboard"),
    ("get", "/embed/api/panels/{panel}"),
    ("get", "/embed/api/version"),
    ("post", "/api/v1/embed-tokens"),
    ("delete", "/api/v1/embed-tokens/{id}"),
    ("get", "/api/v1/reports"),
    ("get", "/api/v1/reports/{id}/preview"),
    ("post", "/api/v1/reports/{id}/publish"),
    ("get", "/api/v1/reports/published"),
    ("get", "/api/v1/reports/published/{id}"),
    ("get", "/api/v1/reports/published/{id}/reproduce"),
    ("get", "/api/v1/reports/published/{id}/changes"),
];

/// A request body.
#[derive(Clone)]
enum Body {
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// The requests made and their answers, for the checker.
struct Exchanges {
    base: String,
    client: reqwest::Client,
    recorded: Vec<Value>,
    wrong: Vec<String>,
}

impl Exchanges {
    /// `method url` for the document's operation `template`, as `token`; records the answer
    /// and notes it when its status is not `expected`. Returns status and body.
    async fn call(
        &mut self,
        method: &str,
        template: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Body>,
        expected: u16,
    ) -> (u16, Vec<u8>) {
        let (status, body) = self.send(method, template, url, token, body, &[]).await;
        if status != expected {
            self.wrong.push(format!(
                "{method} {url}: {status}, expected {expected}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
        (status, body)
    }

    async fn send(
        &mut self,
        method: &str,
        template: &str,
        url: &str,
        token: Option<&str>,
        body: Option<Body>,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<u8>) {
        let method_ = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // A refusal before the body is read (413) may close the connection while a large body
        // is still being sent: the client then sees no answer, and tries again.
        let mut attempts = 0;
        let response = loop {
            let mut request = self
                .client
                .request(method_.clone(), format!("{}{url}", self.base));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request = match body.clone() {
                Some(Body::Json(v)) => request.json(&v),
                Some(Body::Raw(content_type, bytes)) => {
                    request.header("content-type", content_type).body(bytes)
                }
                None => request,
            };
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            match request.send().await {
                Ok(response) => break response,
                Err(e) if attempts < 5 && e.is_request() => attempts += 1,
                Err(e) => panic!("{method} {url}: {e}"),
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.unwrap().to_vec();
        self.recorded.push(json!({
            "method": method.to_uppercase(), "path": template, "url": url, "status": status,
            "content_type": content_type, "body": String::from_utf8_lossy(&bytes),
        }));
        (status, bytes)
    }

    /// Calls until a 429 comes (the rate is low on this server); all answers recorded.
    async fn until_429(&mut self, template: &str, url: &str, token: Option<&str>, sql: bool) {
        for _ in 0..30 {
            let body = sql.then(|| Body::Json(json!({ "sql": "SELECT 1" })));
            let method = if sql { "post" } else { "get" };
            let (status, _) = self.send(method, template, url, token, body, &[]).await;
            if status == 429 {
                return;
            }
        }
        self.wrong.push(format!("{url}: never 429"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_as_the_openapi_document_says() {
    let (tmp, _nats, _up) = lake_with_events(300).await;
    let data = tmp.path().join("data");
    let admin = create_token(&data, "admin", None);
    let analyst = create_token(&data, "analyst", None);
    let viewer = create_token(&data, "viewer", None);
    let scoped = create_token(&data, "viewer", Some(OWN));
    let scoped_admin = create_token(&data, "admin", Some(OWN));
    let burst_analyst = create_token(&data, "analyst", None);
    let burst_viewer = create_token(&data, "viewer", None);
    // Low per-token rates, so that a 429 is one burst away.
    let rates = [
        ("PARWATCH_SQL_PER_MINUTE", "5"),
        ("PARWATCH_PANELS_PER_MINUTE", "5"),
        ("PARWATCH_EMBED_TOKEN_PER_MINUTE", "5"),
    ];
    let server = Parwatch::serve_with(&data, &[], &rates).await;
    let mut x = Exchanges {
        base: server.base().to_owned(),
        client: reqwest::Client::new(),
        recorded: Vec::new(),
        wrong: Vec::new(),
    };
    let (a, v, an, s, sa) = (
        Some(admin.as_str()),
        Some(viewer.as_str()),
        Some(analyst.as_str()),
        Some(scoped.as_str()),
        Some(scoped_admin.as_str()),
    );

    // The document lists exactly the routes.
    let doc_path = "/api/v1/openapi.json";
    let (_, document) = x.call("get", doc_path, doc_path, None, None, 200).await;
    let document: Value = serde_json::from_slice(&document).unwrap();
    let listed: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        listed, routes,
        "the document's operations are not the routes"
    );

    // Health.
    x.call("get", "/healthz", "/healthz", None, None, 200).await;
    x.call("get", "/readyz", "/readyz", None, None, 200).await;
    x.call("get", "/metrics", "/metrics", None, None, 200).await;
    let foreign = [("host", "parwatch.attacker.example")];
    let (status, _) = x
        .send("get", "/healthz", "/healthz", None, None, &foreign)
        .await;
    assert_eq!(status, 421);

    // SQL.
    let sql = "/api/v1/sql";
    let query = || {
        Some(Body::Json(
            json!({ "sql": "SELECT agency_code, count(*) AS n FROM events GROUP BY 1" }),
        ))
    };
    for format in ["", "?format=csv", "?format=arrow", "?format=parquet"] {
        let url = format!("{sql}{format}");
        x.call("post", sql, &url, a, query(), 200).await;
    }
    let statement = |text: &str| Some(Body::Json(json!({ "sql": text })));
    x.call("post", sql, sql, an, statement("SELEC 1"), 400)
        .await;
    x.call("post", sql, "/api/v1/sql?format=xml", an, query(), 400)
        .await;
    let not_json = Some(Body::Raw("application/json", b"SELECT 1".to_vec()));
    x.call("post", sql, sql, an, not_json, 400).await;
    x.call("post", sql, sql, None, query(), 401).await;
    x.call("post", sql, sql, v, query(), 403).await;
    x.call("post", sql, sql, an, statement("DROP TABLE events"), 403)
        .await;
    let huge = format!("SELECT 1 {}", " ".repeat(300 * 1024));
    x.call("post", sql, sql, an, statement(&huge), 422).await;
    let too_big = format!("SELECT 1 {}", " ".repeat(1024 * 1024));
    x.call("post", sql, sql, a, statement(&too_big), 413).await;
    x.until_429(sql, sql, Some(&burst_analyst), true).await;

    // Metrics and the PAR Index.
    x.call("get", "/api/v1/metrics", "/api/v1/metrics", None, None, 200)
        .await;
    let metric = "/api/v1/metrics/{name}";
    for url in [
        "/api/v1/metrics/received".to_owned(),
        "/api/v1/metrics/on_time_rate?bucket=quarter&group_by=agency&from=2023-01-01".to_owned(),
        format!("/api/v1/metrics/received?agency={OWN}&bucket=day"),
    ] {
        x.call("get", metric, &url, v, None, 200).await;
    }
    x.call("get", metric, "/api/v1/metrics/received", s, None, 200)
        .await;
    x.call("get", metric, "/api/v1/metrics/nope", v, None, 400)
        .await;
    x.call(
        "get",
        metric,
        "/api/v1/metrics/received?bucket=fortnight",
        v,
        None,
        400,
    )
    .await;
    x.call(
        "get",
        metric,
        "/api/v1/metrics/received?from=2024-02-30",
        v,
        None,
        400,
    )
    .await;
    x.call("get", metric, "/api/v1/metrics/received", None, None, 401)
        .await;
    let other = format!("/api/v1/metrics/received?agency={OTHER}");
    x.call("get", metric, &other, s, None, 403).await;
    let ranking = "/api/v1/ranking";
    x.call(
        "get",
        ranking,
        "/api/v1/ranking?metric=on_time_rate",
        v,
        None,
        200,
    )
    .await;
    x.call(
        "get",
        ranking,
        "/api/v1/ranking?metric=on_time_rate",
        s,
        None,
        200,
    )
    .await;
    x.call("get", ranking, ranking, v, None, 400).await;
    x.call(
        "get",
        ranking,
        "/api/v1/ranking?metric=on_time_rate",
        None,
        None,
        401,
    )
    .await;
    let par = "/api/v1/par-index";
    x.call("get", par, par, v, None, 200).await;
    x.call("get", par, &format!("{par}?agency={OWN}"), s, None, 200)
        .await;
    x.call("get", par, "/api/v1/par-index?year=20x4", v, None, 400)
        .await;
    x.call("get", par, "/api/v1/par-index?year=1901", v, None, 400)
        .await;
    x.call("get", par, &format!("{par}?agency={OTHER}"), s, None, 403)
        .await;
    x.call("get", par, par, None, None, 401).await;
    let index = "/api/v1/index-766";
    x.call("get", index, index, v, None, 200).await;
    x.call(
        "get",
        index,
        &format!("{index}?period=2024-Q2&kind=department"),
        v,
        None,
        200,
    )
    .await;
    x.call(
        "get",
        index,
        &format!("{index}?period=2024-04&agency={OWN}"),
        s,
        None,
        200,
    )
    .await;
    x.call(
        "get",
        index,
        &format!("{index}?period=2025-13"),
        v,
        None,
        400,
    )
    .await;
    x.call(
        "get",
        index,
        &format!("{index}?agency={OTHER}"),
        s,
        None,
        403,
    )
    .await;
    x.call("get", index, index, None, None, 401).await;
    let lost = "/api/v1/index-766/{agency}/lost";
    let own_lost = format!("/api/v1/index-766/{OWN}/lost?period=2024-04");
    x.call("get", lost, &own_lost, s, None, 200).await;
    x.call("get", lost, &format!("{own_lost}&format=csv"), v, None, 200)
        .await;
    x.call("get", lost, &format!("{own_lost}&limit=0"), v, None, 400)
        .await;
    let other_lost = format!("/api/v1/index-766/{OTHER}/lost?period=2024-04");
    x.call("get", lost, &other_lost, s, None, 403).await;
    let unknown = "/api/v1/index-766/000.00.99.H02/lost?period=2024-04";
    x.call("get", lost, unknown, v, None, 404).await;
    x.call("get", lost, &own_lost, None, None, 401).await;
    let reconcile = "/api/v1/index-766/reconcile";
    let april = format!("{reconcile}?period=2024-04");
    x.call("get", reconcile, &april, v, None, 404).await;
    let portal = format!("period,agency_code,indicator,points\n2024-04,{OWN},total,80\n");
    let (imported, log) = crate::index_766_reconcile::import(&data, &portal, "portal.csv");
    assert!(imported, "{log}");
    x.call("get", reconcile, &april, v, None, 200).await;
    x.call("get", reconcile, &april, s, None, 200).await;
    x.call(
        "get",
        reconcile,
        &format!("{reconcile}?period=2024-Q2"),
        v,
        None,
        400,
    )
    .await;
    x.call(
        "get",
        reconcile,
        &format!("{april}&agency={OTHER}"),
        s,
        None,
        403,
    )
    .await;
    x.call("get", reconcile, &april, None, None, 401).await;
    let history = "/api/v1/par-index/history";
    x.call(
        "get",
        history,
        &format!("{history}?agency={OWN}"),
        v,
        None,
        200,
    )
    .await;
    x.call("get", history, history, v, None, 400).await;
    x.call(
        "get",
        history,
        &format!("{history}?agency={OTHER}"),
        s,
        None,
        403,
    )
    .await;
    x.call("get", history, history, None, None, 401).await;

    // Periodic reports.
    let reports = "/api/v1/reports";
    x.call("get", reports, reports, v, None, 200).await;
    x.call("get", reports, reports, None, None, 401).await;
    let preview = "/api/v1/reports/{id}/preview";
    for url in [
        "/api/v1/reports/province/preview?period=2024-Q1",
        "/api/v1/reports/province/preview?period=2024-Q1&format=xlsx",
        "/api/v1/reports/province/preview?period=2024&format=pdf&lang=en",
    ] {
        x.call("get", preview, url, v, None, 200).await;
    }
    x.call(
        "get",
        preview,
        "/api/v1/reports/province/preview?period=2024-Q9",
        v,
        None,
        400,
    )
    .await;
    x.call(
        "get",
        preview,
        "/api/v1/reports/province/preview?period=2024",
        s,
        None,
        403,
    )
    .await;
    x.call(
        "get",
        preview,
        "/api/v1/reports/nope/preview?period=2024",
        v,
        None,
        404,
    )
    .await;
    let publish = "/api/v1/reports/{id}/publish";
    let province_q1 = "/api/v1/reports/province/publish?period=2024-Q1";
    let (_, summary) = x.call("post", publish, province_q1, a, None, 201).await;
    let published_id = serde_json::from_slice::<Value>(&summary).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    x.call("post", publish, province_q1, v, None, 403).await;
    x.call(
        "post",
        publish,
        "/api/v1/reports/department/publish?period=2024",
        a,
        None,
        400,
    )
    .await;
    let own_q1 = format!("/api/v1/reports/department/publish?period=2024-Q1&agency={OTHER}");
    x.call("post", publish, &own_q1, sa, None, 403).await;
    let listed = "/api/v1/reports/published";
    x.call("get", listed, listed, v, None, 200).await;
    x.call(
        "get",
        listed,
        "/api/v1/reports/published?report=province",
        s,
        None,
        200,
    )
    .await;
    let one = "/api/v1/reports/published/{id}";
    for format in ["", "?format=xlsx", "?format=pdf"] {
        let url = format!("/api/v1/reports/published/{published_id}{format}");
        x.call("get", one, &url, v, None, 200).await;
    }
    let url = format!("/api/v1/reports/published/{published_id}?format=doc");
    x.call("get", one, &url, v, None, 400).await;
    let url = format!("/api/v1/reports/published/{published_id}");
    x.call("get", one, &url, s, None, 404).await;
    let reproduce = "/api/v1/reports/published/{id}/reproduce";
    let url = format!("/api/v1/reports/published/{published_id}/reproduce");
    x.call("get", reproduce, &url, v, None, 200).await;
    x.call(
        "get",
        reproduce,
        "/api/v1/reports/published/nope/reproduce",
        v,
        None,
        404,
    )
    .await;
    let changes = "/api/v1/reports/published/{id}/changes";
    let url = format!("/api/v1/reports/published/{published_id}/changes");
    x.call("get", changes, &url, v, None, 200).await;
    x.call("get", changes, &url, s, None, 404).await;

    // The pages and what they read.
    x.call("get", "/", "/", None, None, 200).await;
    x.call("get", "/assets/{name}", "/assets/app.js", None, None, 200)
        .await;
    x.call("get", "/assets/{name}", "/assets/app.css", None, None, 200)
        .await;
    x.call("get", "/assets/{name}", "/assets/nope.js", None, None, 404)
        .await;
    let list = "/api/v1/dashboards";
    x.call("get", list, list, v, None, 200).await;
    x.call("get", list, list, None, None, 401).await;
    let one = "/api/v1/dashboards/{id}";
    x.call("get", one, "/api/v1/dashboards/province", v, None, 200)
        .await;
    x.call("get", one, "/api/v1/dashboards/nope", v, None, 404)
        .await;
    x.call("get", one, "/api/v1/dashboards/province", None, None, 401)
        .await;
    let panel = "/api/v1/dashboards/{id}/panels/{panel}";
    let p = |rest: &str| format!("/api/v1/dashboards/{rest}");
    // A stat, series compared, a ranking, a SQL panel (JSON), each chart's CSV.
    x.call("get", panel, &p("province/panels/received"), v, None, 200)
        .await;
    let compared = format!("province/panels/online-trend?compare={OWN},{OTHER}&bucket=quarter");
    x.call("get", panel, &p(&compared), v, None, 200).await;
    x.call(
        "get",
        panel,
        &p("province/panels/on-time-ranking"),
        v,
        None,
        200,
    )
    .await;
    x.call("get", panel, &p("quality/panels/stored"), v, None, 200)
        .await;
    x.call(
        "get",
        panel,
        &p("province/panels/received?format=csv"),
        a,
        None,
        200,
    )
    .await;
    x.call(
        "get",
        panel,
        &p("quality/panels/stored?format=csv"),
        a,
        None,
        200,
    )
    .await;
    let own_stat = format!("agency/panels/received?agency={OWN}");
    x.call("get", panel, &p(&own_stat), s, None, 200).await;
    x.call("get", panel, &p("agency/panels/received"), a, None, 400)
        .await;
    x.call(
        "get",
        panel,
        &p("province/panels/received?format=xml"),
        an,
        None,
        400,
    )
    .await;
    x.call("get", panel, &p("province/panels/nope"), an, None, 404)
        .await;
    x.call(
        "get",
        panel,
        &p("province/panels/received"),
        None,
        None,
        401,
    )
    .await;
    let other_stat = format!("agency/panels/received?agency={OTHER}");
    x.call("get", panel, &p(&other_stat), s, None, 403).await;
    x.until_429(
        panel,
        &p("province/panels/received"),
        Some(&burst_viewer),
        false,
    )
    .await;
    let agencies = "/api/v1/agencies";
    x.call("get", agencies, agencies, v, None, 200).await;
    x.call("get", agencies, agencies, s, None, 200).await;
    x.call("get", agencies, agencies, None, None, 401).await;
    let ranges = "/api/v1/ranges";
    x.call("get", ranges, ranges, None, None, 200).await;
    let status = "/api/v1/status";
    x.call("get", status, status, v, None, 200).await;
    x.call("get", status, status, s, None, 403).await;
    x.call("get", status, status, None, None, 401).await;
    let version = "/api/v1/version";
    x.call("get", version, version, v, None, 200).await;
    x.call("get", version, version, s, None, 200).await;
    x.call("get", version, version, None, None, 401).await;

    // Embed tokens.
    let mint = "/api/v1/embed-tokens";
    let asking = |body: Value| Some(Body::Json(body));
    let minted = |bytes: Vec<u8>| -> Value { serde_json::from_slice(&bytes).unwrap() };
    let (_, province) = x
        .call(
            "post",
            mint,
            mint,
            a,
            asking(json!({ "dashboard": "province" })),
            200,
        )
        .await;
    let province = minted(province)["token"].as_str().unwrap().to_owned();
    let (_, burst) = x
        .call(
            "post",
            mint,
            mint,
            a,
            asking(json!({ "dashboard": "province", "ttl": "2h" })),
            200,
        )
        .await;
    let burst = minted(burst);
    let (_, gone) = x
        .call(
            "post",
            mint,
            mint,
            sa,
            asking(json!({ "dashboard": "agency" })),
            200,
        )
        .await;
    let gone = minted(gone)["id"].as_str().unwrap().to_owned();
    x.call(
        "post",
        mint,
        mint,
        a,
        asking(json!({ "dashboard": "nope" })),
        400,
    )
    .await;
    x.call(
        "post",
        mint,
        mint,
        a,
        asking(json!({ "dashboard": "province", "ttl": "soon" })),
        400,
    )
    .await;
    let foreign_lock = json!({ "dashboard": "agency", "agency": OTHER });
    x.call("post", mint, mint, sa, asking(foreign_lock), 403)
        .await;
    x.call(
        "post",
        mint,
        mint,
        v,
        asking(json!({ "dashboard": "province" })),
        403,
    )
    .await;
    x.call(
        "post",
        mint,
        mint,
        None,
        asking(json!({ "dashboard": "province" })),
        401,
    )
    .await;
    let text = Some(Body::Raw(
        "text/plain",
        br#"{"dashboard":"province"}"#.to_vec(),
    ));
    x.call("post", mint, mint, a, text, 415).await;
    let padded = format!(
        r#"{{"dashboard":"province","ttl":"{}"}}"#,
        "1".repeat(17 * 1024)
    );
    let padded = Some(Body::Raw("application/json", padded.into_bytes()));
    x.call("post", mint, mint, a, padded, 413).await;
    let revoke = "/api/v1/embed-tokens/{id}";
    x.call("delete", revoke, &format!("{mint}/{gone}"), a, None, 200)
        .await;
    x.call("delete", revoke, &format!("{mint}/{gone}"), sa, None, 403)
        .await;
    x.call(
        "delete",
        revoke,
        &format!("{mint}/not%20an%20id"),
        a,
        None,
        400,
    )
    .await;
    x.call("delete", revoke, &format!("{mint}/{gone}"), None, None, 401)
        .await;

    // Embedding.
    let page = "/embed/{id}";
    let t = format!("token={province}");
    x.call(
        "get",
        page,
        &format!("/embed/province?{t}"),
        None,
        None,
        200,
    )
    .await;
    x.call("get", page, "/embed/province", None, None, 401)
        .await;
    x.call("get", page, &format!("/embed/agency?{t}"), None, None, 403)
        .await;
    x.call(
        "get",
        page,
        "/embed/province?token=a&token=b",
        None,
        None,
        400,
    )
    .await;
    let definition = "/embed/api/dashboard";
    x.call(
        "get",
        definition,
        &format!("{definition}?{t}"),
        None,
        None,
        200,
    )
    .await;
    x.call("get", definition, definition, None, None, 401).await;
    let embed_panel = "/embed/api/panels/{panel}";
    let e = |rest: &str| format!("/embed/api/panels/{rest}");
    x.call(
        "get",
        embed_panel,
        &e(&format!("received?{t}")),
        None,
        None,
        200,
    )
    .await;
    x.call(
        "get",
        embed_panel,
        &e(&format!("on-time-trend?{t}&format=csv")),
        None,
        None,
        200,
    )
    .await;
    x.call(
        "get",
        embed_panel,
        &e(&format!("received?{t}&from=yesterday")),
        None,
        None,
        400,
    )
    .await;
    x.call(
        "get",
        embed_panel,
        &e(&format!("received?{t}&agency={OTHER}")),
        None,
        None,
        403,
    )
    .await;
    x.call(
        "get",
        embed_panel,
        &e(&format!("nope?{t}")),
        None,
        None,
        404,
    )
    .await;
    x.call("get", embed_panel, &e("received"), None, None, 401)
        .await;
    let burst_url = e(&format!(
        "received?token={}",
        burst["token"].as_str().unwrap()
    ));
    x.until_429(embed_panel, &burst_url, None, false).await;
    let embed_version = "/embed/api/version";
    x.call(
        "get",
        embed_version,
        &format!("{embed_version}?{t}"),
        None,
        None,
        200,
    )
    .await;
    x.call("get", embed_version, embed_version, None, None, 401)
        .await;

    assert!(
        x.wrong.is_empty(),
        "unexpected statuses:\n{}",
        x.wrong.join("\n")
    );

    // Every answer against the document.
    let dir = tempfile::tempdir().unwrap();
    let doc_file = dir.path().join("openapi.json");
    let exchanges_file = dir.path().join("exchanges.json");
    std::fs::write(&doc_file, serde_json::to_vec(&document).unwrap()).unwrap();
    std::fs::write(&exchanges_file, serde_json::to_vec(&x.recorded).unwrap()).unwrap();
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/e2e/clients/openapi_check.py"
    );
    let out = Command::new(&python)
        .args([
            script,
            doc_file.to_str().unwrap(),
            exchanges_file.to_str().unwrap(),
        ])
        .output()
        .expect("python with jsonschema and openapi-spec-validator (tests/run.sh installs them)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "answers that the document does not describe:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
