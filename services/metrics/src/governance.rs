//! Facts of the agencies' own PAR work — plan activities, tasks from superiors, PAR Index
//! scores — each merged independently of arrival order, like the dossier facts.
//!
//! - A plan activity is what its **latest** event says (status, due date, title): statuses move
//!   both ways (done, reopened, cancelled), and the latest word counts.
//! - A task is due when its **earliest** event says (the deadline set when it was assigned) and
//!   completed at its earliest completion time.
//! - A criterion's score is the latest official one (appraisal, inspection, survey), which
//!   supersedes the agency's self-assessment; the latest self-assessment is kept beside it.
//!
//! Ties at the same instant are broken by the values, so any arrival order gives the same facts.
//! Times are UTC microseconds.

use std::cmp::Ordering;

use parwatch_proto::{ActivityStatus, AgencyKind, Assessor, EventData};

/// The state of a plan activity: its latest event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Activity {
    /// When the latest event happened.
    pub at: i64,
    /// Its status.
    pub status: ActivityStatus,
    /// When the activity is due.
    pub due_at: i64,
    /// Year of the plan.
    pub plan_year: i32,
    /// What the activity is.
    pub title: Box<str>,
}

/// A task from a superior.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Task {
    /// (time, due date) of its earliest event: the deadline as assigned.
    pub first: Option<(i64, i64)>,
    /// Its earliest completion time.
    pub completed_at: Option<i64>,
}

impl Task {
    /// Its deadline, from the earliest event.
    pub fn due_at(&self) -> Option<i64> {
        self.first.map(|(_, due)| due)
    }

    /// Whether it was completed by its deadline (`None` while not completed).
    pub fn on_time(&self) -> Option<bool> {
        Some(self.completed_at? <= self.due_at()?)
    }
}

/// One `par.score`: who scored a criterion, how, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreFact {
    /// When it was given.
    pub at: i64,
    /// Who gave it.
    pub assessor: Assessor,
    /// Points given.
    pub score: f64,
    /// Maximum on the assessor's scale.
    pub max: f64,
    /// The kind of agency the score names, if any.
    pub agency_kind: Option<AgencyKind>,
    /// What it rests on.
    pub evidence: Option<Box<str>>,
}

impl ScoreFact {
    /// A total order: later first wins; at one instant, the values decide.
    fn order(&self, other: &Self) -> Ordering {
        (self.at, self.assessor)
            .cmp(&(other.at, other.assessor))
            .then(self.score.total_cmp(&other.score))
            .then(self.max.total_cmp(&other.max))
            .then(self.agency_kind.cmp(&other.agency_kind))
            .then(self.evidence.cmp(&other.evidence))
    }
}

/// The scores of one criterion of one agency in one year.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scored {
    /// Latest appraisal, inspection or survey score.
    pub official: Option<ScoreFact>,
    /// Latest self-assessment.
    pub self_assessed: Option<ScoreFact>,
}

impl Scored {
    /// Merges one score; keeps the latest of its standing.
    pub(crate) fn apply(&mut self, fact: ScoreFact) {
        let slot = match fact.assessor {
            Assessor::SelfAssessment => &mut self.self_assessed,
            _ => &mut self.official,
        };
        if slot
            .as_ref()
            .is_none_or(|current| fact.order(current) == Ordering::Greater)
        {
            *slot = Some(fact);
        }
    }
}

/// Identifies a score: (year, component code, criterion code).
pub(crate) type ScoreKey = (i32, Box<str>, Box<str>);

/// One governance event, reduced to what the facts need.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GovernanceFact {
    Activity(Box<str>, Activity),
    Task(Box<str>, Task),
    Score(ScoreKey, ScoreFact),
}

impl GovernanceFact {
    /// The fact of a plan, task or score event that happened at `at`, from its data as the
    /// contract reads it; `None` for the data of other types.
    pub(crate) fn of(at: i64, data: EventData) -> Option<Self> {
        Some(match data {
            EventData::PlanActivity {
                plan_year,
                activity_id,
                title,
                status,
                due_at,
            } => GovernanceFact::Activity(
                activity_id.into(),
                Activity {
                    at,
                    status,
                    due_at: due_at.timestamp_micros(),
                    plan_year,
                    title: title.into(),
                },
            ),
            EventData::DirectiveTask {
                task_id,
                due_at,
                completed_at,
                ..
            } => GovernanceFact::Task(
                task_id.into(),
                Task {
                    first: Some((at, due_at.timestamp_micros())),
                    completed_at: completed_at.map(|t| t.timestamp_micros()),
                },
            ),
            EventData::ParScore {
                year,
                component,
                criterion,
                score,
                max,
                assessor,
                agency_kind,
                evidence,
            } => GovernanceFact::Score(
                (year, component.into(), criterion.into()),
                ScoreFact {
                    at,
                    assessor,
                    score,
                    max,
                    agency_kind,
                    evidence: evidence.map(Into::into),
                },
            ),
            EventData::DossierReceived { .. }
            | EventData::OnlineApplication { .. }
            | EventData::PostalSubmission { .. }
            | EventData::DossierLate { .. }
            | EventData::DossierApology { .. }
            | EventData::DossierResolved { .. }
            | EventData::AgencyRegistered { .. }
            | EventData::AgencyRenamed { .. }
            | EventData::AgencyMerged { .. }
            | EventData::AgencySplit { .. }
            | EventData::AgencyDissolved { .. }
            | EventData::SupplementRequested { .. }
            | EventData::SupplementProvided { .. }
            | EventData::FeeRequested { .. }
            | EventData::FeePaid { .. }
            | EventData::ComponentDigitised { .. }
            | EventData::ResultIssued { .. }
            | EventData::DossierSynced { .. }
            | EventData::DossierRated { .. }
            | EventData::PetitionReceived { .. }
            | EventData::PetitionAnswered { .. }
            | EventData::ProcedureCatalogued { .. } => return None,
        })
    }
}

/// Merges a task event into a task; returns whether it changed.
pub(crate) fn merge_task(task: &mut Task, event: Task) -> bool {
    let before = *task;
    if let Some(first) = event.first
        && task.first.is_none_or(|current| first < current)
    {
        task.first = Some(first);
    }
    if let Some(done) = event.completed_at
        && task.completed_at.is_none_or(|current| done < current)
    {
        task.completed_at = Some(done);
    }
    *task != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(at: i64, assessor: Assessor, score: f64) -> ScoreFact {
        ScoreFact {
            at,
            assessor,
            score,
            max: 2.0,
            agency_kind: None,
            evidence: None,
        }
    }

    #[test]
    fn an_official_score_supersedes_self_assessment_in_any_order() {
        let events = [
            score(10, Assessor::SelfAssessment, 2.0),
            score(20, Assessor::Appraisal, 1.7),
            score(30, Assessor::SelfAssessment, 1.9),
            score(15, Assessor::Inspection, 1.5),
        ];
        let fold = |order: &[usize]| {
            let mut s = Scored::default();
            for &i in order {
                s.apply(events[i].clone());
            }
            s
        };
        let a = fold(&[0, 1, 2, 3]);
        assert_eq!(a, fold(&[3, 2, 1, 0]));
        assert_eq!(a.official.as_ref().unwrap().score, 1.7, "latest official");
        assert_eq!(a.self_assessed.as_ref().unwrap().score, 1.9, "latest self");
    }

    #[test]
    fn a_task_keeps_its_first_deadline_and_earliest_completion() {
        let mut task = Task::default();
        assert!(merge_task(
            &mut task,
            Task {
                first: Some((50, 500)),
                completed_at: Some(450)
            }
        ));
        assert!(merge_task(
            &mut task,
            Task {
                first: Some((10, 400)),
                completed_at: None
            }
        ));
        assert!(!merge_task(
            &mut task,
            Task {
                first: Some((60, 900)),
                completed_at: Some(460)
            }
        ));
        assert_eq!((task.due_at(), task.on_time()), (Some(400), Some(false)));
    }
}
