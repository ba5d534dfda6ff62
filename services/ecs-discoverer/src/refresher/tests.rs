//! The refresher against mocked AWS: one cluster failing keeps its last good targets while the
//! others update, in the http_sd state and in the files.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_smithy_mocks::{Rule, mock};
use clap::Parser;

use super::*;
use crate::config::Cli;
use crate::edge::tests::{
    clusters_rule, definition_service_and_instance_rules, edge_with, sdk_task_at,
};
use crate::metrics::{ClusterLabels, CycleLabels};
use crate::resolve::Origin;
use crate::source::{PartRefresh, SourceKind};

fn task_arn(cluster: &str, i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:1:task/{cluster}/{i:05}")
}

/// The address a task of the estate gets: 10.1.0.i in c1, 10.2.0.i in c2.
fn task_ip(arn: &str) -> String {
    let (rest, index) = arn.rsplit_once('/').unwrap_or_default();
    let cluster = if rest.ends_with("/c1") { 1 } else { 2 };
    format!(
        "10.{cluster}.0.{}",
        index.parse::<usize>().unwrap_or_default()
    )
}

/// Clusters c1 (with `c1_tasks` tasks) and c2 (two tasks), whose ListTasks fails with a server
/// error while `c2_down` is set.
fn two_cluster_rules(c1_tasks: Arc<AtomicUsize>, c2_down: Arc<AtomicBool>) -> Vec<Rule> {
    let clusters = clusters_rule();
    let c2_failing = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(move |input| {
            input.cluster() == Some("c2") && c2_down.load(Ordering::SeqCst)
        })
        .sequence()
        .http_status(
            500,
            Some(r#"{"__type":"ServerException","message":"internal error"}"#.to_string()),
        )
        .repeatedly()
        .build();
    let list = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |input| {
        let cluster = input.cluster().unwrap_or_default();
        let count = if cluster == "c1" {
            c1_tasks.load(Ordering::SeqCst)
        } else {
            2
        };
        ListTasksOutput::builder()
            .set_task_arns(Some((0..count).map(|i| task_arn(cluster, i)).collect()))
            .build()
    });
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(|input| {
        DescribeTasksOutput::builder()
            .set_tasks(Some(
                input
                    .tasks()
                    .iter()
                    .map(|arn| sdk_task_at(arn, &task_ip(arn)))
                    .collect(),
            ))
            .build()
    });
    let mut rules = vec![clusters, c2_failing, list, describe];
    rules.extend(definition_service_and_instance_rules());
    rules
}

/// The configuration of `ecs-discoverer <flags>`.
fn config(flags: &[&str]) -> Config {
    let cli = Cli::try_parse_from(std::iter::once("ecs-discoverer").chain(flags.iter().copied()))
        .expect("flags");
    Config::try_from(cli).expect("config")
}

/// The ECS-only refresher of `config`, publishing to a state no test reads.
fn unserved_refresher(edge: Edge, config: &Config, metrics: Arc<Metrics>) -> Refresher {
    Refresher::from_config(
        edge,
        None,
        config,
        metrics,
        Arc::new(SharedState::default()),
    )
}

fn addresses(targets: &[Arc<Target>]) -> Vec<String> {
    let mut out: Vec<String> = targets.iter().map(|t| t.address.to_string()).collect();
    out.sort();
    out
}

fn served_addresses(state: &SharedState) -> Vec<String> {
    let body = state.http_sd().expect("published").expect("rendered");
    let groups: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
    let mut out: Vec<String> = groups
        .iter()
        .flat_map(|g| g["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_failing_cluster_keeps_its_last_good_targets_while_the_others_update() {
    let c1_tasks = Arc::new(AtomicUsize::new(1));
    let c2_down = Arc::new(AtomicBool::new(false));
    let (edge, metrics) = edge_with(&two_cluster_rules(c1_tasks.clone(), c2_down.clone()));
    let dir = tempfile::tempdir().expect("temp dir");
    let output_dir = dir.path().to_str().expect("utf-8 path");
    let config = config(&[
        "--clusters",
        "c1,c2",
        "--listen",
        "off",
        "--output-dir",
        output_dir,
    ]);
    let state = Arc::new(SharedState::default());
    let mut refresher = Refresher::from_config(edge, None, &config, metrics.clone(), state.clone());

    let first = refresher.cycle(true).await;
    assert_eq!(first.result, CycleResult::Success);
    assert_eq!(
        addresses(&first.targets),
        ["10.1.0.0:8080", "10.2.0.0:8080", "10.2.0.1:8080"]
    );

    // c1 scales out while c2's API calls fail.
    c1_tasks.store(2, Ordering::SeqCst);
    c2_down.store(true, Ordering::SeqCst);
    let second = refresher.cycle(true).await;
    assert_eq!(second.result, CycleResult::Partial);
    assert_eq!(second.errors.len(), 1, "{:?}", second.errors);
    assert!(second.errors[0].contains("c2"), "{:?}", second.errors);
    let expected = [
        "10.1.0.0:8080",
        "10.1.0.1:8080",
        "10.2.0.0:8080",
        "10.2.0.1:8080",
    ];
    assert_eq!(addresses(&second.targets), expected);
    assert_eq!(served_addresses(&state), expected);
    let written = std::fs::read_to_string(dir.path().join("ecs_file_sd.json")).expect("file");
    for address in expected {
        assert!(
            written.contains(address),
            "{address} missing from {written}"
        );
    }
    let failures = metrics
        .cluster_failures
        .get_or_create(&ClusterLabels {
            cluster: "c2".to_string(),
        })
        .get();
    assert_eq!(failures, 1);

    // c2 recovers and the next cycle is a full success again.
    c2_down.store(false, Ordering::SeqCst);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
}

#[tokio::test]
async fn nothing_is_published_before_the_first_full_success() {
    let c2_down = Arc::new(AtomicBool::new(true));
    let (edge, metrics) = edge_with(&two_cluster_rules(
        Arc::new(AtomicUsize::new(1)),
        c2_down.clone(),
    ));
    let config = config(&["--clusters", "c1,c2", "--listen", "off"]);
    let state = Arc::new(SharedState::default());
    let mut refresher = Refresher::from_config(edge, None, &config, metrics, state.clone());

    assert_eq!(refresher.cycle(true).await.result, CycleResult::Partial);
    assert!(
        !state.is_ready(),
        "a partial first cycle must not be served"
    );
    c2_down.store(false, Ordering::SeqCst);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    assert_eq!(served_addresses(&state).len(), 3);
}

/// Every ListTasks fails with a server error while `down` is set.
fn every_cluster_down_rule(down: Arc<AtomicBool>) -> Rule {
    mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(move |_| down.load(Ordering::SeqCst))
        .sequence()
        .http_status(
            500,
            Some(r#"{"__type":"ServerException","message":"internal error"}"#.to_string()),
        )
        .repeatedly()
        .build()
}

fn cycles(metrics: &Metrics, result: CycleResult) -> u64 {
    metrics.cycles.get_or_create(&CycleLabels { result }).get()
}

#[tokio::test]
async fn a_total_outage_is_a_failure_and_only_a_full_success_moves_the_timestamp() {
    let all_down = Arc::new(AtomicBool::new(false));
    let c2_down = Arc::new(AtomicBool::new(false));
    let mut rules = vec![every_cluster_down_rule(all_down.clone())];
    rules.extend(two_cluster_rules(
        Arc::new(AtomicUsize::new(1)),
        c2_down.clone(),
    ));
    let (edge, metrics) = edge_with(&rules);
    let config = config(&["--clusters", "c1,c2", "--listen", "off"]);
    let mut refresher = unserved_refresher(edge, &config, metrics.clone());

    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    let succeeded_at = metrics.last_success.get();
    assert!(succeeded_at > 0.0);
    metrics.last_success.set(1.0); // so any later move shows

    c2_down.store(true, Ordering::SeqCst);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Partial);
    assert_eq!(metrics.last_success.get(), 1.0, "a partial cycle moved it");

    all_down.store(true, Ordering::SeqCst);
    let report = refresher.cycle(true).await;
    assert_eq!(report.result, CycleResult::Failure, "{:?}", report.errors);
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert_eq!(metrics.last_success.get(), 1.0, "a failed cycle moved it");
    assert_eq!(
        (
            cycles(&metrics, CycleResult::Success),
            cycles(&metrics, CycleResult::Partial),
            cycles(&metrics, CycleResult::Failure)
        ),
        (1, 1, 1)
    );
    // The targets of the last good cycle are still what is served.
    assert_eq!(addresses(&report.targets).len(), 3);

    all_down.store(false, Ordering::SeqCst);
    c2_down.store(false, Ordering::SeqCst);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    assert!(metrics.last_success.get() > 1.0);
}

#[test]
fn the_cycle_result_follows_what_refreshed() {
    // (listed, sources, refreshed)
    assert_eq!(CycleResult::of(false, 0, 0), CycleResult::Failure);
    assert_eq!(CycleResult::of(true, 0, 0), CycleResult::Success);
    assert_eq!(CycleResult::of(true, 2, 0), CycleResult::Failure);
    assert_eq!(CycleResult::of(true, 2, 1), CycleResult::Partial);
    assert_eq!(CycleResult::of(true, 2, 2), CycleResult::Success);
}

#[tokio::test]
async fn a_deleted_file_is_written_again_while_nothing_changes() {
    let (edge, metrics) = edge_with(&two_cluster_rules(
        Arc::new(AtomicUsize::new(1)),
        Arc::new(AtomicBool::new(false)),
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(&[
        "--clusters",
        "c1,c2",
        "--listen",
        "off",
        "--output-dir",
        dir.path().to_str().expect("utf-8 path"),
    ]);
    let mut refresher = unserved_refresher(edge, &config, metrics);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    let combined = dir.path().join("ecs_file_sd.json");
    let written = std::fs::read_to_string(&combined).expect("written");
    std::fs::remove_file(&combined).expect("delete");
    std::fs::remove_file(dir.path().join("30s-tasks.json")).expect("delete");

    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    assert_eq!(
        std::fs::read_to_string(&combined).expect("re-created"),
        written
    );
    assert!(dir.path().join("30s-tasks.json").exists());
}

#[tokio::test]
async fn a_cluster_gone_from_the_list_takes_its_failure_series_with_it() {
    let c2_listed = Arc::new(AtomicBool::new(true));
    let listed = c2_listed.clone();
    let list_clusters = mock!(aws_sdk_ecs::Client::list_clusters).then_compute_output(move |_| {
        let mut arns = vec!["c1".to_string()];
        if listed.load(Ordering::SeqCst) {
            arns.push("c2".to_string());
        }
        aws_sdk_ecs::operation::list_clusters::ListClustersOutput::builder()
            .set_cluster_arns(Some(arns))
            .build()
    });
    let mut rules = two_cluster_rules(
        Arc::new(AtomicUsize::new(1)),
        Arc::new(AtomicBool::new(true)),
    );
    rules.push(list_clusters);
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let (edge, _) = edge_with(&rules);
    let config = config(&["--listen", "off"]);
    let mut refresher = unserved_refresher(edge, &config, metrics);
    let rendered = |registry: &prometheus_client::registry::Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encode");
        text
    };

    assert_eq!(refresher.cycle(true).await.result, CycleResult::Partial);
    assert!(rendered(&registry).contains(r#"cluster_refresh_failures_total{cluster="c2"} 1"#));
    c2_listed.store(false, Ordering::SeqCst);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    let text = rendered(&registry);
    assert!(!text.contains(r#"cluster="c2""#), "{text}");
    assert!(
        text.contains(r#"cluster_refresh_failures_total{cluster="c1"} 0"#),
        "{text}"
    );
}

/// A source that answers what the test scripts, one answer per refresh.
#[derive(Debug)]
struct Scripted {
    kind: SourceKind,
    answers: std::collections::VecDeque<crate::source::Refreshed>,
}

impl Source for Scripted {
    fn kind(&self) -> SourceKind {
        self.kind
    }

    fn refresh(&mut self) -> crate::source::Refreshing<'_> {
        let answer = self.answers.pop_front().expect("a scripted answer");
        Box::pin(async move { answer })
    }
}

fn one_target(origin: Origin, address: &str) -> Resolution {
    Resolution {
        targets: vec![Arc::new(Target {
            origin,
            interval: None,
            address: address.into(),
            labels: crate::label_set::LabelSet::default(),
        })],
        ..Resolution::default()
    }
}

fn failed(part: &str) -> PartRefresh {
    PartRefresh::Failed(
        crate::edge::EdgeError {
            operation: "ListTasks",
            cluster: part.to_string(),
            message: "denied".to_string(),
        }
        .into(),
    )
}

fn listing_failed() -> crate::source::SourceError {
    crate::edge::EdgeError {
        operation: "ListClusters",
        cluster: "*".to_string(),
        message: "denied".to_string(),
    }
    .into()
}

/// The generic loop, with no AWS behind it: each part keeps its last good resolution, a part
/// no longer listed is dropped, a source that can't list fails the cycle but loses nothing,
/// and Cloud Map's targets come after ECS's.
#[tokio::test]
async fn each_part_keeps_its_last_good_until_it_is_no_longer_listed() {
    use crate::source::{Part, SourceKind::*};
    let ecs = Scripted {
        kind: Ecs,
        answers: [
            Ok(vec![
                Part::new(
                    "a",
                    PartRefresh::Changed(one_target(Origin::Ecs, "10.0.0.1:80")),
                ),
                Part::new(
                    "b",
                    PartRefresh::Changed(one_target(Origin::Ecs, "10.0.0.2:80")),
                ),
            ]),
            Ok(vec![
                Part::new("a", failed("a")),
                Part::new("b", PartRefresh::Unchanged),
            ]),
            Err(listing_failed()),
            Ok(vec![Part::new("b", PartRefresh::Unchanged)]),
            Ok(vec![Part::new("c", PartRefresh::Unchanged)]),
        ]
        .into(),
    };
    let cloudmap = Scripted {
        kind: CloudMap,
        answers: (0..5)
            .map(|i| {
                Ok(vec![Part::new(
                    "cloudmap",
                    if i == 1 {
                        failed("cloudmap")
                    } else {
                        PartRefresh::Changed(one_target(Origin::CloudMap, "10.9.0.1:80"))
                    },
                )])
            })
            .collect(),
    };
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(SharedState::default());
    let mut refresher = Refresher::new(
        vec![Box::new(ecs), Box::new(cloudmap)],
        None,
        metrics.clone(),
        state.clone(),
        false,
    );
    let everything = ["10.0.0.1:80", "10.0.0.2:80", "10.9.0.1:80"];

    let first = refresher.cycle(true).await;
    assert_eq!(first.result, CycleResult::Success);
    // ECS first, whatever the addresses.
    let order: Vec<Origin> = first.targets.iter().map(|t| t.origin).collect();
    assert_eq!(order, [Origin::Ecs, Origin::Ecs, Origin::CloudMap]);

    let second = refresher.cycle(true).await;
    assert_eq!(second.result, CycleResult::Partial, "{:?}", second.errors);
    assert_eq!(second.errors.len(), 2, "{:?}", second.errors);
    assert_eq!(addresses(&second.targets), everything);
    assert_eq!(metrics.cloudmap_failures.get(), 1);

    let third = refresher.cycle(true).await;
    assert_eq!(third.result, CycleResult::Failure, "a failed listing");
    assert_eq!(addresses(&third.targets), everything);

    let fourth = refresher.cycle(true).await;
    assert_eq!(fourth.result, CycleResult::Success);
    assert_eq!(addresses(&fourth.targets), ["10.0.0.2:80", "10.9.0.1:80"]);
    assert_eq!(served_addresses(&state), ["10.0.0.2:80", "10.9.0.1:80"]);

    // "Unchanged" about a part never resolved is not a refresh, and serves nothing of it.
    let fifth = refresher.cycle(true).await;
    assert_eq!(fifth.result, CycleResult::Partial, "{:?}", fifth.errors);
    assert_eq!(addresses(&fifth.targets), ["10.9.0.1:80"]);
    assert_eq!(
        (
            cycles(&metrics, CycleResult::Success),
            cycles(&metrics, CycleResult::Partial),
            cycles(&metrics, CycleResult::Failure)
        ),
        (2, 2, 1)
    );
}
