//! Rate-limit compliance: a cold cycle on 5,000 tasks, with AWS's bucket sizes and tokio's
//! paused clock, never sends faster than a token bucket of that size would let through.

use std::sync::Mutex;

use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::types as ecs;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use super::*;
use crate::ratelimit::Bucket;

const CLUSTERS: usize = 5;
const TASKS_PER_CLUSTER: usize = 1000;
const DEFINITIONS: usize = 50;
const INSTANCES_PER_CLUSTER: usize = 40;

/// Records (operation, when) for every request sent, on tokio's (paused) clock.
#[derive(Debug, Clone, Default)]
struct SendTimes(Arc<Mutex<Vec<(String, Instant)>>>);

impl Intercept for SendTimes {
    fn name(&self) -> &'static str {
        "SendTimes"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(metadata), Ok(mut sent)) = (cfg.load::<Metadata>(), self.0.lock()) {
            sent.push((metadata.name().to_string(), Instant::now()));
        }
        Ok(())
    }
}

fn task_arn(cluster: usize, i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:1:task/c{cluster}/{i:05}")
}

fn instance_arn(cluster: usize, i: usize) -> String {
    format!("arn:aws:ecs:us-east-1:1:container-instance/c{cluster}/{i:03}")
}

fn cluster_of(arn: &str) -> usize {
    arn.split('/')
        .nth(1)
        .and_then(|c| c[1..].parse().ok())
        .unwrap_or(0)
}

fn index_of(arn: &str) -> usize {
    arn.rsplit('/')
        .next()
        .and_then(|i| i.parse().ok())
        .unwrap_or(0)
}

fn ecs_rules() -> Vec<Rule> {
    let clusters = tests::clusters_rule();
    let list = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(|input| {
        let cluster: usize = input.cluster().unwrap_or("c0")[1..].parse().unwrap_or(0);
        let start: usize = input.next_token().map_or(0, |t| t.parse().unwrap_or(0));
        let end = (start + 100).min(TASKS_PER_CLUSTER);
        let mut out = ListTasksOutput::builder()
            .set_task_arns(Some((start..end).map(|i| task_arn(cluster, i)).collect()));
        if end < TASKS_PER_CLUSTER {
            out = out.next_token(end.to_string());
        }
        out.build()
    });
    let describe = mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(|input| {
        let tasks = input.tasks().iter().map(|arn| {
            let (cluster, i) = (cluster_of(arn), index_of(arn));
            ecs::Task::builder()
                .task_arn(arn)
                .task_definition_arn(format!(
                    "arn:aws:ecs:us-east-1:1:task-definition/app:{}",
                    i % DEFINITIONS + 1
                ))
                .last_status("RUNNING")
                .launch_type(ecs::LaunchType::Ec2)
                .group(format!("service:svc-{}", i % 10))
                .container_instance_arn(instance_arn(cluster, i % INSTANCES_PER_CLUSTER))
                .containers(
                    ecs::Container::builder()
                        .name("app")
                        .network_bindings(
                            ecs::NetworkBinding::builder()
                                .container_port(8080)
                                .host_port(32768 + i as i32)
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        DescribeTasksOutput::builder()
            .set_tasks(Some(tasks.collect()))
            .build()
    });
    let definition =
        mock!(aws_sdk_ecs::Client::describe_task_definition).then_compute_output(|input| {
            let arn = input.task_definition().unwrap_or_default().to_string();
            let revision: i32 = arn
                .rsplit(':')
                .next()
                .and_then(|r| r.parse().ok())
                .unwrap_or(1);
            tests::app_definition(&arn, revision, ecs::NetworkMode::Bridge)
        });
    let services = mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(|input| {
        DescribeServicesOutput::builder()
            .set_services(Some(
                input
                    .services()
                    .iter()
                    .map(|name| ecs::Service::builder().service_name(name).build())
                    .collect(),
            ))
            .build()
    });
    let instances = tests::container_instances_rule(|arn| {
        format!("i-{:02}{:03}", cluster_of(arn), index_of(arn))
    });
    vec![clusters, list, describe, definition, services, instances]
}

fn ec2_rule() -> Rule {
    mock!(aws_sdk_ec2::Client::describe_instances).then_compute_output(|input| {
        let instances = input.instance_ids().iter().map(|id| {
            aws_sdk_ec2::types::Instance::builder()
                .instance_id(id)
                .private_ip_address(format!("10.0.{}.{}", &id[2..4], &id[4..]))
                .build()
        });
        DescribeInstancesOutput::builder()
            .reservations(
                aws_sdk_ec2::types::Reservation::builder()
                    .set_instances(Some(instances.collect()))
                    .build(),
            )
            .build()
    })
}

fn bucket_of(operation: &str) -> Bucket {
    match operation {
        "ListClusters" | "DescribeClusters" => Bucket::ClusterRead,
        "DescribeTaskDefinition" => Bucket::TaskDefinitionRead,
        "DescribeServices" => Bucket::ServiceRead,
        "DescribeInstances" => Bucket::Ec2Describe,
        _ => Bucket::ClusterResourceRead,
    }
}

#[tokio::test(start_paused = true)]
async fn a_cold_cycle_on_5000_tasks_keeps_every_bucket_within_its_limits() {
    let sent = SendTimes::default();
    let metrics = Arc::new(Metrics::default());
    let ecs_rules = ecs_rules();
    let ecs_refs: Vec<&Rule> = ecs_rules.iter().collect();
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, &ecs_refs, |b| b
        .interceptor(sent.clone()));
    let ec2_rule = ec2_rule();
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, &[&ec2_rule], |b| b
        .interceptor(sent.clone()));
    let edge = Edge::new(
        ecs,
        ec2,
        Arc::new(RateLimiter::aws()),
        metrics,
        Duration::from_secs(300),
    );

    let started = Instant::now();
    let mut tasks = 0;
    for cluster in 0..CLUSTERS {
        tasks += edge
            .snapshot(&format!("c{cluster}"))
            .await
            .expect("snapshot")
            .tasks
            .len();
    }
    assert_eq!(tasks, CLUSTERS * TASKS_PER_CLUSTER);

    let sent = sent.0.lock().expect("lock").clone();
    let mut by_bucket: HashMap<Bucket, Vec<Instant>> = HashMap::new();
    for (operation, at) in &sent {
        by_bucket.entry(bucket_of(operation)).or_default().push(*at);
    }
    let mut report = Vec::new();
    for (bucket, times) in &by_bucket {
        let (burst, rate) = bucket.limits();
        // Token-bucket conformance: any run of requests fits the burst plus the refill.
        for (i, first) in times.iter().enumerate() {
            for (j, last) in times.iter().enumerate().skip(i) {
                let allowed = burst + rate * (*last - *first).as_secs_f64() + 1e-6;
                assert!(
                    (j - i + 1) as f64 <= allowed,
                    "{bucket:?}: {} requests in {:?} (allowed {allowed:.1})",
                    j - i + 1,
                    *last - *first
                );
            }
        }
        // Peak requests in any one-second window, and the rate once the burst is spent.
        let peak = times
            .iter()
            .map(|t| {
                times
                    .iter()
                    .filter(|u| **u >= *t && **u - *t < Duration::from_secs(1))
                    .count()
            })
            .max()
            .unwrap_or(0);
        let after_burst: Vec<&Instant> = times.iter().skip(burst as usize).collect();
        let sustained = match (after_burst.first(), after_burst.last()) {
            (Some(first), Some(last)) if last > first => {
                (after_burst.len() - 1) as f64 / (**last - **first).as_secs_f64()
            }
            _ => 0.0,
        };
        // The figures the report prints are held to the limits, not only shown.
        assert!(
            peak as f64 <= burst + rate + 1e-6,
            "{bucket:?}: {peak} requests in one second (burst {burst}, {rate}/s)"
        );
        assert!(
            sustained <= rate * 1.01,
            "{bucket:?}: {sustained:.2}/s after the burst (limit {rate}/s)"
        );
        report.push(format!(
            "{bucket:?}: {} requests, peak {peak} in any 1 s, {sustained:.1}/s after the burst of {burst} (limit {rate}/s)",
            times.len()
        ));
    }
    report.sort();
    eprintln!(
        "rate-limit compliance, cold cycle on {tasks} tasks ({:.1} s on the paused clock):\n  {}",
        started.elapsed().as_secs_f64(),
        report.join("\n  ")
    );
}
