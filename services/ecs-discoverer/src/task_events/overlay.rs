//! What task state change events said since the cycles last looked, per task, ordered by ECS's
//! task `version`.
//!
//! A cycle's snapshot is taken over the cycle's duration, so an event applied after a cycle
//! started may be newer than what that snapshot saw: it stays over the snapshot until a cycle
//! that started after it settles it. An event applied before a cycle started is settled by
//! that cycle, whose snapshot saw that state or a newer one. So a slow cycle can't bring back a
//! task an event removed, and a task an event added isn't dropped by a snapshot older than it.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::time::Instant;

use crate::model::Task;

use super::TaskStateChange;

/// What the events say of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// RUNNING, as the event describes it.
    Running(Arc<Task>),
    /// Stopped, stopping, or not yet running: no target.
    Gone,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub cluster_arn: String,
    pub version: i64,
    pub applied_at: Instant,
    pub change: Change,
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

#[derive(Debug, Default)]
pub struct Overlay {
    tasks: HashMap<String, Entry>,
}

impl Overlay {
    /// Applies `event`, unless a version at least as new was applied, or was seen by a cycle
    /// (`seen_version`, from the last good snapshot).
    pub fn apply(
        &mut self,
        event: TaskStateChange,
        seen_version: Option<i64>,
        now: Instant,
    ) -> Applied {
        let newest = self
            .tasks
            .get(&event.task.arn)
            .map(|e| e.version)
            .max(seen_version);
        match newest {
            Some(version) if event.version < version => return Applied::Stale,
            Some(version) if event.version == version => return Applied::Duplicate,
            _ => {}
        }
        let (change, applied) = if event.is_running() {
            (
                Change::Running(Arc::new(event.task.clone())),
                Applied::Running,
            )
        } else {
            (Change::Gone, Applied::Gone)
        };
        self.tasks.insert(
            event.task.arn,
            Entry {
                cluster_arn: event.cluster_arn,
                version: event.version,
                applied_at: now,
                change,
            },
        );
        applied
    }

    /// A cycle that started at `started` completed: the entries applied before then are settled
    /// (its snapshot saw them, or newer) and returned, by task ARN, so the caller can count
    /// where the snapshot disagreed with them.
    pub fn settle(&mut self, started: Instant) -> Vec<(String, Entry)> {
        let settled: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, e)| e.applied_at < started)
            .map(|(arn, _)| arn.clone())
            .collect();
        settled
            .into_iter()
            .filter_map(|arn| self.tasks.remove_entry(&arn))
            .collect()
    }

    /// What the events say of `task_arn`, while not settled.
    pub fn get(&self, task_arn: &str) -> Option<&Entry> {
        self.tasks.get(task_arn)
    }

    /// Every unsettled entry of `cluster_arn`.
    pub fn of_cluster<'a>(
        &'a self,
        cluster_arn: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Entry)> + 'a {
        self.tasks
            .iter()
            .filter(move |(_, e)| e.cluster_arn == cluster_arn)
            .map(|(arn, e)| (arn.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::TaskStatus;

    fn change(arn: &str, status: TaskStatus, version: i64) -> TaskStateChange {
        TaskStateChange {
            cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/c1".into(),
            task: Task {
                arn: arn.into(),
                last_status: status,
                version: Some(version),
                ..Task::default()
            },
            version,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn later_versions_win_and_older_ones_or_repeats_change_nothing() {
        let mut overlay = Overlay::default();
        let now = Instant::now();
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Running, 3), None, now),
            Applied::Running
        );
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Running, 3), None, now),
            Applied::Duplicate
        );
        // Delivered out of order: the PENDING that came before RUNNING arrives late.
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Pending, 2), None, now),
            Applied::Stale
        );
        assert!(matches!(
            overlay.get("t1").map(|e| &e.change),
            Some(Change::Running(_))
        ));
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Stopped, 5), None, now),
            Applied::Gone
        );
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Running, 4), None, now),
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
            overlay.apply(change("t1", TaskStatus::Running, 4), Some(4), now),
            Applied::Duplicate
        );
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Running, 3), Some(4), now),
            Applied::Stale
        );
        assert!(overlay.is_empty());
        assert_eq!(
            overlay.apply(change("t1", TaskStatus::Deactivating, 5), Some(4), now),
            Applied::Gone,
            "leaving RUNNING removes the task"
        );
    }

    /// A cycle that started before an event can't undo it; one that started after settles it.
    #[tokio::test(start_paused = true)]
    async fn only_a_cycle_started_after_an_event_settles_it() {
        let mut overlay = Overlay::default();
        let slow_cycle_started = Instant::now();
        tokio::time::advance(Duration::from_secs(1)).await;
        overlay.apply(change("t1", TaskStatus::Stopped, 7), None, Instant::now());
        overlay.apply(change("t2", TaskStatus::Running, 2), None, Instant::now());
        assert!(
            overlay.settle(slow_cycle_started).is_empty(),
            "the slow cycle settles nothing"
        );
        assert_eq!(overlay.len(), 2);
        assert_eq!(
            overlay
                .of_cluster("arn:aws:ecs:us-east-1:123456789012:cluster/c1")
                .count(),
            2
        );
        assert_eq!(overlay.of_cluster("other").count(), 0);

        tokio::time::advance(Duration::from_secs(1)).await;
        let next_cycle_started = Instant::now();
        let mut settled: Vec<String> = overlay
            .settle(next_cycle_started)
            .into_iter()
            .map(|(arn, _)| arn)
            .collect();
        settled.sort();
        assert_eq!(settled, ["t1", "t2"]);
        assert!(overlay.is_empty());
    }
}
