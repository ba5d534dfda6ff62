//! What task state change events said since the cycles last looked, per task, ordered by ECS's
//! task `version`.
//!
//! A cycle's snapshot is taken over the cycle's duration, so an event applied after a cycle
//! started may be newer than what that snapshot saw: it stays over the snapshot until a cycle
//! that started after it settles it. An event applied before a cycle started is settled by
//! that cycle, whose snapshot saw that state or a newer one, if that cycle refreshed the task's
//! cluster (a cluster that kept its last good result settles nothing). So a slow cycle can't
//! bring back a task an event removed, and a task an event added isn't dropped by a snapshot
//! older than it.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// How long a settled removal is remembered, so an older event for the task delivered late
/// (SQS doesn't keep order) can't bring it back between cycles.
pub const REMOVAL_MEMORY: Duration = Duration::from_secs(600);

/// What the events say of a task, with what a RUNNING task resolved to (`T`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// RUNNING, as the event describes it.
    Running(T),
    /// Stopped, stopping, or not yet running: no target.
    Gone,
}

/// One event's identity: which task, in which part (the cluster as the discoverer names it),
/// at which of ECS's versions.
#[derive(Debug, Clone, Copy)]
pub struct EventKey<'a> {
    pub task_arn: &'a str,
    pub part: &'a str,
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub part: String,
    pub version: i64,
    pub applied_at: Instant,
    pub change: Change<T>,
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The task is RUNNING by this event.
    Running,
    /// The task is no target by this event.
    Gone,
    /// Older than a version already applied or seen by a cycle: nothing changed.
    Stale,
    /// The version already applied or seen: nothing changed.
    Duplicate,
}

#[derive(Debug)]
pub struct Overlay<T> {
    tasks: HashMap<String, Entry<T>>,
    /// Settled removals: the version that removed the task, and when it was settled.
    removed: HashMap<String, (i64, Instant)>,
}

impl<T> Default for Overlay<T> {
    fn default() -> Self {
        Self {
            tasks: HashMap::new(),
            removed: HashMap::new(),
        }
    }
}

impl<T> Overlay<T> {
    /// Applies an event, unless a version at least as new was applied, was seen by a cycle
    /// (`seen_version`, from the last good snapshot), or removed the task recently.
    pub fn apply(
        &mut self,
        key: EventKey<'_>,
        change: Change<T>,
        seen_version: Option<i64>,
        now: Instant,
    ) -> Applied {
        let newest = self
            .tasks
            .get(key.task_arn)
            .map(|e| e.version)
            .max(seen_version)
            .max(self.removed.get(key.task_arn).map(|(v, _)| *v));
        match newest {
            Some(version) if key.version < version => return Applied::Stale,
            Some(version) if key.version == version => return Applied::Duplicate,
            _ => {}
        }
        let applied = match change {
            Change::Running(_) => Applied::Running,
            Change::Gone => Applied::Gone,
        };
        self.tasks.insert(
            key.task_arn.to_string(),
            Entry {
                part: key.part.to_string(),
                version: key.version,
                applied_at: now,
                change,
            },
        );
        applied
    }

    /// A cycle that started at `started` completed, and refreshed the parts for which
    /// `refreshed` is true: the entries of those parts applied before it started are settled
    /// (its snapshot saw them, or newer) and returned, by task ARN, so the caller can count
    /// where the snapshot disagreed with them. Entries of a part that kept its last good
    /// result stay. Removals are remembered for [`REMOVAL_MEMORY`].
    pub fn settle(
        &mut self,
        started: Instant,
        refreshed: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Vec<(String, Entry<T>)> {
        self.removed
            .retain(|_, (_, settled_at)| now.duration_since(*settled_at) < REMOVAL_MEMORY);
        let settled: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, e)| e.applied_at < started && refreshed(&e.part))
            .map(|(arn, _)| arn.clone())
            .collect();
        let settled: Vec<(String, Entry<T>)> = settled
            .into_iter()
            .filter_map(|arn| self.tasks.remove_entry(&arn))
            .collect();
        for (arn, entry) in &settled {
            if entry.change.is_gone() {
                self.removed.insert(arn.clone(), (entry.version, now));
            }
        }
        settled
    }

    /// What the events say of `task_arn`, while not settled.
    pub fn get(&self, task_arn: &str) -> Option<&Entry<T>> {
        self.tasks.get(task_arn)
    }

    /// Every unsettled entry, by task ARN.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry<T>)> {
        self.tasks.iter().map(|(arn, e)| (arn.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl<T> Change<T> {
    pub fn is_gone(&self) -> bool {
        matches!(self, Change::Gone)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const PART: &str = "c1";

    fn key(arn: &str, version: i64) -> EventKey<'_> {
        EventKey {
            task_arn: arn,
            part: PART,
            version,
        }
    }

    fn running() -> Change<&'static str> {
        Change::Running("targets")
    }

    #[tokio::test(start_paused = true)]
    async fn later_versions_win_and_older_ones_or_repeats_change_nothing() {
        let mut overlay = Overlay::default();
        let now = Instant::now();
        assert_eq!(
            overlay.apply(key("t1", 3), running(), None, now),
            Applied::Running
        );
        assert_eq!(
            overlay.apply(key("t1", 3), running(), None, now),
            Applied::Duplicate
        );
        // Delivered out of order: the PENDING that came before RUNNING arrives late.
        assert_eq!(
            overlay.apply(key("t1", 2), Change::Gone, None, now),
            Applied::Stale
        );
        assert!(matches!(
            overlay.get("t1").map(|e| &e.change),
            Some(Change::Running(_))
        ));
        assert_eq!(
            overlay.apply(key("t1", 5), Change::Gone, None, now),
            Applied::Gone
        );
        assert_eq!(
            overlay.apply(key("t1", 4), running(), None, now),
            Applied::Stale,
            "a removed task doesn't come back from an older event"
        );
        assert_eq!(overlay.get("t1").map(|e| &e.change), Some(&Change::Gone));
    }

    #[tokio::test(start_paused = true)]
    async fn a_version_a_cycle_already_saw_is_not_applied_again() {
        let mut overlay = Overlay::default();
        let now = Instant::now();
        assert_eq!(
            overlay.apply(key("t1", 4), running(), Some(4), now),
            Applied::Duplicate
        );
        assert_eq!(
            overlay.apply(key("t1", 3), Change::Gone, Some(4), now),
            Applied::Stale,
            "a late PENDING doesn't remove a task the cycle saw RUNNING"
        );
        assert!(overlay.is_empty());
        assert_eq!(
            overlay.apply(key("t1", 5), Change::Gone, Some(4), now),
            Applied::Gone,
            "leaving RUNNING removes the task"
        );
    }

    /// A cycle that started before an event can't undo it; one that started after settles it,
    /// unless it kept the cluster's last good result.
    #[tokio::test(start_paused = true)]
    async fn only_a_cycle_started_after_an_event_and_refreshing_its_cluster_settles_it() {
        let mut overlay = Overlay::default();
        let slow_cycle_started = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        overlay.apply(key("t1", 7), Change::Gone, None, Instant::now());
        overlay.apply(key("t2", 2), running(), None, Instant::now());
        let everything = |_: &str| true;
        assert!(
            overlay
                .settle(slow_cycle_started, everything, Instant::now())
                .is_empty(),
            "the slow cycle settles nothing"
        );
        assert_eq!(overlay.len(), 2);
        assert_eq!(overlay.entries().count(), 2);

        tokio::time::advance(Duration::from_secs(1)).await;
        let failed_cycle_started = Instant::now();
        assert!(
            overlay
                .settle(failed_cycle_started, |part| part != PART, Instant::now())
                .is_empty(),
            "a cycle that kept c1's last good result settles nothing of c1"
        );

        let next_cycle_started = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut settled: Vec<String> = overlay
            .settle(next_cycle_started, everything, Instant::now())
            .into_iter()
            .map(|(arn, _)| arn)
            .collect();
        settled.sort();
        assert_eq!(settled, ["t1", "t2"]);
        assert!(overlay.is_empty());
    }

    /// SQS doesn't keep order: the RUNNING of a task that already stopped may come after the
    /// cycle that settled its removal.
    #[tokio::test(start_paused = true)]
    async fn a_settled_removal_is_remembered_for_a_while() {
        let mut overlay = Overlay::default();
        overlay.apply(key("t1", 6), Change::Gone, None, Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        overlay.settle(Instant::now(), |_| true, Instant::now());
        assert!(overlay.is_empty());
        assert_eq!(
            overlay.apply(key("t1", 4), running(), None, Instant::now()),
            Applied::Stale,
            "the late RUNNING doesn't bring the stopped task back"
        );
        tokio::time::advance(REMOVAL_MEMORY).await;
        overlay.settle(Instant::now(), |_| true, Instant::now());
        assert_eq!(
            overlay.apply(key("t1", 4), running(), None, Instant::now()),
            Applied::Running,
            "the memory is bounded in time"
        );
    }
}
