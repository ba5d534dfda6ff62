//! Task state changes against the refresher, with scripted sources and no AWS: published at
//! once, also while a cycle is in flight; a cycle whose snapshot is older than an event can't
//! undo it; stale and duplicate events change nothing; a cluster that kept its last good
//! result settles none of its events; and what a cycle corrects is counted as drift.

use std::collections::VecDeque;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::label_set::{Interner, LabelSet};
use crate::resolve::Origin;
use crate::source::{Part, PartRefresh, Refreshed as SourceRefreshed, Refreshing, SourceKind};
use crate::task_events::overlay::Change;

const CLUSTER: &str = "c1";

fn arn(task: &str) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/{task}")
}

/// What a cycle resolves the RUNNING `tasks` (name, last octet, version) of c1 to.
fn resolution(tasks: &[(&str, u8, i64)]) -> Resolution {
    let mut interner = Interner::default();
    let mut out = Resolution::default();
    for (task, octet, version) in tasks {
        let labels = LabelSet::from_pairs(vec![(
            interner.intern("__meta_ecs_task_arn"),
            interner.intern(&arn(task)),
        )]);
        out.targets.push(Arc::new(Target {
            origin: Origin::Ecs,
            interval: None,
            address: format!("10.0.0.{octet}:8080").into(),
            labels,
        }));
        out.running_tasks.insert(arn(task).into(), Some(*version));
    }
    out
}

fn cycle_answer(tasks: &[(&str, u8, i64)]) -> SourceRefreshed {
    Ok(vec![Part::new(
        CLUSTER,
        PartRefresh::Changed(resolution(tasks)),
    )])
}

fn running(task: &str, octet: u8, version: i64) -> Update {
    Update {
        task_arn: arn(task),
        part: CLUSTER.to_string(),
        version,
        change: Change::Running(resolution(&[(task, octet, version)])),
        sent_at: None,
    }
}

fn gone(task: &str, version: i64) -> Update {
    Update {
        task_arn: arn(task),
        part: CLUSTER.to_string(),
        version,
        change: Change::Gone,
        sent_at: None,
    }
}

/// A source whose refreshes wait for the test: each says it started, then answers what the
/// test sends.
#[derive(Debug)]
struct Gated {
    started: mpsc::UnboundedSender<()>,
    answers: mpsc::UnboundedReceiver<SourceRefreshed>,
}

impl Source for Gated {
    fn kind(&self) -> SourceKind {
        SourceKind::Ecs
    }

    fn refresh(&mut self) -> Refreshing<'_> {
        Box::pin(async move {
            let _ = self.started.send(());
            self.answers.recv().await.expect("a scripted answer")
        })
    }
}

/// A source with one scripted answer per refresh.
#[derive(Debug)]
struct Scripted(VecDeque<SourceRefreshed>);

impl Source for Scripted {
    fn kind(&self) -> SourceKind {
        SourceKind::Ecs
    }

    fn refresh(&mut self) -> Refreshing<'_> {
        let answer = self.0.pop_front().expect("a scripted answer");
        Box::pin(async move { answer })
    }
}

fn served(state: &SharedState) -> Vec<String> {
    let Some(body) = state.http_sd() else {
        return Vec::new();
    };
    let groups: Vec<serde_json::Value> =
        serde_json::from_slice(&body.expect("rendered")).expect("json");
    let mut out: Vec<String> = groups
        .iter()
        .flat_map(|g| g["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

fn ips(octets: &[u8]) -> Vec<String> {
    octets.iter().map(|o| format!("10.0.0.{o}:8080")).collect()
}

fn rendered(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).expect("encode");
    text
}

fn with_metrics() -> (Registry, Arc<Metrics>, Arc<SharedState>) {
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    (registry, metrics, Arc::new(SharedState::default()))
}

async fn apply(refresher: &mut Refresher, updates: Vec<Update>) {
    let (applied, _) = oneshot::channel();
    refresher.apply(EventBatch { updates, applied }).await;
}

#[tokio::test]
async fn an_event_is_published_at_once_and_a_slower_cycle_cannot_undo_it() {
    let (registry, metrics, state) = with_metrics();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (answers, answers_rx) = mpsc::unbounded_channel();
    let source = Gated {
        started: started_tx,
        answers: answers_rx,
    };
    let refresher = Refresher::new(vec![Box::new(source)], None, metrics, state.clone(), true);
    let (batches, batches_rx) = mpsc::channel(4);
    let shutdown = Shutdown::new();
    let run = refresher.run(
        Duration::from_millis(20),
        shutdown.clone(),
        Some(batches_rx),
    );

    let drive = async {
        started.recv().await;
        answers
            .send(cycle_answer(&[("t1", 1, 3), ("t2", 2, 3)]))
            .ok();
        // The second cycle is in flight once it has started.
        started.recv().await;
        assert_eq!(served(&state), ips(&[1, 2]));

        let (applied, was_applied) = oneshot::channel();
        let updates = vec![gone("t1", 4), running("t3", 3, 1)];
        batches.send(EventBatch { updates, applied }).await.ok();
        was_applied.await.expect("applied");
        assert_eq!(
            served(&state),
            ips(&[2, 3]),
            "published at once, while the cycle is in flight"
        );

        // The in-flight cycle's snapshot was taken before the events.
        answers
            .send(cycle_answer(&[("t1", 1, 3), ("t2", 2, 3)]))
            .ok();
        started.recv().await;
        assert_eq!(
            served(&state),
            ips(&[2, 3]),
            "a cycle older than the events neither brings t1 back nor drops t3"
        );

        // A cycle started after the events agrees with them: it settles them, no drift.
        answers
            .send(cycle_answer(&[("t2", 2, 3), ("t3", 3, 1)]))
            .ok();
        started.recv().await;
        assert_eq!(served(&state), ips(&[2, 3]));
        let text = rendered(&registry);
        assert!(
            text.contains(r#"ecs_sd_events_drift_total{change="added"} 0"#),
            "{text}"
        );

        // t4 started and t2 stopped with no event: the cycle corrects both, and counts them.
        answers
            .send(cycle_answer(&[("t3", 3, 1), ("t4", 4, 2)]))
            .ok();
        started.recv().await;
        assert_eq!(served(&state), ips(&[3, 4]));
        let text = rendered(&registry);
        assert!(
            text.contains(r#"ecs_sd_events_drift_total{change="added"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ecs_sd_events_drift_total{change="removed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ecs_sd_task_events_total{outcome="running"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"ecs_sd_task_events_total{outcome="gone"} 1"#),
            "{text}"
        );
        shutdown.trigger();
    };
    tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(run, drive) })
        .await
        .expect("the scenario ends");
}

#[tokio::test]
async fn events_older_than_what_was_applied_or_seen_change_nothing() {
    let (registry, metrics, state) = with_metrics();
    let source = Scripted([cycle_answer(&[("t1", 1, 5), ("t2", 2, 2)])].into());
    let mut refresher = Refresher::new(vec![Box::new(source)], None, metrics, state.clone(), true);

    // Before the first cycle nothing is published (http_sd answers 503), events or not.
    apply(&mut refresher, vec![running("t2", 2, 2)]).await;
    assert_eq!(state.http_sd(), None);
    refresher.cycle(true).await;
    assert_eq!(served(&state), ips(&[1, 2]));

    // The PENDING of t1 (version 4) arrives after the cycle saw it RUNNING at 5.
    apply(&mut refresher, vec![gone("t1", 4)]).await;
    assert_eq!(
        served(&state),
        ips(&[1, 2]),
        "a stale event removes nothing"
    );
    apply(&mut refresher, vec![running("t1", 1, 5)]).await;
    apply(&mut refresher, vec![running("t2", 2, 2)]).await;
    let text = rendered(&registry);
    assert!(
        text.contains(r#"ecs_sd_task_events_total{outcome="stale"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ecs_sd_task_events_total{outcome="duplicate"} 2"#),
        "{text}"
    );

    apply(&mut refresher, vec![gone("t1", 6)]).await;
    assert_eq!(served(&state), ips(&[2]));
    apply(&mut refresher, vec![running("t1", 1, 5)]).await;
    assert_eq!(
        served(&state),
        ips(&[2]),
        "an older RUNNING doesn't bring it back"
    );
}

#[tokio::test]
async fn a_cluster_that_kept_its_last_good_result_settles_none_of_its_events() {
    let (_registry, metrics, state) = with_metrics();
    let failed = crate::edge::EdgeError {
        operation: "ListTasks",
        cluster: CLUSTER.to_string(),
        message: "throttled".to_string(),
    };
    let source = Scripted(
        [
            cycle_answer(&[("t1", 1, 3)]),
            Ok(vec![Part::new(CLUSTER, PartRefresh::Failed(failed.into()))]),
            cycle_answer(&[("t1", 1, 3)]),
        ]
        .into(),
    );
    let mut refresher = Refresher::new(vec![Box::new(source)], None, metrics, state.clone(), true);
    refresher.cycle(true).await;
    apply(&mut refresher, vec![gone("t1", 4), running("t5", 5, 1)]).await;
    assert_eq!(served(&state), ips(&[5]));
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Failure);
    assert_eq!(
        served(&state),
        ips(&[5]),
        "the failed cluster's last good result is older than the events"
    );
    // A cycle that refreshed c1 settles them: its snapshot (t1 still RUNNING) wins.
    refresher.cycle(true).await;
    assert_eq!(served(&state), ips(&[1]));
}

#[tokio::test]
async fn an_event_that_changes_nothing_published_publishes_nothing() {
    let (registry, metrics, state) = with_metrics();
    let source = Scripted([cycle_answer(&[("t1", 1, 3)])].into());
    let mut refresher = Refresher::new(vec![Box::new(source)], None, metrics, state.clone(), true);
    refresher.cycle(true).await;
    let sent = |mut update: Update| {
        update.sent_at = Some(std::time::SystemTime::now());
        update
    };
    let published = |registry: &Registry| {
        let text = rendered(registry);
        text.lines()
            .find_map(|l| l.strip_prefix("ecs_sd_event_publish_delay_seconds_count "))
            .and_then(|v| v.parse::<f64>().ok())
            .expect("the delay histogram")
    };
    // A new task's PENDING: it had no targets, and still has none.
    apply(&mut refresher, vec![sent(gone("t2", 1))]).await;
    assert_eq!(published(&registry), 0.0, "nothing to publish");
    apply(&mut refresher, vec![sent(running("t2", 2, 2))]).await;
    assert_eq!(published(&registry), 1.0);
    apply(
        &mut refresher,
        vec![sent(gone("t2", 3)), sent(gone("t1", 4))],
    )
    .await;
    assert_eq!(published(&registry), 3.0, "both removals published");
    apply(&mut refresher, vec![sent(gone("t1", 5))]).await;
    assert_eq!(published(&registry), 3.0, "already removed");
    assert_eq!(served(&state), Vec::<String>::new());
}
