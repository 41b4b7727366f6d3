//! The agencies' PAR work: who does it each year, what it looks like, that it is the same in
//! every run of a seed, and that through the real lake and projections it gives every scored
//! agency a complete, plausible PAR Index with ranks that move from year to year.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use parwatch_proto::{AgencyKind, Assessor, EventData, EventType, TaskStatus, validate};
use parwatch_scoring::{Models, Status};
use parwatch_simulator::{Generator, Mode, SimEvent, SimOptions};

use crate::sample::{date, folded, two_years, year};

/// The agencies' events planned a year at a time (PAR work, registry, petitions): not those of
/// dossiers, nor the catalogue facts a backfill states at its start.
fn is_governance(event: &SimEvent) -> bool {
    let ty = event.subject.strip_prefix(parwatch_proto::SUBJECT_PREFIX);
    ty.and_then(EventType::parse)
        .is_some_and(|t| !t.needs_dossier() && t != EventType::ProcedureCatalogued)
}

#[test]
fn the_agencies_of_each_year_do_their_par_work() {
    let sample = year(2025);
    let province = sample.generator.province();
    let kinds: HashMap<&str, AgencyKind> = province
        .agencies()
        .iter()
        .map(|a| (a.code.as_str(), a.kind))
        .collect();
    let mut agencies: BTreeMap<AgencyKind, BTreeSet<&str>> = BTreeMap::new();
    let mut tasks: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut scores: HashMap<(&str, Assessor), usize> = HashMap::new();
    for event in &sample.events {
        let agency = &*event.agency_code;
        match &event.data {
            EventData::ParScore {
                year,
                assessor,
                agency_kind,
                ..
            } => {
                assert_eq!(*year, 2025);
                assert_eq!(*agency_kind, Some(kinds[agency]));
                *scores.entry((agency, *assessor)).or_default() += 1;
            }
            EventData::PlanActivity { plan_year, .. } => assert_eq!(*plan_year, 2025),
            EventData::DirectiveTask {
                status: TaskStatus::Completed,
                due_at,
                completed_at,
                ..
            } => {
                let entry = tasks.entry(agency).or_default();
                entry.0 += 1;
                entry.1 += usize::from(completed_at.unwrap() <= *due_at);
            }
            _ => continue,
        }
        agencies.entry(kinds[agency]).or_default().insert(agency);
    }
    // After the reorganisation: 13 departments, the 40 new communes, no district.
    assert_eq!(agencies[&AgencyKind::Department].len(), 13);
    assert_eq!(agencies[&AgencyKind::Commune].len(), 40);
    assert!(!agencies.contains_key(&AgencyKind::District));
    let models = Models::builtin();
    for (kind, codes) in &agencies {
        let rubric = models.rubric(*kind, 2025).unwrap();
        let scored = rubric
            .criteria()
            .filter(|(_, k)| k.derived.is_none())
            .count();
        let surveyed = rubric
            .criteria()
            .filter(|(_, k)| k.assessed_by == Assessor::Survey)
            .count();
        for code in codes {
            let n = |a| scores.get(&(*code, a)).copied().unwrap_or(0);
            assert_eq!(n(Assessor::Appraisal), scored - surveyed, "{code}");
            assert_eq!(n(Assessor::SelfAssessment), scored - surveyed, "{code}");
            assert_eq!(n(Assessor::Survey), surveyed, "{code}");
        }
    }
    // Agencies differ in how many tasks they complete on time.
    let shares: Vec<f64> = tasks
        .values()
        .map(|&(done, on_time)| on_time as f64 / done as f64)
        .collect();
    let (lo, hi) = shares
        .iter()
        .fold((1.0f64, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    assert!(lo < 0.85 && hi > 0.95, "on-time shares {lo}..{hi}");
}

#[test]
fn the_same_work_in_every_run_of_a_seed() {
    let governance = |options: SimOptions| -> Vec<SimEvent> {
        Generator::new(&options)
            .unwrap()
            .filter(is_governance)
            .collect()
    };
    let december = |from| SimOptions {
        scale: 20,
        ..SimOptions::backfill(9, from, date(2025, 12, 31))
    };
    let whole = governance(december(date(2025, 12, 1)));
    let later = governance(december(date(2025, 12, 10)));
    assert!(later.len() > 500, "appraisals in December: {}", later.len());
    let start = later[0].occurred_at;
    let tail: Vec<&SimEvent> = whole.iter().filter(|e| e.occurred_at >= start).collect();
    assert_eq!(tail, later.iter().collect::<Vec<_>>());
    // A live run over the same days publishes the same events, ids included.
    let live = governance(SimOptions {
        mode: Mode::Live {
            start: start.to_utc(),
            rate: 0.01,
            duration: Duration::from_secs(22 * 86_400),
        },
        ..december(date(2025, 12, 10))
    });
    assert_eq!(live, later);
    for event in &later {
        let parsed = validate(event.subject, &event.body).unwrap();
        assert!(matches!(
            parsed.event_type(),
            EventType::ParScore
                | EventType::PlanActivity
                | EventType::DirectiveTask
                | EventType::PetitionReceived
                | EventType::PetitionAnswered
        ));
    }
}

#[test]
fn the_demo_province_gets_a_complete_plausible_index() {
    let sample = two_years();
    let (_tmp, projector) = folded(&sample.events);
    let models = parwatch_metrics::load_models(None).unwrap();
    let index = projector
        .rollups()
        .par_index(&models, 2024, date(2025, 3, 1));
    let of = |kind| index.agencies.iter().filter(|a| a.kind == kind).count();
    assert_eq!(
        (of(AgencyKind::Department), of(AgencyKind::District)),
        (18, 8)
    );
    let (mut changes, mut complete) = (0, 0);
    for agency in &index.agencies {
        let code = &agency.agency_code;
        // Only a live metric with nothing to measure (no late dossier to apologise for, say)
        // leaves a criterion missing.
        let rubric = models.rubric(agency.kind, 2024).unwrap();
        for k in agency
            .criteria
            .iter()
            .filter(|k| k.status == Status::Missing)
        {
            let (_, criterion) = rubric.criteria().find(|(_, c)| c.code == k.code).unwrap();
            assert!(criterion.derived.is_some(), "{code}: {} missing", k.code);
        }
        complete += usize::from(agency.complete);
        assert!(
            (60.0..100.0).contains(&agency.projected),
            "{code}: {}",
            agency.projected
        );
        assert!(agency.unknown_criteria.is_empty(), "{code}");
        assert!(agency.previous_rank.is_some(), "{code} was ranked in 2023");
        changes += usize::from(agency.change != Some(0));
        let tasks = agency
            .criteria
            .iter()
            .find(|k| k.code == "superior_tasks")
            .unwrap();
        assert_eq!(tasks.status, Status::Derived, "{code}");
        assert!(tasks.derived.as_ref().unwrap().denominator >= 25, "{code}");
        // The appraisal of December supersedes the self-assessment.
        for k in agency.criteria.iter().filter(|k| k.self_assessed.is_some()) {
            assert_eq!(
                k.official.as_ref().map(|s| s.assessor),
                Some(Assessor::Appraisal),
                "{code} {}",
                k.code
            );
        }
    }
    assert!(
        changes >= 10,
        "ranks move from year to year: {changes} changed"
    );
    assert!(complete >= 20, "{complete} of 26 complete");
    let indices: BTreeSet<u64> = index
        .agencies
        .iter()
        .map(|a| (a.index * 1000.0) as u64)
        .collect();
    assert!(indices.len() >= 20, "agencies score differently");
}
