//! The PAR Index of seed 003 from events: Sở Khoa học và Công nghệ, 2022, "thứ 4 (87,303
//! điểm), tăng 06 bậc so với năm 2021", tasks from superiors "34/40 ... (1,7/2 điểm)".
//!
//! The seed gives the nine component scores and three criteria (tasks 1.7/2, review of legal
//! documents 0/1, self-inspection of legal documents 0/1); how the rest of each component's
//! score splits over its criteria is ours. The tasks criterion is derived from 40
//! `directive.task` events, everything else is scored by `par.score` events.

use std::path::PathBuf;

use chrono::{Datelike, Days, NaiveDate};
use parwatch_lake::StoredEvent;
use parwatch_metrics::load_models;
use parwatch_proto::testing::TestEvent;
use parwatch_proto::{ActivityStatus, AgencyKind, Assessor, EventData, TaskStatus};
use parwatch_scoring::{AgencyIndex, Models, Status};

use crate::common::{date, lake_with, projector};

const KHCN: &str = "000.00.16.H02";

/// (component, criterion, score, max on the assessor's scale) of KH&CN in 2022.
const SEED_2022: &[(&str, &str, f64, f64)] = &[
    ("direction", "plan_issued", 1.0, 1.0),
    ("direction", "plan_completion", 2.0, 2.0),
    ("direction", "reporting", 1.0, 1.0),
    ("direction", "inspection", 1.5, 1.5),
    ("direction", "communication", 1.211, 1.5),
    ("direction", "innovation", 0.5, 1.5),
    ("direction", "iso", 1.5, 1.5),
    ("direction", "remediation", 1.5, 1.5),
    ("institutions", "legal_drafting", 2.0, 2.0),
    ("institutions", "legal_review", 0.0, 1.0),
    ("institutions", "legal_self_check", 0.0, 1.0),
    ("institutions", "law_enforcement", 1.5, 1.5),
    ("institutions", "legal_dissemination", 1.0, 1.0),
    ("procedures", "publication", 1.5, 1.5),
    ("procedures", "simplification", 1.0, 1.5),
    ("procedures", "feedback", 1.0, 1.0),
    ("procedures", "internal_procedures", 1.0, 1.0),
    ("organisation", "structure", 2.0, 2.0),
    ("organisation", "staffing", 1.5, 2.0),
    ("organisation", "decentralisation", 0.5, 1.5),
    ("organisation", "unit_oversight", 1.0, 1.0),
    ("civil_service", "job_positions", 2.0, 2.0),
    ("civil_service", "recruitment", 2.0, 2.0),
    ("civil_service", "training", 2.0, 2.0),
    ("civil_service", "discipline", 2.0, 2.0),
    ("public_finance", "budget", 2.5, 2.5),
    ("public_finance", "thrift", 1.0, 2.0),
    ("public_finance", "public_assets", 1.5, 2.0),
    ("public_finance", "autonomy", 2.0, 2.0),
    ("e_government", "e_office", 2.0, 2.0),
    ("e_government", "online_uptake", 1.2, 2.0),
    ("e_government", "full_online", 0.75, 1.5),
    ("e_government", "digitisation", 0.52, 1.5),
    ("e_government", "it_infrastructure", 1.0, 1.5),
    ("e_government", "security", 1.0, 1.5),
    ("one_stop", "service_centre", 1.0, 1.0),
    ("one_stop", "on_time", 1.875, 2.5),
    ("one_stop", "apology", 0.775, 1.5),
    ("one_stop", "postal", 0.5, 1.0),
    ("one_stop", "centre_staff", 1.0, 1.0),
    // The survey reports on a 100-point scale: 98.86% of 20 points is 19.772.
    ("survey", "citizen_satisfaction", 98.86, 100.0),
    ("survey", "official_assessment", 100.0, 100.0),
];

/// The seed's component scores, in rubric order.
const SEED_COMPONENTS: [(&str, f64); 9] = [
    ("direction", 11.911),
    ("institutions", 4.5),
    ("procedures", 4.5),
    ("organisation", 5.0),
    ("civil_service", 8.0),
    ("public_finance", 7.0),
    ("e_government", 6.47),
    ("one_stop", 5.15),
    ("survey", 34.772),
];

/// Events of one test, numbered as they are added.
#[derive(Default)]
struct Events(Vec<StoredEvent<'static>>);

impl Events {
    fn push(&mut self, agency: &str, at: &str, event: TestEvent) {
        let id = self.0.len();
        self.0
            .push(crate::common::event(id, &event.agency(agency).at(at)));
    }

    #[allow(clippy::too_many_arguments)]
    fn score(
        &mut self,
        agency: &str,
        kind: &str,
        year: i32,
        (component, criterion): (&str, &str),
        (score, max): (f64, f64),
        assessor: &str,
        at: &str,
    ) {
        let data = EventData::ParScore {
            year,
            component: component.to_owned(),
            criterion: criterion.to_owned(),
            score,
            max,
            assessor: Assessor::parse(assessor).unwrap(),
            agency_kind: Some(AgencyKind::parse(kind).unwrap()),
            evidence: None,
        };
        self.push(agency, at, TestEvent::of(data));
    }

    /// The seed's 2022 scores of KH&CN: self-assessments in November, the survey on
    /// 1 December, the appraisal on 15 December.
    fn seed_scores(&mut self) {
        for &(component, criterion, score, max) in SEED_2022 {
            let (assessor, at) = if component == "survey" {
                ("survey", "2022-12-01T09:00:00+07:00")
            } else {
                ("appraisal", "2022-12-15T09:00:00+07:00")
            };
            let key = (component, criterion);
            self.score(KHCN, "department", 2022, key, (score, max), assessor, at);
        }
        // The agency thought better of itself; the appraisal (and the tasks) say otherwise.
        let at = "2022-11-20T09:00:00+07:00";
        for (key, score) in [
            (("institutions", "legal_review"), 1.0),
            (("direction", "innovation"), 1.5),
            (("direction", "superior_tasks"), 2.0),
        ] {
            let max = if key.1 == "superior_tasks" {
                2.0
            } else {
                score
            };
            self.score(KHCN, "department", 2022, key, (score, max), "self", at);
        }
    }

    /// `n` tasks of `agency` due from `first` on, a week apart, the first `late` of them
    /// completed two days late and the others a day early.
    fn tasks(&mut self, agency: &str, first: NaiveDate, n: u64, late: u64) {
        for i in 0..n {
            let due = first + Days::new(7 * i);
            let at = |d: NaiveDate, time: &str| format!("{d}T{time}+07:00");
            // Document numbers restart every year: the id carries the year.
            let task_id = format!("{}/UBND-VP ({})", 1000 + i, first.year());
            let due_at = at(due, "17:00:00");
            let assigned = TestEvent::task(&task_id, TaskStatus::Assigned).due(&due_at);
            self.push(agency, &at(due - Days::new(10), "08:00:00"), assigned);
            let done = if i < late {
                due + Days::new(2)
            } else {
                due - Days::new(1)
            };
            let completed = TestEvent::task(&task_id, TaskStatus::Completed)
                .due(&due_at)
                .completed_at(&at(done, "10:00:00"));
            self.push(agency, &at(done, "10:05:00"), completed);
        }
    }
}

fn index_of<'a>(index: &'a [AgencyIndex], agency: &str) -> &'a AgencyIndex {
    index
        .iter()
        .find(|a| a.agency_code == agency)
        .unwrap_or_else(|| panic!("{agency} not in the index"))
}

#[test]
fn seed_2022_scores_and_tasks_give_87_303() {
    let mut events = Events::default();
    events.seed_scores();
    events.tasks(KHCN, date("2022-02-04"), 40, 6);
    // A score of a criterion the rubric does not have is reported, not counted.
    let typo = ("direction", "superior_task");
    events.score(
        KHCN,
        "department",
        2022,
        typo,
        (2.0, 2.0),
        "appraisal",
        "2022-12-15T09:00:00+07:00",
    );
    let n = events.0.len();
    let models = load_models(None).unwrap();
    // Two arrival orders over three files each: the same index.
    let mut answers = Vec::new();
    for order in [
        (0..n).collect::<Vec<_>>(),
        (0..n).map(|i| (i * 37 + 11) % n).collect(),
    ] {
        let shuffled: Vec<StoredEvent<'_>> = order.iter().map(|&i| events.0[i].clone()).collect();
        let third = n / 3;
        let groups = vec![
            shuffled[..third].to_vec(),
            shuffled[third..2 * third].to_vec(),
            shuffled[2 * third..].to_vec(),
        ];
        let (_tmp, lake) = lake_with(groups);
        let projector = projector(&lake);
        answers.push(
            projector
                .rollups()
                .par_index(&models, 2022, date("2023-04-26")),
        );
    }
    assert_eq!(answers[0], answers[1]);
    let year = &answers[0];
    assert_eq!(year.year, 2022);
    let khcn = index_of(&year.agencies, KHCN);
    assert_eq!(khcn.index, 87.303);
    assert_eq!(khcn.max, 100.0);
    assert_eq!((khcn.projected, khcn.complete), (87.303, true));
    let components: Vec<(&str, f64)> = khcn
        .components
        .iter()
        .map(|c| (c.code.as_str(), c.score))
        .collect();
    assert_eq!(components, SEED_COMPONENTS);
    assert_eq!(
        (
            khcn.counts.assessed,
            khcn.counts.derived,
            khcn.counts.missing
        ),
        (42, 1, 0)
    );
    assert_eq!(khcn.unknown_criteria, vec!["direction.superior_task"]);

    // 34 of 40 tasks on time: 1.7 of 2 points, over the agency's own self-assessment of 2.
    let tasks = khcn
        .criteria
        .iter()
        .find(|k| k.code == "superior_tasks")
        .unwrap();
    assert_eq!(
        (tasks.status, tasks.points, tasks.lost),
        (Status::Derived, Some(1.7), Some(0.3))
    );
    let derived = tasks.derived.as_ref().unwrap();
    assert_eq!(
        (
            derived.metric.as_str(),
            derived.numerator,
            derived.denominator,
            derived.points
        ),
        ("tasks_on_time", 34, 40, 1.7)
    );
    assert_eq!(tasks.self_assessed.as_ref().unwrap().score, 2.0);

    // The appraisal's 0/1 supersedes the self-assessed 1/1.
    let review = khcn
        .criteria
        .iter()
        .find(|k| k.code == "legal_review")
        .unwrap();
    assert_eq!(
        (review.status, review.points),
        (Status::Assessed, Some(0.0))
    );
    assert_eq!(
        review.official.as_ref().unwrap().assessor,
        parwatch_proto::Assessor::Appraisal
    );
    assert_eq!(review.self_assessed.as_ref().unwrap().score, 1.0);

    // Weakest first: the five criteria that lost a whole point (in rubric order), then
    // digitisation (0.98 lost).
    let weakest: Vec<(&str, Option<f64>)> = khcn
        .criteria
        .iter()
        .take(6)
        .map(|k| (k.code.as_str(), k.lost))
        .collect();
    assert_eq!(
        weakest,
        vec![
            ("innovation", Some(1.0)),
            ("legal_review", Some(1.0)),
            ("legal_self_check", Some(1.0)),
            ("decentralisation", Some(1.0)),
            ("thrift", Some(1.0)),
            ("digitisation", Some(0.98)),
        ]
    );
    let lost: Vec<f64> = khcn.criteria.iter().filter_map(|k| k.lost).collect();
    assert!(lost.windows(2).all(|w| w[0] >= w[1]), "{lost:?}");
}

/// The repository's rubrics plus a 2021 department rubric equal to 2022's (the seeds do not
/// give 2021's), so that 2022's places changed can be computed.
fn models_with_2021() -> (tempfile::TempDir, Models) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/par-model");
    let tmp = tempfile::tempdir().unwrap();
    for kind in ["department", "district", "commune"] {
        std::fs::create_dir(tmp.path().join(kind)).unwrap();
        for file in std::fs::read_dir(repo.join(kind)).unwrap() {
            let path = file.unwrap().path();
            std::fs::copy(&path, tmp.path().join(kind).join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(
        repo.join("department/2022.toml"),
        tmp.path().join("department/2021.toml"),
    )
    .unwrap();
    let models = load_models(Some(tmp.path())).unwrap();
    (tmp, models)
}

/// Every criterion of the agency's rubric scored at `share` of its maximum by the appraisal.
fn uniform(events: &mut Events, models: &Models, agency: &str, kind: &str, year: i32, share: f64) {
    let rubric = models
        .rubric(parwatch_proto::AgencyKind::parse(kind).unwrap(), year)
        .unwrap();
    let at = format!("{year}-12-15T09:00:00+07:00");
    for (c, k) in rubric.criteria() {
        let key = (c.code.as_str(), k.code.as_str());
        events.score(
            agency,
            kind,
            year,
            key,
            (share * k.max, k.max),
            "appraisal",
            &at,
        );
    }
}

#[test]
fn ranks_among_departments_places_changed_and_projection() {
    let (_models_dir, models) = models_with_2021();
    let mut events = Events::default();
    // Nine other departments, 95 down to 87 points in 2021; KH&CN 80, tenth.
    let others: Vec<String> = (1..=9)
        .map(|i| format!("000.00.{:02}.H02", 30 + i))
        .collect();
    for (i, agency) in others.iter().enumerate() {
        uniform(
            &mut events,
            &models,
            agency,
            "department",
            2021,
            0.95 - 0.01 * i as f64,
        );
    }
    uniform(&mut events, &models, KHCN, "department", 2021, 0.80);
    // 2022: three departments above KH&CN's 87.303, two tied at 85.
    for (agency, share) in others
        .iter()
        .zip([0.95, 0.92, 0.90, 0.85, 0.85, 0.84, 0.83, 0.82, 0.81])
    {
        uniform(&mut events, &models, agency, "department", 2022, share);
    }
    events.seed_scores();
    events.tasks(KHCN, date("2022-02-04"), 40, 6);
    // A district scores 99: first among districts, no place among departments.
    let district = "000.00.51.H02";
    uniform(&mut events, &models, district, "district", 2022, 0.99);

    // 2023, seen on 30 June: ten tasks due so far (one late), six plan activities due so far
    // (five done) and five due later, a self-assessment; the rest not scored yet.
    events.tasks(KHCN, date("2023-01-06"), 10, 1);
    for i in 0..11 {
        let due = date("2023-01-31") + Days::new(30 * i);
        let done = i < 5;
        let status = if done {
            ActivityStatus::Done
        } else {
            ActivityStatus::Planned
        };
        let activity = TestEvent::plan_activity(&format!("KH-2023-{i:02}"), status)
            .field("plan_year", 2023)
            .field("title", "Hoạt động kế hoạch CCHC")
            .due(format!("{due}T17:00:00+07:00").as_str());
        let at = format!("{}T09:00:00+07:00", due - Days::new(3));
        events.push(KHCN, &at, activity);
    }
    let review = ("institutions", "legal_review");
    events.score(
        KHCN,
        "department",
        2023,
        review,
        (1.0, 1.0),
        "self",
        "2023-05-10T09:00:00+07:00",
    );

    let (_tmp, lake) = lake_with(vec![events.0]);
    let projector = projector(&lake);
    let p = projector.rollups();
    let today = date("2023-06-30");

    let y2022 = p.par_index(&models, 2022, today);
    let departments: Vec<(&str, u32, Option<u32>, Option<i64>)> = y2022
        .agencies
        .iter()
        .filter(|a| a.kind == parwatch_proto::AgencyKind::Department)
        .map(|a| (&a.agency_code[7..9], a.rank, a.previous_rank, a.change))
        .collect();
    assert_eq!(
        departments,
        vec![
            ("31", 1, Some(1), Some(0)),
            ("32", 2, Some(2), Some(0)),
            ("33", 3, Some(3), Some(0)),
            ("16", 4, Some(10), Some(6)),
            ("34", 5, Some(4), Some(-1)),
            ("35", 5, Some(5), Some(0)),
            ("36", 7, Some(6), Some(-1)),
            ("37", 8, Some(7), Some(-1)),
            ("38", 9, Some(8), Some(-1)),
            ("39", 10, Some(9), Some(-1)),
        ]
    );
    let khcn = index_of(&y2022.agencies, KHCN);
    assert_eq!(
        (khcn.index, khcn.rank, khcn.of, khcn.change),
        (87.303, 4, 10, Some(6))
    );
    let e_government = khcn
        .components
        .iter()
        .find(|c| c.code == "e_government")
        .unwrap();
    assert_eq!((e_government.score, e_government.rank), (6.47, 10));
    let d = index_of(&y2022.agencies, district);
    assert_eq!((d.index, d.rank, d.of, d.previous_rank), (99.0, 1, 1, None));

    // 2023 so far: tasks 9/10 → 1.8 of 2; plan 5/6 due so far → 1 of 2 (steps: ≥0.8 → half);
    // the self-assessed review 1. The other criteria are projected at 2022's points.
    let y2023 = p.par_index(&models, 2023, today);
    let khcn = index_of(&y2023.agencies, KHCN);
    assert_eq!((khcn.index, khcn.complete), (3.8, false));
    assert_eq!(
        (
            khcn.counts.assessed,
            khcn.counts.derived,
            khcn.counts.missing
        ),
        (1, 2, 40)
    );
    // 87.303 − 2022's (1.7 + 2 + 0) for the three criteria + 2023's (1.8 + 1 + 1).
    assert_eq!(khcn.projected, 87.403);
    assert_eq!((khcn.previous_rank, khcn.rank, khcn.of), (Some(4), 1, 1));
    let plan = khcn
        .criteria
        .iter()
        .find(|k| k.code == "plan_completion")
        .unwrap();
    let derived = plan.derived.as_ref().unwrap();
    assert_eq!(
        (derived.numerator, derived.denominator, plan.points),
        (5, 6, Some(1.0))
    );
    let survey = khcn
        .criteria
        .iter()
        .find(|k| k.code == "citizen_satisfaction")
        .unwrap();
    assert_eq!(
        (survey.status, survey.points, survey.projected),
        (Status::Missing, None, 19.772)
    );
    // The whole year's plan, as of 30 June: 5 of 11 done (the seed's "19/32, 59%" view).
    let plan_year = crate::common::values(
        &p,
        "plan_completion",
        "2023-01-01",
        "2023-12-31",
        parwatch_metrics::Bucket::Year,
        Some(KHCN),
    );
    assert_eq!(plan_year, vec![crate::common::rate("2023-01-01", 5, 11)]);

    // KH&CN over the years.
    let history: Vec<(i32, f64, f64, u32, Option<i64>)> = p
        .par_history(&models, KHCN, today)
        .iter()
        .map(|a| (a.year, a.index, a.projected, a.rank, a.change))
        .collect();
    assert_eq!(
        history,
        vec![
            (2021, 80.0, 80.0, 10, None),
            (2022, 87.303, 87.303, 4, Some(6)),
            (2023, 3.8, 87.403, 1, Some(3)),
        ]
    );
    assert!(p.par_history(&models, "nobody", today).is_empty());
}
