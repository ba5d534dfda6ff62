//! The listener against mocked SQS and ECS (aws-smithy-mocks): what it applies, what it
//! deletes and when, what it leaves on the queue, and a queue that can't be read while the
//! cycles go on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchOutput;
use aws_sdk_sqs::operation::receive_message::{ReceiveMessageError, ReceiveMessageOutput};
use aws_sdk_sqs::types::error::QueueDoesNotExist;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::*;
use crate::edge::tests::{TD, clusters_rule, definition_service_and_instance_rules, edge_with};
use crate::metrics::{TaskEventLabels, TaskEventOutcome};
use crate::refresher::Refresher;
use crate::resolve::Resolution;
use crate::source::{Part, PartRefresh, Refreshing, Source, SourceKind};

const QUEUE: &str = "https://sqs.us-east-1.amazonaws.com/1/ecs-task-events";
const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:1:cluster/c1";

fn task_event(cluster_arn: &str, task: &str, status: &str, version: i64) -> String {
    json!({
        "version": "0",
        "id": format!("{task}-{version}"),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "1",
        "time": "2026-11-30T17:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:ecs:us-east-1:1:task/c1/{task}")],
        "detail": {
            "clusterArn": cluster_arn,
            "taskArn": format!("arn:aws:ecs:us-east-1:1:task/c1/{task}"),
            "taskDefinitionArn": TD,
            "lastStatus": status,
            "desiredStatus": "RUNNING",
            "launchType": "FARGATE",
            "version": version,
            "attachments": [{"type": "eni", "details": [
                {"name": "privateIPv4Address", "value": "10.0.7.7"}
            ]}],
            "containers": [{"name": "app", "lastStatus": status}]
        }
    })
    .to_string()
}

fn message(receipt: &str, body: String) -> aws_sdk_sqs::types::Message {
    aws_sdk_sqs::types::Message::builder()
        .receipt_handle(receipt)
        .body(body)
        .attributes(
            aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            "1790000000000",
        )
        .build()
}

/// ReceiveMessage answers `messages` once, then nothing; DeleteMessageBatch records receipts.
fn queue_rules(
    messages: Vec<aws_sdk_sqs::types::Message>,
    deleted: Arc<Mutex<Vec<String>>>,
) -> Vec<Rule> {
    let receive = mock!(aws_sdk_sqs::Client::receive_message)
        .sequence()
        .output(move || {
            ReceiveMessageOutput::builder()
                .set_messages(Some(messages.clone()))
                .build()
        })
        .output(|| ReceiveMessageOutput::builder().build())
        .repeatedly()
        .build();
    let delete =
        mock!(aws_sdk_sqs::Client::delete_message_batch).then_compute_output(move |input| {
            deleted.lock().expect("lock").extend(
                input
                    .entries()
                    .iter()
                    .map(|e| e.receipt_handle().to_string()),
            );
            DeleteMessageBatchOutput::builder()
                .set_successful(Some(Vec::new()))
                .set_failed(Some(Vec::new()))
                .build()
                .expect("output")
        });
    vec![receive, delete]
}

fn listener(sqs_rules: &[Rule], ecs_rules: &[Rule]) -> (Listener, Arc<Metrics>) {
    let refs: Vec<&Rule> = sqs_rules.iter().collect();
    let sqs = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, &refs);
    let (edge, metrics) = edge_with(ecs_rules);
    let listener = Listener {
        queue: Queue::new(sqs, QUEUE.to_string()),
        edge,
        clusters: vec!["c1".to_string()],
        options: Options {
            fallback_metrics_path: "/metrics".to_string(),
            ..Options::default()
        },
        metrics: metrics.clone(),
    };
    (listener, metrics)
}

fn ecs_rules() -> Vec<Rule> {
    let mut rules = vec![clusters_rule()];
    rules.extend(definition_service_and_instance_rules());
    rules
}

fn outcome(metrics: &Metrics, outcome: TaskEventOutcome) -> u64 {
    metrics
        .task_events
        .get_or_create(&TaskEventLabels { outcome })
        .get()
}

#[tokio::test]
async fn tasks_are_applied_and_every_message_is_deleted_only_after_it_is_applied() {
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let messages = vec![
        message("r-running", task_event(CLUSTER_ARN, "t1", "RUNNING", 3)),
        message("r-garbage", "{\"not\": \"an event\"}".to_string()),
        message(
            "r-other",
            task_event("arn:aws:ecs:us-east-1:1:cluster/other", "t9", "RUNNING", 1),
        ),
        message("r-stopped", task_event(CLUSTER_ARN, "t2", "STOPPED", 5)),
    ];
    let (listener, metrics) = listener(&queue_rules(messages, deleted.clone()), &ecs_rules());
    let (batches, mut received) = mpsc::channel(1);
    let apply = async {
        let batch = received.recv().await.expect("a batch");
        assert!(
            deleted.lock().expect("lock").is_empty(),
            "nothing is deleted before the batch is applied"
        );
        let EventBatch { updates, applied } = batch;
        applied.send(true).expect("the listener waits");
        updates
    };
    let (done, updates) = tokio::join!(listener.receive_once(&batches), apply);
    assert!(matches!(
        done.expect("the queue answered"),
        Pass::Done {
            published_at: Some(_)
        }
    ));

    assert_eq!(updates.len(), 2, "{updates:?}");
    let Change::Running(resolution) = &updates[0].change else {
        panic!("t1 is RUNNING: {:?}", updates[0]);
    };
    assert_eq!(updates[0].part, "c1");
    assert_eq!(updates[0].version, 3);
    assert!(updates[0].sent_at.is_some());
    let addresses: Vec<&str> = resolution.targets.iter().map(|t| &*t.address).collect();
    assert_eq!(
        addresses,
        ["10.0.7.7:8080"],
        "from the event's ENI and the task definition"
    );
    assert!(updates[1].change.is_gone());
    assert_eq!(updates[1].version, 5);

    let mut deleted = deleted.lock().expect("lock").clone();
    deleted.sort();
    assert_eq!(deleted, ["r-garbage", "r-other", "r-running", "r-stopped"]);
    assert_eq!(outcome(&metrics, TaskEventOutcome::NotATaskChange), 1);
    assert_eq!(outcome(&metrics, TaskEventOutcome::OtherCluster), 1);
}

#[tokio::test]
async fn a_task_that_cannot_be_resolved_stays_on_the_queue() {
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let messages = vec![message(
        "r-running",
        task_event(CLUSTER_ARN, "t1", "RUNNING", 3),
    )];
    let definition_denied = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"AccessDeniedException","message":"denied"}"#.to_string()),
        )
        .repeatedly()
        .build();
    let (listener, metrics) = listener(
        &queue_rules(messages, deleted.clone()),
        &[clusters_rule(), definition_denied],
    );
    let (batches, mut received) = mpsc::channel(1);
    assert_eq!(
        listener
            .receive_once(&batches)
            .await
            .expect("the queue answered"),
        Pass::Done { published_at: None },
        "nothing applied"
    );
    assert!(received.try_recv().is_err(), "nothing to apply");
    assert!(
        deleted.lock().expect("lock").is_empty(),
        "the message comes back"
    );
    assert_eq!(outcome(&metrics, TaskEventOutcome::Unresolved), 1);
}

/// One cluster whose every cycle finds one target.
#[derive(Debug)]
struct Steady;

impl Source for Steady {
    fn kind(&self) -> SourceKind {
        SourceKind::Ecs
    }

    fn refresh(&mut self) -> Refreshing<'_> {
        Box::pin(async {
            let mut resolution = Resolution::default();
            resolution.targets.push(Arc::new(crate::resolve::Target {
                origin: crate::resolve::Origin::Ecs,
                interval: None,
                address: "10.0.0.1:80".into(),
                labels: crate::label_set::LabelSet::default(),
            }));
            Ok(vec![Part::new("c1", PartRefresh::Changed(resolution))])
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_queue_that_cannot_be_read_is_counted_and_discovery_goes_on_by_the_cycles() {
    let receives = Arc::new(AtomicUsize::new(0));
    let counted = receives.clone();
    let missing = mock!(aws_sdk_sqs::Client::receive_message)
        .match_requests(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            true
        })
        .sequence()
        .error(|| {
            ReceiveMessageError::QueueDoesNotExist(
                QueueDoesNotExist::builder()
                    .message("The specified queue does not exist.")
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let (listener, _) = listener(&[missing], &ecs_rules());
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let listener = Listener {
        metrics: metrics.clone(),
        ..listener
    };
    let state = Arc::new(crate::output::SharedState::default());
    let refresher = Refresher::new(vec![Box::new(Steady)], None, metrics, state.clone(), true);
    let shutdown = Shutdown::new();
    let (batches, applied) = mpsc::channel(4);
    let watch = async {
        tokio::time::sleep(Duration::from_secs(95)).await;
        shutdown.trigger();
    };
    tokio::join!(
        refresher.run(Duration::from_secs(10), shutdown.clone(), Some(applied)),
        listener.run(batches, shutdown.clone()),
        watch,
    );
    let mut text = String::new();
    encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains(r#"ecs_sd_cycles_total{result="success"} 10"#),
        "a cycle every 10 s all along: {text}"
    );
    // Backoff 1, 2, 4, 8, 16, 32, 60 s: 7 tries in 95 s, not one per poll.
    let tries = receives.load(Ordering::SeqCst);
    assert_eq!(tries, 7, "ReceiveMessage calls");
    assert!(
        text.contains(&format!(
            "ecs_sd_event_queue_failures_total{{operation=\"ReceiveMessage\"}} {tries}"
        )),
        "{text}"
    );
    assert!(state.http_sd().is_some(), "published");
}

/// The seconds (since start) at which the first four batches reach a refresher that answers
/// `published` to each, with a message waiting on every receive.
async fn first_four_batches(published: bool) -> Vec<u64> {
    let always = mock!(aws_sdk_sqs::Client::receive_message).then_output(|| {
        ReceiveMessageOutput::builder()
            .messages(message("r", task_event(CLUSTER_ARN, "t2", "STOPPED", 5)))
            .build()
    });
    let deleted = Arc::new(Mutex::new(Vec::new()));
    let mut rules = queue_rules(Vec::new(), deleted);
    rules[0] = always;
    let (listener, _) = listener(&rules, &ecs_rules());
    let (batches, mut received) = mpsc::channel::<EventBatch>(1);
    let shutdown = Shutdown::new();
    let started = Instant::now();
    let apply = async {
        let mut applied = Vec::new();
        while let Some(batch) = received.recv().await {
            applied.push(started.elapsed().as_secs());
            let _ = batch.applied.send(published);
            if applied.len() == 4 {
                shutdown.trigger();
            }
        }
        applied
    };
    // A batch already received when shutdown comes may still be applied: the first four count.
    let mut applied = tokio::join!(listener.run(batches, shutdown.clone()), apply).1;
    applied.truncate(4);
    applied
}

/// Under a steady stream of events, publications come at most once a second: each renders
/// every target, and what queues up meanwhile comes as one batch.
#[tokio::test(start_paused = true)]
async fn batches_are_published_at_most_once_a_second() {
    assert_eq!(first_four_batches(true).await, [0, 1, 2, 3]);
}

/// A batch that published nothing (a new task's PENDING) doesn't hold back the next one (its
/// RUNNING).
#[tokio::test(start_paused = true)]
async fn a_batch_that_published_nothing_holds_nothing_back() {
    assert_eq!(first_four_batches(false).await, [0, 0, 0, 0]);
}
