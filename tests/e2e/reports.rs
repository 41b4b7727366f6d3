//! Periodic reports end to end: a quarter of dossiers published to JetStream and ingested by
//! the real binary; the province and a department report published over HTTP on one node and
//! seen on a second node over the same lake and by the CLI; scoped tokens see their agency's
//! reports only; late events restate the quarter, and the published report still reproduces
//! byte for byte while `changes` names the late events and their dossiers; the XLSX export
//! is a workbook of number cells, one sheet per table.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use parwatch_proto::Channel;
use parwatch_proto::testing::TestEvent;
use serde_json::{Value, json};

use crate::harness::{LocalNats, Outgoing, Parwatch, create_token, publish};

const A: &str = "000.00.16.H02";
const B: &str = "000.00.17.H02";

/// Dossier events: received on `day` through `channel` (due ten days later at 17:00), then
/// resolved on `resolved`, late on `late`.
fn dossier(
    n: &mut usize,
    agency: &str,
    id: &str,
    channel: Channel,
    day: &str,
    resolved: Option<&str>,
    late: Option<&str>,
) -> Vec<Outgoing> {
    let due = format!("{day}T17:00:00+07:00")
        .parse::<chrono::DateTime<chrono::FixedOffset>>()
        .unwrap()
        + chrono::Days::new(10);
    let due = due.to_rfc3339();
    let mut received = TestEvent::received(channel).due(due.as_str());
    if channel == Channel::Online {
        received = received.online_mode(parwatch_proto::ServiceMode::Full);
    }
    let mut out = vec![message(n, agency, id, day, received)];
    if let Some(late) = late {
        out.push(message(
            n,
            agency,
            id,
            late,
            TestEvent::late().due(due.as_str()),
        ));
    }
    if let Some(resolved) = resolved {
        let event = TestEvent::resolved(parwatch_proto::Outcome::Approved).digitized(true);
        out.push(message(n, agency, id, resolved, event));
    }
    out
}

fn message(n: &mut usize, agency: &str, dossier: &str, day: &str, event: TestEvent) -> Outgoing {
    *n += 1;
    let id = format!("rep-{n:04}");
    let at = format!("{day}T09:00:00+07:00");
    let event = event
        .id(&id)
        .at(at.as_str())
        .source("e2e")
        .agency(agency)
        .dossier(dossier);
    Outgoing::event(&event).with_msg_id(id)
}

/// Q1 2024: A receives 2 (one online, resolved late), B 1.
fn quarter(n: &mut usize) -> Vec<Outgoing> {
    let mut out = dossier(
        n,
        A,
        "HS-A1",
        Channel::Counter,
        "2024-01-10",
        Some("2024-01-15"),
        None,
    );
    out.extend(dossier(
        n,
        A,
        "HS-A2",
        Channel::Online,
        "2024-02-05",
        Some("2024-02-28"),
        Some("2024-02-16"),
    ));
    out.extend(dossier(
        n,
        B,
        "HS-B1",
        Channel::Postal,
        "2024-03-04",
        Some("2024-03-06"),
        None,
    ));
    out
}

/// Ingested after publication: A's apology for HS-A2, and a March dossier of A that reached
/// ParWatch late.
fn late(n: &mut usize) -> Vec<Outgoing> {
    let mut out = vec![message(n, A, "HS-A2", "2024-04-03", TestEvent::apology())];
    out.extend(dossier(
        n,
        A,
        "HS-A3",
        Channel::Online,
        "2024-03-29",
        None,
        None,
    ));
    out
}

async fn request(
    node: &Parwatch,
    method: reqwest::Method,
    token: Option<&str>,
    path: &str,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", node.base()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ids(list: &Value) -> Vec<String> {
    list["published"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .args(["report", "--data-dir", data.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_publish_reproduce_and_explain_across_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let mut n = 0;
    let first = quarter(&mut n);
    let count = first.len();
    assert_eq!(publish(&nats.url(), first).await, count);
    let up = Parwatch::up(&nats.url(), &data, &[]).await;
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(count),
        Duration::from_secs(30),
    )
    .await;
    let admin = create_token(&data, "admin", None);
    let own = create_token(&data, "viewer", Some(A));
    let other = create_token(&data, "viewer", Some(B));
    let second = Parwatch::serve(&data).await;
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // The definitions, and a preview's figures.
    let (status, list) = request(&second, get.clone(), Some(&own), "/api/v1/reports").await;
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["department", "province", "public"]);
    assert_eq!(list["reports"][2]["min_dossiers"], 5);
    assert_eq!(list["reports"][1]["public"], false);
    let (status, preview) = request(
        &up,
        get.clone(),
        None,
        "/api/v1/reports/province/preview?period=2024-Q1",
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["figures"]["received"]["value"], json!(3.0));
    assert_eq!(preview["figures"]["late"]["value"], json!(1.0));
    let (status, err) = request(
        &up,
        get.clone(),
        None,
        "/api/v1/reports/province/preview?period=2024-Q5",
    )
    .await;
    assert_eq!(status, 400, "{err}");

    // Publishing: admins only; a scoped viewer cannot see a province report.
    let (status, err) = request(
        &second,
        post.clone(),
        Some(&own),
        "/api/v1/reports/province/publish?period=2024-Q1",
    )
    .await;
    assert_eq!(status, 403, "{err}");
    let (status, province) = request(
        &second,
        post.clone(),
        Some(&admin),
        "/api/v1/reports/province/publish?period=2024-Q1",
    )
    .await;
    assert_eq!(status, 201, "{province}");
    let province_id = province["id"].as_str().unwrap().to_owned();
    let (status, department) = request(
        &up,
        post.clone(),
        None,
        &format!("/api/v1/reports/department/publish?period=2024-Q1&agency={A}"),
    )
    .await;
    assert_eq!(status, 201, "{department}");
    let department_id = department["id"].as_str().unwrap().to_owned();
    assert_eq!(province["lake_version"], department["lake_version"]);

    // Both nodes and the CLI see both; scoped tokens see their agency's only.
    let (_, all) = request(&up, get.clone(), None, "/api/v1/reports/published").await;
    let (_, all_second) = request(
        &second,
        get.clone(),
        Some(&admin),
        "/api/v1/reports/published",
    )
    .await;
    assert_eq!(ids(&all).len(), 2);
    assert_eq!(ids(&all), ids(&all_second));
    let (_, mine) = request(
        &second,
        get.clone(),
        Some(&own),
        "/api/v1/reports/published",
    )
    .await;
    assert_eq!(ids(&mine), [department_id.as_str()]);
    let (_, theirs) = request(
        &second,
        get.clone(),
        Some(&other),
        "/api/v1/reports/published",
    )
    .await;
    assert!(ids(&theirs).is_empty(), "{theirs}");
    let (status, _) = request(
        &second,
        get.clone(),
        Some(&other),
        &format!("/api/v1/reports/published/{department_id}"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = request(
        &second,
        get.clone(),
        Some(&own),
        &format!("/api/v1/reports/published/{province_id}"),
    )
    .await;
    assert_eq!(status, 404);
    let (ok, listed, err) = cli(&data, &["published"]);
    assert!(ok, "{err}");
    assert!(
        listed.contains(&province_id) && listed.contains(&department_id),
        "{listed}"
    );

    // Late events restate the quarter.
    let restating = late(&mut n);
    let more = restating.len();
    assert_eq!(publish(&nats.url(), restating).await, more);
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(count + more),
        Duration::from_secs(30),
    )
    .await;

    // The published report never changes, and reproduces byte for byte at its version.
    let (status, record) = request(
        &second,
        get.clone(),
        Some(&own),
        &format!("/api/v1/reports/published/{department_id}"),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        record["figures"]["figures"]["received"]["value"],
        json!(2.0)
    );
    let (status, again) = request(
        &second,
        get.clone(),
        Some(&own),
        &format!("/api/v1/reports/published/{department_id}/reproduce"),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["identical"], json!(true), "{again}");
    assert_eq!(again["digest"], record["digest"]);
    let (ok, out, err) = cli(&data, &["reproduce", &province_id]);
    assert!(ok && out.contains("identical"), "{out}{err}");

    // What changed: each difference with the late events behind it, and their dossiers.
    let (status, changes) = request(
        &up,
        get.clone(),
        None,
        &format!("/api/v1/reports/published/{province_id}/changes"),
    )
    .await;
    assert_eq!(status, 200, "{changes}");
    assert_eq!(changes["events_since"], json!(2));
    assert!(changes["current_version"].as_u64() > changes["published_version"].as_u64());
    let differences = changes["differences"].as_array().unwrap();
    let received = differences
        .iter()
        .find(|d| {
            d["table"] == "received_by_agency" && d["row"] == A && d["column"]["en"] == "Received"
        })
        .unwrap_or_else(|| panic!("{changes:#}"));
    assert_eq!(
        (received["published"].clone(), received["now"].clone()),
        (json!(2.0), json!(3.0))
    );
    let dossiers: Vec<&str> = received["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["dossier_id"].as_str())
        .collect();
    assert_eq!(dossiers, ["HS-A3"], "{received:#}");
    let apology = differences
        .iter()
        .find(|d| {
            d["table"] == "resolved_by_agency"
                && d["row"] == A
                && d["column"]["en"] == "Late, with apology"
        })
        .unwrap_or_else(|| panic!("{changes:#}"));
    assert_eq!(
        (apology["published"].clone(), apology["now"].clone()),
        (json!(0.0), json!(1.0))
    );
    assert!(
        differences.iter().all(|d| d["row"] != B),
        "B did not change: {changes:#}"
    );

    // The XLSX export: one sheet per table after the cover, the figures as number cells.
    let response = second
        .get(
            Some(&admin),
            &format!("/api/v1/reports/published/{province_id}?format=xlsx"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let path = tmp.path().join("province.xlsx");
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    let python = std::env::var("PARWATCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import json, re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
book = z.read("xl/workbook.xml").decode()
sheets = re.findall(r'<sheet name="([^"]+)"', book)
first = z.read("xl/worksheets/sheet2.xml").decode()
numbers = re.findall(r'<c r="([A-Z]+[0-9]+)"(?: s="[0-9]+")?><v>([^<]+)</v>', first)
frozen = '<pane xSplit="1" ySplit="3"' in first
print(json.dumps({"sheets": sheets, "numbers": dict(numbers), "frozen": frozen}))
"#;
    let out = Command::new(python)
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let book: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(book["sheets"][0], "Báo cáo");
    assert_eq!(book["sheets"].as_array().unwrap().len(), 1 + 7, "{book}");
    assert_eq!(book["frozen"], json!(true), "{book}");
    // Table 1, A's row (the fourth): received 2, as published.
    assert_eq!(book["numbers"]["B4"], "2", "{book}");

    // The PDF of the department's report, for its own token: its figures, in Vietnamese.
    let response = second
        .get(
            Some(&own),
            &format!("/api/v1/reports/published/{department_id}?format=pdf"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let path = tmp.path().join("department.pdf");
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    let out = Command::new("pdftotext")
        .args(["-layout", path.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Số: ..../BC-S",
        A,
        "tiếp nhận 2 hồ sơ",
        "Nơi nhận:",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

/// `parwatch serve` with `args` that should stop it before it serves: (exit status, stderr).
fn start_refused(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parwatch"))
        .arg("serve")
        .args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("parwatch serve {args:?} did not stop");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
}

/// `serve --reports DIR`: the folder's definitions replace the built-in ones, each checked at
/// start; a broken file, by flag or by `PARWATCH_REPORTS`, stops the start naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_report_definitions_from_a_folder_checked_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let good = tmp.path().join("reports");
    std::fs::create_dir(&good).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reports");
    let public = std::fs::read_to_string(repo.join("public.toml")).unwrap();
    std::fs::write(good.join("open-data.toml"), &public).unwrap();

    let node = Parwatch::serve_with(
        &data,
        &["--open", "--no-pg", "--reports", good.to_str().unwrap()],
        &[],
    )
    .await;
    let (status, list) = request(&node, reqwest::Method::GET, None, "/api/v1/reports").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["reports"],
        json!([{
            "id": "open-data", "title": {"vi": "Công khai kết quả giải quyết thủ tục hành chính",
            "en": "Public results of administrative procedures"}, "subject": "province",
            "tables": ["received_by_agency", "resolved_by_agency", "by_month"],
            "public": true, "min_dossiers": 5,
        }])
    );
    let (status, _) = request(
        &node,
        reqwest::Method::GET,
        None,
        "/api/v1/reports/province/preview?period=2024",
    )
    .await;
    assert_eq!(status, 404, "the built-in ones are replaced");
    drop(node);

    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(
        broken.join("open-data.toml"),
        public.replace("value = \"online_uptake.numerator\"", "value = \"onlin\""),
    )
    .unwrap();
    let base = [
        "--data-dir",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--no-pg",
    ];
    let by_flag = [&base[..], &["--reports", broken.to_str().unwrap()]].concat();
    for (args, env) in [
        (&by_flag[..], vec![]),
        (
            &base[..],
            vec![("PARWATCH_REPORTS", broken.to_str().unwrap())],
        ),
    ] {
        let (status, stderr) = start_refused(args, &env);
        assert!(!status.success(), "{stderr}");
        let named = format!("{}", broken.join("open-data.toml").display());
        assert!(
            stderr.contains("loading report definitions from")
                && stderr.contains(&named)
                && stderr.contains("unknown metric \"onlin\""),
            "{stderr}"
        );
    }
}

/// Public embeds of dashboards: a chart's buckets of fewer than k dossiers are withheld for an
/// embed token (marked `suppressed`, in the CSV too) with the smallest other bucket, so the
/// range's total shown by the stat panel gives none back; the app shows them all; k is the
/// server's `--embed-min-dossiers`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_embeds_withhold_small_points() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let nats = LocalNats::start(&tmp.path().join("nats")).unwrap();
    let mut n = 0;
    // A receives 6 dossiers in January, 2 in February, 7 in March.
    let mut events = Vec::new();
    for (month, count) in [("01", 6), ("02", 2), ("03", 7)] {
        for i in 0..count {
            let id = format!("HS-{month}-{i}");
            let day = format!("2024-{month}-{:02}", 4 + i);
            events.extend(dossier(&mut n, A, &id, Channel::Counter, &day, None, None));
        }
    }
    let count = events.len();
    assert_eq!(publish(&nats.url(), events).await, count);
    let dashboards = crate::harness::repo_dashboards();
    let web = crate::harness::web_args(&dashboards);
    let web: Vec<&str> = web.iter().map(String::as_str).collect();
    let up = Parwatch::up(&nats.url(), &data, &web).await;
    up.wait_for(
        "SELECT count(*) FROM events",
        json!(count),
        Duration::from_secs(30),
    )
    .await;
    crate::harness::wait_projected(up.base()).await;
    let token = crate::harness::embed_token(
        &data,
        &dashboards,
        &["--dashboard", "province", "--ttl", "1h"],
    )
    .unwrap();
    let range = "from=2024-01-01&to=2024-03-31&bucket=month";
    let get = reqwest::Method::GET;
    let points = |body: &Value| body["series"][0]["points"].as_array().unwrap().clone();

    let (status, embed) = request(
        &up,
        get.clone(),
        None,
        &format!("/embed/api/panels/received-trend?token={token}&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{embed}");
    let shown: Vec<(Value, Value)> = points(&embed)
        .iter()
        .map(|p| (p["numerator"].clone(), p["suppressed"].clone()))
        .collect();
    assert_eq!(
        shown,
        [
            (Value::Null, json!(true)),
            (Value::Null, json!(true)),
            (json!(7), Value::Null)
        ],
        "February's 2, and January's 6 that 15 − 7 − 2 would give back"
    );
    let (_, app) = request(
        &up,
        get.clone(),
        None,
        &format!("/api/v1/dashboards/province/panels/received-trend?{range}"),
    )
    .await;
    let numerators: Vec<Value> = points(&app)
        .iter()
        .map(|p| p["numerator"].clone())
        .collect();
    assert_eq!(numerators, [json!(6), json!(2), json!(7)]);
    assert!(points(&app).iter().all(|p| p.get("suppressed").is_none()));
    let (_, stat) = request(
        &up,
        get.clone(),
        None,
        &format!("/embed/api/panels/received?token={token}&{range}"),
    )
    .await;
    assert_eq!(stat["value"]["numerator"], json!(15), "{stat}");
    let (_, csv) = request(
        &up,
        get.clone(),
        None,
        &format!("/embed/api/panels/received-trend?token={token}&{range}&format=csv"),
    )
    .await;
    let csv = csv.as_str().unwrap().to_owned();
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        !lines[0].contains(",6,") && !lines[1].contains(",2,"),
        "{csv}"
    );
    assert!(lines[2].contains(",7,"), "{csv}");
    drop(up);

    // k = 2: February's 2 is shown.
    let node = Parwatch::serve_with(
        &data,
        &[&web[..], &["--no-pg", "--embed-min-dossiers", "2"]].concat(),
        &[],
    )
    .await;
    let (_, embed) = request(
        &node,
        get,
        None,
        &format!("/embed/api/panels/received-trend?token={token}&{range}"),
    )
    .await;
    let numerators: Vec<Value> = points(&embed)
        .iter()
        .map(|p| p["numerator"].clone())
        .collect();
    assert_eq!(numerators, [json!(6), json!(2), json!(7)], "{embed}");
}
