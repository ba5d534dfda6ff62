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

fn addresses(targets: &[Arc<Target>]) -> Vec<String> {
    let mut out: Vec<String> = targets.iter().map(|t| t.address.to_string()).collect();
    out.sort();
    out
}

fn served_addresses(state: &SharedState) -> Vec<String> {
    let body = state.http_sd().expect("published");
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
    let cli = Cli::try_parse_from([
        "ecs-discoverer",
        "--clusters",
        "c1,c2",
        "--listen",
        "off",
        "--output-dir",
        output_dir,
    ])
    .expect("flags");
    let config = Config::try_from(cli).expect("config");
    let state = Arc::new(SharedState::default());
    let mut refresher = Refresher::new(edge, &config, metrics.clone(), state.clone());

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
    let cli = Cli::try_parse_from(["ecs-discoverer", "--clusters", "c1,c2", "--listen", "off"])
        .expect("flags");
    let config = Config::try_from(cli).expect("config");
    let state = Arc::new(SharedState::default());
    let mut refresher = Refresher::new(edge, &config, metrics, state.clone());

    assert_eq!(refresher.cycle(true).await.result, CycleResult::Partial);
    assert!(
        !state.is_ready(),
        "a partial first cycle must not be served"
    );
    c2_down.store(false, Ordering::SeqCst);
    assert_eq!(refresher.cycle(true).await.result, CycleResult::Success);
    assert_eq!(served_addresses(&state).len(), 3);
}
