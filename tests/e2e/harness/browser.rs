//! A real browser for the page tests: Debian's headless Chromium driven through chromedriver
//! (WebDriver), with its console log and the DevTools protocol (the accessibility tree); and
//! the province the page tests look at, filled by `parwatch simulate`.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::{LocalNats, Parwatch, free_port, get_json};

const CHROMIUM: &str = "/usr/bin/chromium";

/// `POST /session/{id}/se/log`: chromedriver's browser console log since the last read.
#[derive(Debug)]
struct ConsoleLog;

impl WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// `POST /session/{id}/goog/cdp/execute`: one Chrome DevTools Protocol command, its result.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// chromedriver and the Chromium it starts, in their own process group, killed together.
pub(crate) struct Browser {
    driver: Child,
    pub(crate) client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn start() -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; tests/run.sh installs it)");
        let profile = tempfile::tempdir().unwrap();
        // Without the networking flags Chromium tries to reach Google and hangs offline.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Self {
            driver,
            client,
            _profile: profile,
        }
    }

    /// Console messages of level SEVERE (errors, uncaught exceptions, failed loads) since
    /// the last call.
    pub(crate) async fn console_errors(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(ConsoleLog).await.unwrap();
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Runs `script` (a function body) until it returns something truthy; returns that.
    pub(crate) async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.client.execute(script, vec![]).await.unwrap();
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            assert!(Instant::now() < deadline, "{what}: not within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Loads `url` and waits for its page to finish drawing, with no console error.
    pub(crate) async fn open(&self, url: &str, name: &str) {
        self.client.goto(url).await.unwrap();
        self.ready(name).await;
    }

    pub(crate) async fn ready(&self, name: &str) {
        self.wait_for(
            name,
            "return document.querySelector('main[data-state=ready]') !== null",
        )
        .await;
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "{name}: console errors: {errors:#?}");
    }

    /// Finds `css` and applies `act` to it, finding it again when the page redrew it in between
    /// (a live page redraws its panels whenever new events land).
    pub(crate) async fn on<T, F, Fut>(&self, css: &str, act: F) -> T
    where
        F: Fn(Element) -> Fut,
        Fut: Future<Output = Result<T, CmdError>>,
    {
        for _ in 0..10 {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("{css}: {e}"));
            match act(element).await {
                Err(e) if e.is_stale_element_reference() => continue,
                done => return done.unwrap_or_else(|e| panic!("{css}: {e}")),
            }
        }
        panic!("{css}: redrawn under the test ten times in a row")
    }

    /// Clicks the element `css` finds.
    pub(crate) async fn click(&self, css: &str) {
        self.on(css, |e| async move { e.click().await.map(drop) })
            .await
    }

    /// The rendered text of the element `css` finds.
    pub(crate) async fn text(&self, css: &str) -> String {
        self.on(css, |e| async move { e.text().await }).await
    }

    /// Runs a DevTools protocol command; returns its result.
    async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }

    /// The accessibility-tree node of each element `css` finds, in document order.
    pub(crate) async fn ax_nodes(&self, css: &str) -> Vec<Value> {
        let mut nodes = Vec::new();
        for node in self.dom_nodes(css).await {
            let tree = self
                .cdp(
                    "Accessibility.getPartialAXTree",
                    json!({ "nodeId": node, "fetchRelatives": false }),
                )
                .await;
            nodes.push(tree["nodes"][0].clone());
        }
        nodes
    }

    /// The accessibility-tree nodes of role `role` inside the element `css` finds.
    pub(crate) async fn ax_within(&self, css: &str, role: &str) -> Vec<Value> {
        let node = *self
            .dom_nodes(css)
            .await
            .first()
            .unwrap_or_else(|| panic!("{css}: not found"));
        let found = self
            .cdp(
                "Accessibility.queryAXTree",
                json!({ "nodeId": node, "role": role }),
            )
            .await;
        found["nodes"].as_array().cloned().unwrap_or_default()
    }

    /// DevTools' node ids of the elements `css` finds.
    async fn dom_nodes(&self, css: &str) -> Vec<u64> {
        let root = self.cdp("DOM.getDocument", json!({ "depth": 0 })).await;
        let found = self
            .cdp(
                "DOM.querySelectorAll",
                json!({ "nodeId": root["root"]["nodeId"], "selector": css }),
            )
            .await;
        found["nodeIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect()
    }

    /// Every live region of the page as the accessibility tree holds it: its role and the text
    /// inside it (what a screen reader would announce when it changes).
    pub(crate) async fn live_regions(&self) -> Vec<(String, String)> {
        let tree = self.cdp("Accessibility.getFullAXTree", json!({})).await;
        let nodes = tree["nodes"].as_array().unwrap();
        let by_id: HashMap<&str, &Value> = nodes
            .iter()
            .map(|n| (n["nodeId"].as_str().unwrap(), n))
            .collect();
        let live = |n: &Value| {
            n["properties"].as_array().into_iter().flatten().any(|p| {
                p["name"] == "live" && !matches!(p["value"]["value"].as_str(), None | Some("off"))
            })
        };
        let parent_live = |n: &Value| {
            n["parentId"]
                .as_str()
                .and_then(|p| by_id.get(p))
                .is_some_and(|p| live(p))
        };
        fn text(n: &Value, by_id: &HashMap<&str, &Value>, out: &mut String) {
            if n["role"]["value"] == "StaticText" {
                out.push_str(n["name"]["value"].as_str().unwrap_or_default());
            }
            for child in n["childIds"].as_array().into_iter().flatten() {
                if let Some(c) = child.as_str().and_then(|c| by_id.get(c)) {
                    text(c, by_id, out);
                }
            }
        }
        nodes
            .iter()
            .filter(|n| live(n) && !parent_live(n))
            .map(|n| {
                let mut out = String::new();
                text(n, &by_id, &mut out);
                (
                    n["role"]["value"].as_str().unwrap_or_default().to_owned(),
                    out,
                )
            })
            .collect()
    }

    /// Saves the whole page as `target/screenshots/<name>.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(1000)
            .clamp(600, 8000);
        self.client
            .set_window_size(1400, height as u32)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
        self.client.set_window_size(1400, 1000).await.unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created for chromedriver and its browser.
        unsafe { libc::kill(-(self.driver.id() as i32), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

/// `target/screenshots/`.
fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("../screenshots")
}

/// A number as vi-VN writes it: `.` between thousands, `,` before decimals.
pub(crate) fn vi_number(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    let sign = if value < 0.0 { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{fraction}")
    }
}

/// `parwatch simulate` backfilling `from` to `to` with `scale` dossiers a working day, writing
/// the province's agency names to `names` when given; returns the messages published.
pub(crate) fn simulate(
    nats_url: &str,
    from: &str,
    to: &str,
    scale: u32,
    names: Option<&Path>,
) -> u64 {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parwatch"));
    command
        .args(["simulate", "--nats-url", nats_url, "--backfill"])
        .envs(crate::harness::nats_env("simulate", nats_url))
        .args(["--from", from, "--to", to, "--scale", &scale.to_string()])
        .args(["--invalid-share", "0.01", "--seed", "8"])
        .args(["--progress", "quiet"]);
    if let Some(names) = names {
        command.arg("--agencies-out").arg(names);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"))
}

/// Waits until `published` messages are stored or rejected, and the projections caught up.
pub(crate) async fn wait_landed(base: &str, published: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, status) = get_json(&format!("{base}/api/v1/status")).await;
        let ingest = &status["ingest"];
        let landed =
            ingest["events_stored"].as_u64().unwrap() + ingest["rejected"].as_u64().unwrap();
        if landed == published
            && status["events"] == ingest["events_stored"]
            && status["projections_version"] == status["events_version"]
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{landed} of {published} landed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The province the page tests look at: 18 months (2023-01 to 2024-06) simulated at 3 dossiers
/// a working day, landed in `parwatch up`.
pub(crate) struct Province {
    /// The broker the province was published to (`nats.url()` publishes more).
    pub(crate) nats: LocalNats,
    /// The server, filled.
    pub(crate) parwatch: Parwatch,
    /// Its data directory (tokens, a second server).
    pub(crate) data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Province {
    /// Simulates the province and waits until every message landed.
    pub(crate) async fn simulated() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nats = LocalNats::start(&dir.path().join("nats")).unwrap();
        let published = simulate(&nats.url(), "2023-01-01", "2024-06-30", 3, None);
        let data = dir.path().join("data");
        let parwatch = Parwatch::up(&nats.url(), &data, &[]).await;
        wait_landed(parwatch.base(), published).await;
        Self {
            nats,
            parwatch,
            data,
            _dir: dir,
        }
    }
}
