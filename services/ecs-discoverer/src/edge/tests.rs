//! The AWS edge against `aws-smithy-mocks`: pagination, batching, caching, throttling, failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput;
use aws_sdk_ecs::operation::describe_container_instances::DescribeContainerInstancesOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::types as ecs;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;
use crate::metrics::OperationLabels;
use crate::model::TaskStatus;

pub(crate) const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/app:1";

pub(crate) fn task_arn(i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:1:task/c1/{i:05}")
}

pub(crate) fn sdk_task(arn: &str) -> ecs::Task {
    sdk_task_at(arn, "10.0.0.9")
}

/// A RUNNING awsvpc task of the `app` task definition (service `web`) on ENI address `ip`.
pub(crate) fn sdk_task_at(arn: &str, ip: &str) -> ecs::Task {
    ecs::Task::builder()
        .task_arn(arn)
        .task_definition_arn(TD)
        .last_status("RUNNING")
        .launch_type(ecs::LaunchType::Fargate)
        .group("service:web")
        .attachments(
            ecs::Attachment::builder()
                .r#type("ElasticNetworkInterface")
                .details(
                    ecs::KeyValuePair::builder()
                        .name("privateIPv4Address")
                        .value(ip)
                        .build(),
                )
                .build(),
        )
        .containers(ecs::Container::builder().name("app").build())
        .build()
}

/// Rules for an estate of `n` awsvpc tasks in cluster c1; ListTasks pages hold 100 ARNs.
fn estate_rules(n: usize, describe_batches: Arc<AtomicUsize>) -> Vec<Rule> {
    let clusters = mock!(aws_sdk_ecs::Client::describe_clusters).then_output(|| {
        DescribeClustersOutput::builder()
            .clusters(
                ecs::Cluster::builder()
                    .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/c1")
                    .cluster_name("c1")
                    .status("ACTIVE")
                    .build(),
            )
            .build()
    });
    let list = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |input| {
        let start: usize = input.next_token().map_or(0, |t| t.parse().unwrap_or(0));
        let size = input.max_results().unwrap_or(100) as usize;
        let end = (start + size).min(n);
        let mut out =
            ListTasksOutput::builder().set_task_arns(Some((start..end).map(task_arn).collect()));
        if end < n {
            out = out.next_token(end.to_string());
        }
        out.build()
    });
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |input| {
        let arns = input.tasks();
        assert!(arns.len() <= 100, "DescribeTasks batch of {}", arns.len());
        describe_batches.fetch_add(1, Ordering::SeqCst);
        DescribeTasksOutput::builder()
            .set_tasks(Some(arns.iter().map(|a| sdk_task(a)).collect()))
            .build()
    });
    let [definition, services, instances] = definition_service_and_instance_rules();
    vec![clusters, list, describe, definition, services, instances]
}

/// The answer for task definition `app` at `arn`: one container `app`, marked by the
/// environment convention (PROMETHEUS=true), port 8080.
pub(crate) fn app_definition(
    arn: &str,
    revision: i32,
    network_mode: ecs::NetworkMode,
) -> DescribeTaskDefinitionOutput {
    DescribeTaskDefinitionOutput::builder()
        .task_definition(
            ecs::TaskDefinition::builder()
                .task_definition_arn(arn)
                .family("app")
                .revision(revision)
                .network_mode(network_mode)
                .container_definitions(
                    ecs::ContainerDefinition::builder()
                        .name("app")
                        .environment(
                            ecs::KeyValuePair::builder()
                                .name("PROMETHEUS")
                                .value("true")
                                .build(),
                        )
                        .port_mappings(ecs::PortMapping::builder().container_port(8080).build())
                        .build(),
                )
                .build(),
        )
        .build()
}

/// The task definition `app` (awsvpc, environment convention, port 8080), service `web` with tag
/// team=obs, and no container instances.
pub(crate) fn definition_service_and_instance_rules() -> [Rule; 3] {
    let definition = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .then_output(|| app_definition(TD, 1, ecs::NetworkMode::Awsvpc));
    let services = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .services(
                ecs::Service::builder()
                    .service_name("web")
                    .tags(ecs::Tag::builder().key("team").value("obs").build())
                    .build(),
            )
            .build()
    });
    let instances = mock!(aws_sdk_ecs::Client::describe_container_instances)
        .then_output(|| DescribeContainerInstancesOutput::builder().build());
    [definition, services, instances]
}

/// DescribeClusters answering every cluster asked for (by name) as ACTIVE.
pub(crate) fn clusters_rule() -> Rule {
    mock!(aws_sdk_ecs::Client::describe_clusters).then_compute_output(|input| {
        DescribeClustersOutput::builder()
            .set_clusters(Some(
                input
                    .clusters()
                    .iter()
                    .map(|name| {
                        ecs::Cluster::builder()
                            .cluster_arn(format!("arn:aws:ecs:us-east-1:1:cluster/{name}"))
                            .cluster_name(name)
                            .status("ACTIVE")
                            .build()
                    })
                    .collect(),
            ))
            .build()
    })
}

/// DescribeContainerInstances answering each container instance asked for, on EC2 instance
/// `ec2_instance_id(arn)`.
pub(crate) fn container_instances_rule(
    ec2_instance_id: impl Fn(&str) -> String + Send + Sync + 'static,
) -> Rule {
    mock!(aws_sdk_ecs::Client::describe_container_instances).then_compute_output(move |input| {
        DescribeContainerInstancesOutput::builder()
            .set_container_instances(Some(
                input
                    .container_instances()
                    .iter()
                    .map(|arn| {
                        ecs::ContainerInstance::builder()
                            .container_instance_arn(arn)
                            .ec2_instance_id(ec2_instance_id(arn))
                            .build()
                    })
                    .collect(),
            ))
            .build()
    })
}

pub(crate) fn edge_with(rules: &[Rule]) -> (Edge, Arc<Metrics>) {
    edge_with_ec2(rules, &[])
}

fn edge_with_ec2(rules: &[Rule], ec2_rules: &[Rule]) -> (Edge, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let recorder = ApiCallRecorder {
        metrics: metrics.clone(),
    };
    // As `clients()` builds them: the call recorder and patient retries (but quick backoff).
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(1));
    let refs: Vec<&Rule> = rules.iter().collect();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &refs, |b| b
        .interceptor(recorder.clone())
        .retry_config(retry.clone()));
    let ec2_refs: Vec<&Rule> = ec2_rules.iter().collect();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &ec2_refs, |b| b
        .interceptor(recorder.clone())
        .retry_config(retry.clone()));
    let limiter = Arc::new(RateLimiter::with_limits(|_| (1e9, 1e9)));
    (
        Edge::new(ecs, ec2, limiter, metrics.clone(), Duration::from_secs(300)),
        metrics,
    )
}

fn calls(metrics: &Metrics) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for op in [
        "ListTasks",
        "DescribeTasks",
        "DescribeTaskDefinition",
        "DescribeServices",
        "DescribeClusters",
        "DescribeContainerInstances",
    ] {
        let labels = OperationLabels {
            service: "ECS".to_string(),
            operation: op.to_string(),
        };
        let n = metrics.api_calls.get_or_create(&labels).get();
        if n > 0 {
            out.insert(op.to_string(), n);
        }
    }
    out
}

#[tokio::test]
async fn cold_cycle_paginates_and_batches_then_warm_cycle_only_lists() {
    let batches = Arc::new(AtomicUsize::new(0));
    let (edge, metrics) = edge_with(&estate_rules(250, batches.clone()));
    let snapshot = edge.snapshot("c1").await.expect("cold cycle");
    assert_eq!(snapshot.tasks.len(), 250);
    assert_eq!(
        snapshot.service_tags["web"].get("team").map(String::as_str),
        Some("obs")
    );
    assert_eq!(
        calls(&metrics),
        BTreeMap::from([
            ("DescribeClusters".to_string(), 1),
            ("DescribeServices".to_string(), 1),
            ("DescribeTaskDefinition".to_string(), 1),
            ("DescribeTasks".to_string(), 3),
            ("ListTasks".to_string(), 3),
        ])
    );
    assert_eq!(batches.load(Ordering::SeqCst), 3);

    let warm = edge.snapshot("c1").await.expect("warm cycle");
    assert_eq!(warm.tasks.len(), 250);
    let after = calls(&metrics);
    assert_eq!(
        after["ListTasks"], 6,
        "a warm cycle is ⌈250/100⌉ = 3 ListTasks"
    );
    assert_eq!(
        after["DescribeTasks"], 3,
        "no DescribeTasks on a warm cycle"
    );
    assert_eq!(after["DescribeTaskDefinition"], 1);
    assert_eq!(after["DescribeServices"], 1);
    assert_eq!(after["DescribeClusters"], 1);
}

#[tokio::test]
async fn a_throttling_storm_is_retried_and_the_cycle_completes() {
    let mut rules = estate_rules(5, Arc::new(AtomicUsize::new(0)));
    let throttled = mock!(aws_sdk_ecs::Client::list_tasks)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string()),
        )
        .times(4)
        .output(|| {
            ListTasksOutput::builder()
                .set_task_arns(Some((0..5).map(task_arn).collect()))
                .build()
        })
        .build();
    rules.insert(0, throttled);
    let (edge, metrics) = edge_with(&rules);
    let snapshot = edge
        .snapshot("c1")
        .await
        .expect("completes despite throttling");
    assert_eq!(snapshot.tasks.len(), 5);
    let labels = OperationLabels {
        service: "ECS".into(),
        operation: "ListTasks".into(),
    };
    assert_eq!(metrics.api_throttled.get_or_create(&labels).get(), 4);
    assert_eq!(metrics.api_calls.get_or_create(&labels).get(), 5);
}

#[tokio::test]
async fn a_pending_task_is_described_again_until_running() {
    let pending = mock!(aws_sdk_ecs::Client::describe_tasks)
        .sequence()
        .output(|| {
            let mut task = sdk_task(&task_arn(0));
            task.last_status = Some("PENDING".to_string());
            DescribeTasksOutput::builder().tasks(task).build()
        })
        .build();
    let mut rules = estate_rules(1, Arc::new(AtomicUsize::new(0)));
    rules.insert(0, pending);
    let (edge, metrics) = edge_with(&rules);
    assert_eq!(
        edge.snapshot("c1").await.expect("cycle").tasks[0].last_status,
        TaskStatus::Pending
    );
    assert_eq!(
        edge.snapshot("c1").await.expect("cycle").tasks[0].last_status,
        TaskStatus::Running
    );
    edge.snapshot("c1").await.expect("cycle");
    assert_eq!(
        calls(&metrics)["DescribeTasks"],
        2,
        "described while PENDING and once RUNNING, then cached"
    );
}

#[tokio::test]
async fn a_refresh_with_nothing_to_describe_is_unchanged() {
    let (edge, metrics) = edge_with(&estate_rules(5, Arc::new(AtomicUsize::new(0))));
    let Refresh::Changed(draft) = edge.refresh("c1").await.expect("cold") else {
        panic!("a cold refresh has something to describe");
    };
    assert_eq!(draft.snapshot.tasks.len(), 5);
    edge.finish(vec![*draft]).await;
    let cold = calls(&metrics);
    assert!(matches!(
        edge.refresh("c1").await.expect("warm"),
        Refresh::Unchanged
    ));
    let warm = calls(&metrics);
    assert_eq!(warm["ListTasks"], cold["ListTasks"] + 1);
    assert_eq!(
        warm.values().sum::<u64>(),
        cold.values().sum::<u64>() + 1,
        "a warm refresh is one ListTasks"
    );
}

/// Clusters c1, c2 and c3: in c1 and c2 one EC2 task on a container instance (EC2 instance
/// `i-<cluster>`), in c3 one Fargate task. DescribeInstances fails while `ec2_fails` is above 0.
fn ec2_estate(
    ec2_calls: Arc<AtomicUsize>,
    ec2_ids: Arc<Mutex<Vec<String>>>,
    ec2_fails: Arc<AtomicUsize>,
) -> (Vec<Rule>, Vec<Rule>) {
    use aws_sdk_ec2::operation::describe_instances::{
        DescribeInstancesError, DescribeInstancesOutput,
    };
    use aws_smithy_mocks::MockResponse;
    use aws_smithy_types::error::ErrorMetadata;

    let clusters = clusters_rule();
    let list = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(|input| {
        let cluster = input.cluster().unwrap_or_default();
        ListTasksOutput::builder()
            .task_arns(format!("arn:aws:ecs:us-east-1:1:task/{cluster}/0"))
            .build()
    });
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(|input| {
        let cluster = input.cluster().unwrap_or_default().to_string();
        let mut task = sdk_task(&input.tasks()[0]);
        if cluster != "c3" {
            task.launch_type = Some(ecs::LaunchType::Ec2);
            task.container_instance_arn = Some(format!("ci/{cluster}"));
        }
        DescribeTasksOutput::builder().tasks(task).build()
    });
    let container_instances = container_instances_rule(|arn| arn.replace("ci/", "i-"));
    let [definition, services, _] = definition_service_and_instance_rules();
    let instances =
        mock!(aws_sdk_ec2::Client::describe_instances).then_compute_response(move |input| {
            ec2_calls.fetch_add(1, Ordering::SeqCst);
            if ec2_fails.load(Ordering::SeqCst) > 0 {
                ec2_fails.fetch_sub(1, Ordering::SeqCst);
                return MockResponse::Error(DescribeInstancesError::generic(
                    ErrorMetadata::builder()
                        .code("UnauthorizedOperation")
                        .message("not allowed")
                        .build(),
                ));
            }
            let ids = input.instance_ids().to_vec();
            ec2_ids.lock().expect("ids").extend(ids.iter().cloned());
            MockResponse::Output(
                DescribeInstancesOutput::builder()
                    .reservations(
                        aws_sdk_ec2::types::Reservation::builder()
                            .set_instances(Some(
                                ids.iter()
                                    .map(|id| {
                                        aws_sdk_ec2::types::Instance::builder()
                                            .instance_id(id)
                                            .private_ip_address(ip_of_instance(id))
                                            .build()
                                    })
                                    .collect(),
                            ))
                            .build(),
                    )
                    .build(),
            )
        });
    (
        vec![
            clusters,
            list,
            describe,
            container_instances,
            definition,
            services,
        ],
        vec![instances],
    )
}

async fn drafts_of(edge: &Edge, clusters: &[&str]) -> Vec<Draft> {
    let mut out = Vec::new();
    for cluster in clusters {
        match edge.refresh(cluster).await.expect("refresh") {
            Refresh::Changed(draft) => out.push(*draft),
            Refresh::Unchanged => panic!("{cluster} has something to describe"),
        }
    }
    out
}

/// A distinct address per instance of `ec2_estate`: `i-c1` is 10.0.0.1, `i-c2` 10.0.0.2.
fn ip_of_instance(id: &str) -> String {
    format!("10.0.0.{}", id.trim_start_matches("i-c"))
}

#[tokio::test]
async fn the_container_instances_of_every_cluster_cost_one_describe_instances() {
    let (calls, ids) = (Arc::new(AtomicUsize::new(0)), Arc::new(Default::default()));
    let (ecs_rules, ec2_rules) = ec2_estate(calls.clone(), Arc::clone(&ids), Arc::default());
    let (edge, _) = edge_with_ec2(&ecs_rules, &ec2_rules);
    let drafts = drafts_of(&edge, &["c1", "c2", "c3"]).await;
    let finished = edge.finish(drafts).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one DescribeInstances");
    let mut asked = ids.lock().expect("ids").clone();
    asked.sort();
    assert_eq!(asked, ["i-c1", "i-c2"]);
    for (cluster, snapshot) in finished {
        let snapshot = snapshot.expect("finished");
        let ips: Vec<_> = snapshot
            .instances
            .values()
            .map(|i| i.private_ip.clone())
            .collect();
        // Each cluster gets its own instance's address, not another cluster's.
        let expected = match cluster.as_str() {
            "c3" => vec![],
            _ => vec![Some(ip_of_instance(&format!("i-{cluster}")))],
        };
        assert_eq!(ips, expected, "{cluster}");
    }
}

#[tokio::test]
async fn a_failed_describe_instances_fails_only_the_clusters_that_needed_it_and_commits_nothing() {
    let (calls, ids) = (Arc::new(AtomicUsize::new(0)), Arc::new(Default::default()));
    let fails = Arc::new(AtomicUsize::new(1));
    let (ecs_rules, ec2_rules) = ec2_estate(calls.clone(), ids, fails);
    let (edge, _) = edge_with_ec2(&ecs_rules, &ec2_rules);
    let drafts = drafts_of(&edge, &["c1", "c3"]).await;
    let finished: BTreeMap<String, Result<ClusterSnapshot, EdgeError>> =
        edge.finish(drafts).await.into_iter().collect();
    let error = finished["c1"].as_ref().expect_err("c1 needed EC2");
    assert_eq!(error.operation, "DescribeInstances");
    assert!(error.to_string().contains("not allowed"), "{error}");
    assert!(finished["c3"].is_ok(), "c3 (Fargate) did not need EC2");

    // c1 committed nothing: the next cycle drafts it again, and now completes it.
    assert!(matches!(
        edge.refresh("c3").await.expect("refresh"),
        Refresh::Unchanged
    ));
    let drafts = drafts_of(&edge, &["c1"]).await;
    let (_, snapshot) = edge.finish(drafts).await.pop().expect("c1");
    let snapshot = snapshot.expect("c1 completes");
    assert_eq!(
        snapshot.instances["ci/c1"].private_ip.as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn throttling_is_recognised_by_error_code_in_every_protocol() {
    let ec2 = br#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>1</RequestID></Response>"#;
    /// (x-amzn-errortype header, body, the code found, whether it is throttling)
    type Case<'a> = (Option<&'a str>, &'a [u8], Option<&'a str>, bool);
    let cases: [Case; 6] = [
        (None, ec2, Some("RequestLimitExceeded"), true),
        (
            None,
            br#"{"__type":"com.amazonaws.ecs#ThrottlingException","message":"Rate exceeded"}"#,
            Some("ThrottlingException"),
            true,
        ),
        (
            Some("ThrottlingException:http://internal.amazon.com/coral/"),
            b"{}",
            Some("ThrottlingException"),
            true,
        ),
        (
            None,
            b"<Error><Code>SlowDown</Code></Error>",
            Some("SlowDown"),
            true,
        ),
        (
            None,
            br#"{"__type":"ServerException","message":"internal error"}"#,
            Some("ServerException"),
            false,
        ),
        (None, b"upstream connect error", None, false),
    ];
    for (header, body, code, throttling) in cases {
        let found = error_code(header, body);
        assert_eq!(found, code, "{}", String::from_utf8_lossy(body));
        assert_eq!(found.is_some_and(is_throttling), throttling, "{found:?}");
    }
}

#[tokio::test]
async fn ec2_request_limit_exceeded_is_counted_as_throttling_and_retried() {
    let (calls, ids) = (Arc::new(AtomicUsize::new(0)), Arc::new(Default::default()));
    let (ecs_rules, mut ec2_rules) = ec2_estate(calls, ids, Arc::new(AtomicUsize::new(0)));
    let throttled = mock!(aws_sdk_ec2::Client::describe_instances)
        .sequence()
        .http_status(
            503,
            Some(
                "<Response><Errors><Error><Code>RequestLimitExceeded</Code>\
                 <Message>Request limit exceeded.</Message></Error></Errors></Response>"
                    .to_string(),
            ),
        )
        .times(2)
        .output(|| {
            aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput::builder()
                .reservations(
                    aws_sdk_ec2::types::Reservation::builder()
                        .instances(
                            aws_sdk_ec2::types::Instance::builder()
                                .instance_id("i-c1")
                                .private_ip_address("10.0.0.4")
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
        .build();
    ec2_rules.insert(0, throttled);
    let (edge, metrics) = edge_with_ec2(&ecs_rules, &ec2_rules);
    let drafts = drafts_of(&edge, &["c1"]).await;
    let (_, snapshot) = edge.finish(drafts).await.pop().expect("c1");
    assert!(snapshot.is_ok(), "{snapshot:?}");
    let labels = OperationLabels {
        service: "EC2".into(),
        operation: "DescribeInstances".into(),
    };
    assert_eq!(metrics.api_throttled.get_or_create(&labels).get(), 2);
}

#[tokio::test]
async fn a_running_task_is_described_again_after_the_ttl_so_its_new_tags_count() {
    let describes = Arc::new(AtomicUsize::new(0));
    let counter = describes.clone();
    let list = mock!(aws_sdk_ecs::Client::list_tasks)
        .then_output(|| ListTasksOutput::builder().task_arns(task_arn(1)).build());
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |input| {
        // Each description finds the tag as the operator last set it: v1, then v2.
        let version = counter.fetch_add(1, Ordering::SeqCst) + 1;
        let mut task = sdk_task(&input.tasks()[0]);
        task.tags = Some(vec![
            ecs::Tag::builder()
                .key("release")
                .value(format!("v{version}"))
                .build(),
        ]);
        DescribeTasksOutput::builder().tasks(task).build()
    });
    let mut rules = vec![clusters_rule(), list, describe];
    rules.extend(definition_service_and_instance_rules());
    let (mut edge, _) = edge_with(&rules);
    edge.caches = Arc::new(Mutex::new(Caches::new(Duration::from_millis(200))));
    let release = |snapshot: &ClusterSnapshot| snapshot.tasks[0].tags.get("release").cloned();

    let first = edge.snapshot("c1").await.expect("cold");
    assert_eq!(release(&first).as_deref(), Some("v1"));
    assert!(
        matches!(edge.refresh("c1").await, Ok(Refresh::Unchanged)),
        "within the TTL: cached"
    );
    assert_eq!(describes.load(Ordering::SeqCst), 1);

    tokio::time::sleep(Duration::from_millis(250)).await;
    let Ok(Refresh::Changed(draft)) = edge.refresh("c1").await else {
        panic!("past the TTL the task is described again");
    };
    let (_, later) = edge.finish(vec![*draft]).await.pop().expect("one");
    assert_eq!(release(&later.expect("snapshot")).as_deref(), Some("v2"));
    assert_eq!(describes.load(Ordering::SeqCst), 2);
}
