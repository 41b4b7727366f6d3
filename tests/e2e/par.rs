//! The PAR Index end to end: scores, tasks and plan activities published to JetStream, ingested
//! by the real binary, answered by `/api/v1/par-index` (and its history), the same after a
//! restart from the snapshot, and scored with another model directory given by flag.

use std::path::Path;
use std::time::Duration;

use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, AgencyKind, Assessor, TaskStatus};
use parwatch_scoring::Models;
use serde_json::{Value, json};

use crate::harness::{LocalNats, Outgoing, Parwatch, publish};

const A: &str = "000.00.16.H02";
const B: &str = "000.00.17.H02";
const DISTRICT: &str = "000.00.51.H02";

/// Event `n` (counting from 1 as they are made): id and `Nats-Msg-Id` `par-<n>`, source `e2e`.
fn message(n: &mut usize, agency: &str, at: &str, event: TestEvent) -> Outgoing {
    *n += 1;
    let id = format!("par-{n:04}");
    let event = event.id(&id).at(at).source("e2e").agency(agency);
    Outgoing::event(&event).with_msg_id(id)
}

/// A 2022 `par.score` of `criterion` in `component`, by `assessor`, for an agency of `kind`.
fn score(
    (component, criterion): (&str, &str),
    (score, max): (f64, f64),
    assessor: Assessor,
    kind: AgencyKind,
) -> TestEvent {
    TestEvent::par_score(2022, component, criterion, score, max)
        .assessor(assessor)
        .field("agency_kind", kind.as_str())
}

/// Every criterion of the agency's 2022 rubric appraised at `share` of its maximum, but those
/// in `skip`.
fn appraised(
    n: &mut usize,
    agency: &str,
    kind: AgencyKind,
    share: f64,
    skip: &[&str],
) -> Vec<Outgoing> {
    let models = Models::builtin();
    let rubric = models.rubric(kind, 2022).unwrap();
    rubric
        .criteria()
        .filter(|(_, k)| !skip.contains(&k.code.as_str()))
        .map(|(c, k)| {
            let key = (c.code.as_str(), k.code.as_str());
            let event = score(key, (share * k.max, k.max), Assessor::Appraisal, kind);
            message(n, agency, "2022-12-15T09:00:00+07:00", event)
        })
        .collect()
}

/// A's 2022: appraised at 90% but the tasks criterion, derived from 4 tasks (3 on time), so
/// 88.2 and 1.5 make 89.7. B's: 80% of everything, its self-assessed review superseded. A
/// district at 95. A's 2023: a done plan activity and a self-assessment.
fn events() -> Vec<Outgoing> {
    let mut n = 0;
    let mut out = appraised(&mut n, A, AgencyKind::Department, 0.9, &["superior_tasks"]);
    for (i, (due, done)) in [
        ("2022-03-10", "2022-03-09"),
        ("2022-05-10", "2022-05-10"),
        ("2022-07-10", "2022-07-01"),
        ("2022-09-10", "2022-09-20"),
    ]
    .into_iter()
    .enumerate()
    {
        let task_id = format!("{}/UBND-VP (2022)", 100 + i);
        let due_at = format!("{due}T17:00:00+07:00");
        let assigned = TestEvent::task(&task_id, TaskStatus::Assigned).due(&due_at);
        out.push(message(&mut n, A, "2022-02-01T08:00:00+07:00", assigned));
        let completed_at = format!("{done}T09:00:00+07:00");
        let completed = TestEvent::task(&task_id, TaskStatus::Completed)
            .due(&due_at)
            .completed_at(&completed_at);
        out.push(message(&mut n, A, &completed_at, completed));
    }
    let review = |assessor| {
        let key = ("institutions", "legal_review");
        score(key, (1.0, 1.0), assessor, AgencyKind::Department)
            .field("evidence", "Báo cáo rà soát văn bản QPPL năm 2022")
    };
    let self_review = review(Assessor::SelfAssessment);
    out.push(message(&mut n, B, "2022-11-20T09:00:00+07:00", self_review));
    out.extend(appraised(&mut n, B, AgencyKind::Department, 0.8, &[]));
    out.extend(appraised(&mut n, DISTRICT, AgencyKind::District, 0.95, &[]));
    let plan = TestEvent::plan_activity("KH-2023-01", ActivityStatus::Done)
        .field("plan_year", 2023)
        .field("title", "Ban hành kế hoạch CCHC năm 2023")
        .due("2023-01-31T17:00:00+07:00");
    out.push(message(&mut n, A, "2023-01-20T09:00:00+07:00", plan));
    let self_review = review(Assessor::SelfAssessment).field("year", 2023);
    out.push(message(&mut n, A, "2023-06-01T09:00:00+07:00", self_review));
    out
}

fn agency<'a>(answer: &'a Value, code: &str) -> &'a Value {
    answer["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agency_code"] == code)
        .unwrap_or_else(|| panic!("{code} in {answer}"))
}

fn criterion<'a>(agency: &'a Value, code: &str) -> &'a Value {
    agency["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["code"] == code)
        .unwrap()
}

/// What both a running `up` and a restarted `serve` must answer.
async fn check_index(parwatch: &Parwatch) {
    let (status, y2022) = parwatch.get_json("/api/v1/par-index?year=2022").await;
    assert_eq!(status, 200, "{y2022}");
    assert_eq!(
        (y2022["year"].clone(), y2022["as_of"].clone()),
        (json!(2022), json!("2022-12-31"))
    );
    let ranks: Vec<(String, Value, Value, Value, Value)> = y2022["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let code = a["agency_code"].as_str().unwrap().to_owned();
            (
                code,
                a["kind"].clone(),
                a["index"].clone(),
                a["rank"].clone(),
                a["of"].clone(),
            )
        })
        .collect();
    assert_eq!(
        ranks,
        vec![
            (
                A.to_owned(),
                json!("department"),
                json!(89.7),
                json!(1),
                json!(2)
            ),
            (
                B.to_owned(),
                json!("department"),
                json!(80.0),
                json!(2),
                json!(2)
            ),
            (
                DISTRICT.to_owned(),
                json!("district"),
                json!(95.0),
                json!(1),
                json!(1)
            ),
        ]
    );
    let a = agency(&y2022, A);
    let tasks = criterion(a, "superior_tasks");
    assert_eq!(tasks["status"], "derived");
    assert_eq!(
        (
            tasks["derived"]["numerator"].clone(),
            tasks["derived"]["denominator"].clone(),
            tasks["points"].clone()
        ),
        (json!(3), json!(4), json!(1.5))
    );
    assert_eq!(a["components"][0]["code"], "direction");
    assert_eq!(a["components"].as_array().unwrap().len(), 9);

    let (_, only_b) = parwatch
        .get_json(&format!("/api/v1/par-index?year=2022&agency={B}"))
        .await;
    assert_eq!(only_b["agencies"].as_array().unwrap().len(), 1);
    let review = criterion(agency(&only_b, B), "legal_review");
    assert_eq!(
        (
            review["official"]["assessor"].clone(),
            review["points"].clone(),
            review["self_assessed"]["score"].clone()
        ),
        (json!("appraisal"), json!(0.8), json!(1.0))
    );
    assert_eq!(review["official"]["evidence"], json!(null));
    assert_eq!(
        review["self_assessed"]["evidence"],
        "Báo cáo rà soát văn bản QPPL năm 2022"
    );

    // 2023: the plan derived (1/1 done → 2 points), the review self-assessed (1), the rest
    // projected from 2022: 89.7 − 1.8 − 0.9 + 2 + 1 = 90.
    let (_, history) = parwatch
        .get_json(&format!("/api/v1/par-index/history?agency={A}"))
        .await;
    let years: Vec<(Value, Value, Value, Value)> = history["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| {
            (
                y["year"].clone(),
                y["index"].clone(),
                y["projected"].clone(),
                y["complete"].clone(),
            )
        })
        .collect();
    assert_eq!(
        years,
        vec![
            (json!(2022), json!(89.7), json!(89.7), json!(true)),
            (json!(2023), json!(3.0), json!(90.0), json!(false)),
        ]
    );
}

async fn start_with_events(tmp: &Path) -> (LocalNats, Parwatch) {
    let nats = LocalNats::start(&tmp.join("nats")).unwrap();
    let messages = events();
    let count = messages.len();
    assert_eq!(publish(&nats.url(), messages).await, count);
    let parwatch = Parwatch::up(&nats.url(), &tmp.join("data"), &[]).await;
    parwatch
        .wait_for(
            "SELECT count(*) FROM events",
            json!(count),
            Duration::from_secs(30),
        )
        .await;
    (nats, parwatch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn par_index_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let (_nats, mut parwatch) = start_with_events(tmp.path()).await;
    check_index(&parwatch).await;

    // The plan and task metrics and the projection tables answer too.
    let (status, tasks) = parwatch
        .get_json(&format!(
            "/api/v1/metrics/tasks_on_time?from=2022-01-01&to=2022-12-31&bucket=year&agency={A}"
        ))
        .await;
    assert_eq!(status, 200, "{tasks}");
    assert_eq!(
        tasks["series"][0]["points"][0],
        json!({"bucket": "2022-01-01", "value": 0.75, "numerator": 3, "denominator": 4})
    );
    let (_, ranking) = parwatch
        .get_json("/api/v1/ranking?metric=plan_completion&from=2023-01-01&to=2023-12-31")
        .await;
    assert_eq!(ranking["rows"][0]["agency_code"], A);
    assert_eq!(ranking["rows"][0]["rank"], 1);
    assert_eq!(
        parwatch
            .scalar("SELECT count(*) FROM par_scores WHERE assessor = 'self'")
            .await,
        json!(2)
    );
    assert_eq!(
        parwatch
            .scalar("SELECT count(*) FROM directive_tasks WHERE on_time")
            .await,
        json!(3)
    );

    // Mistakes are 400 with a message naming them.
    for (path, word) in [
        ("/api/v1/par-index?year=twenty", "twenty"),
        ("/api/v1/par-index?year=2019", "models start in 2022"),
        ("/api/v1/par-index/history", "agency"),
    ] {
        let (status, body) = parwatch.get_json(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(word),
            "{path}: {body}"
        );
    }
    let (_, openapi) = parwatch.get_json("/api/v1/openapi.json").await;
    for path in ["/api/v1/par-index", "/api/v1/par-index/history"] {
        assert!(openapi["paths"][path].is_object(), "{path} documented");
    }

    // A restart serves the same index from the projections' snapshot.
    assert!(parwatch.terminate().success());
    let data = tmp.path().join("data");
    assert!(data.join("lake/projections/par_scores.parquet").exists());
    let serve = Parwatch::serve_with(&data, &["--open"], &[]).await;
    check_index(&serve).await;
    drop(serve);

    // Scoring models from a directory: without a district rubric, the district is not scored.
    let models = tmp.path().join("models");
    std::fs::create_dir_all(models.join("department")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/par-model");
    std::fs::copy(
        repo.join("department/2022.toml"),
        models.join("department/2022.toml"),
    )
    .unwrap();
    let serve = Parwatch::serve_with(
        &data,
        &["--open", "--par-models", models.to_str().unwrap()],
        &[],
    )
    .await;
    let (_, y2022) = serve.get_json("/api/v1/par-index?year=2022").await;
    let codes: Vec<&str> = y2022["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agency_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec![A, B]);
    drop(serve);

    // A broken model stops the start with the file and the reason.
    std::fs::write(
        models.join("department/2024.toml"),
        "total = 100\n[[components]]\ncode = \"direction\"\nname = \"x\"\nmax = 90\n\
         [[components.criteria]]\ncode = \"plan\"\nname = \"x\"\nmax = 90\n",
    )
    .unwrap();
    let mut broken = Parwatch::spawn(
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--par-models",
            models.to_str().unwrap(),
        ],
        &[],
        tmp.path(),
        "broken",
    );
    assert!(!broken.wait_exit(Duration::from_secs(20)).success());
    let log = broken.log_text();
    assert!(
        log.contains("department/2024.toml") && log.contains("add up to 90, not the total 100"),
        "{log}"
    );
}
