//! The agencies' PAR work as projected: each plan activity, task from a superior and scored
//! criterion in its latest state, folded in with its contribution to the daily counters
//! (metrics `plan_completion` and `tasks_on_time`). Part of [`crate::Projection`]; the PAR
//! Index (`par.rs`) and the governance tables read it.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::agencies::Agencies;
use crate::governance::{Activity, GovernanceFact, ScoreKey, Scored, Task, merge_task};
use crate::rollup::{Daily, contribute_activity, contribute_task};

/// Plan activities, tasks and scores of every agency, by agency id.
#[derive(Debug, Default, Clone)]
pub(crate) struct ParWork {
    /// Plan activities by (agency id, activity id).
    activities: BTreeMap<(u32, Box<str>), Activity>,
    /// Tasks from superiors by (agency id, task id).
    tasks: BTreeMap<(u32, Box<str>), Task>,
    /// PAR Index scores by (agency id, (year, component, criterion)).
    scores: BTreeMap<(u32, ScoreKey), Scored>,
}

impl ParWork {
    /// Folds one plan, task or score event of agency `id` in; old buckets of `daily` move when
    /// a fact changes.
    pub(crate) fn apply(&mut self, id: u32, fact: GovernanceFact, daily: &mut Daily) {
        match fact {
            GovernanceFact::Activity(activity_id, activity) => {
                match self.activities.entry((id, activity_id)) {
                    Entry::Vacant(slot) => {
                        contribute_activity(&activity, 1, id, daily);
                        slot.insert(activity);
                    }
                    Entry::Occupied(mut slot) if activity > *slot.get() => {
                        contribute_activity(slot.get(), -1, id, daily);
                        contribute_activity(&activity, 1, id, daily);
                        slot.insert(activity);
                    }
                    Entry::Occupied(_) => {}
                }
            }
            GovernanceFact::Task(task_id, event) => {
                let task = self.tasks.entry((id, task_id)).or_default();
                let before = *task;
                if merge_task(task, event) {
                    contribute_task(&before, -1, id, daily);
                    contribute_task(task, 1, id, daily);
                }
            }
            GovernanceFact::Score(key, score) => {
                self.scores.entry((id, key)).or_default().apply(score);
            }
        }
    }

    /// Every plan activity: (agency code, activity id, state).
    pub(crate) fn activities<'a>(
        &'a self,
        agencies: &'a Agencies,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Activity)> {
        self.activities.iter().map(|((a, id), activity)| {
            (
                agencies.codes()[*a as usize].as_str(),
                id.as_ref(),
                activity,
            )
        })
    }

    /// Every task from a superior: (agency code, task id, task).
    pub(crate) fn tasks<'a>(
        &'a self,
        agencies: &'a Agencies,
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a Task)> {
        self.tasks
            .iter()
            .map(|((a, id), task)| (agencies.codes()[*a as usize].as_str(), id.as_ref(), task))
    }

    /// Every scored criterion: (agency code, (year, component, criterion), scores).
    pub(crate) fn scores<'a>(
        &'a self,
        agencies: &'a Agencies,
    ) -> impl Iterator<Item = (&'a str, &'a ScoreKey, &'a Scored)> {
        self.scores
            .iter()
            .map(|((a, key), scored)| (agencies.codes()[*a as usize].as_str(), key, scored))
    }
}
