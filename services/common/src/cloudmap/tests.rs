//! The pure mapping, the data-plane prefix, and the AWS edge against `aws-smithy-mocks`.

use aws_sdk_servicediscovery::operation::discover_instances::DiscoverInstancesOutput;
use aws_sdk_servicediscovery::operation::list_namespaces::ListNamespacesOutput;
use aws_sdk_servicediscovery::operation::list_services::ListServicesOutput;
use aws_sdk_servicediscovery::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_servicediscovery::types as sd;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn instance(id: &str, pairs: &[(&str, &str)]) -> Instance {
    Instance {
        id: id.into(),
        attributes: attrs(pairs),
        health_status: Some("HEALTHY".into()),
    }
}

fn service(name: &str, metrics_path: Option<&str>, instances: Vec<Instance>) -> ServiceInstances {
    ServiceInstances {
        namespace: "apps.local".into(),
        service: name.into(),
        metrics_path: metrics_path.map(str::to_string),
        instances,
    }
}

#[test]
fn an_ecs_registered_instance_gets_the_contract_labels() {
    let out = groups(&[service(
        "web",
        Some("/internal/metrics"),
        vec![instance(
            "task-1",
            &[
                ("AWS_INSTANCE_IPV4", "10.0.1.5"),
                ("AWS_INSTANCE_PORT", "8080"),
                ("ECS_CLUSTER_NAME", "prod"),
                ("ECS_SERVICE_NAME", "web"),
                ("ECS_TASK_DEFINITION_FAMILY", "web-app"),
                ("AVAILABILITY_ZONE", "us-east-1a"),
                ("custom-attr.x", "y"),
            ],
        )],
    )]);
    assert!(out.skipped.is_empty());
    let [group] = out.groups.as_slice() else {
        panic!("one group expected: {out:?}")
    };
    assert_eq!(group.targets, ["10.0.1.5:8080"]);
    let label = |name: &str| group.labels.get(name).map(String::as_str);
    assert_eq!(label("__meta_cloudmap_namespace_name"), Some("apps.local"));
    assert_eq!(label("__meta_cloudmap_service_name"), Some("web"));
    assert_eq!(label("__meta_cloudmap_instance_id"), Some("task-1"));
    assert_eq!(
        label("__meta_cloudmap_attribute_AVAILABILITY_ZONE"),
        Some("us-east-1a")
    );
    assert_eq!(label("__meta_cloudmap_attribute_custom_attr_x"), Some("y"));
    assert_eq!(label("ecs_cluster"), Some("prod"));
    assert_eq!(label("ecs_service"), Some("web"));
    assert_eq!(label("ecs_task_family"), Some("web-app"));
    assert_eq!(label("__metrics_path__"), Some("/internal/metrics"));
}

#[test]
fn port_defaults_to_80_and_bad_instances_are_skipped_with_a_reason() {
    let out = groups(&[service(
        "web",
        None,
        vec![
            instance("b-no-port", &[("AWS_INSTANCE_IPV4", "10.0.0.2")]),
            instance("a-no-ip", &[("AWS_INSTANCE_PORT", "80")]),
            instance(
                "c-bad-port",
                &[
                    ("AWS_INSTANCE_IPV4", "10.0.0.3"),
                    ("AWS_INSTANCE_PORT", "0"),
                ],
            ),
            instance(
                "d-v6",
                &[("AWS_INSTANCE_IPV4", "fd00::1"), ("AWS_INSTANCE_PORT", "9")],
            ),
        ],
    )]);
    let targets: Vec<&str> = out.groups.iter().map(|g| g.targets[0].as_str()).collect();
    assert_eq!(targets, ["10.0.0.2:80", "[fd00::1]:9"]);
    assert!(!out.groups[0].labels.contains_key("__metrics_path__"));
    assert_eq!(out.skipped.len(), 2, "{:?}", out.skipped);
    assert!(out.skipped[0].contains("'a-no-ip'") && out.skipped[0].contains("AWS_INSTANCE_IPV4"));
    assert!(out.skipped[1].contains("AWS_INSTANCE_PORT='0'"));
}

#[test]
fn a_relative_metrics_path_tag_is_refused_and_groups_are_sorted() {
    let out = groups(&[
        service(
            "z",
            None,
            vec![instance("2", &[("AWS_INSTANCE_IPV4", "10.0.0.2")])],
        ),
        service(
            "bad",
            Some("metrics"),
            vec![instance("1", &[("AWS_INSTANCE_IPV4", "10.0.0.1")])],
        ),
        service(
            "a",
            None,
            vec![
                instance("y", &[("AWS_INSTANCE_IPV4", "10.0.0.4")]),
                instance("x", &[("AWS_INSTANCE_IPV4", "10.0.0.3")]),
            ],
        ),
    ]);
    let order: Vec<&str> = out
        .groups
        .iter()
        .map(|g| g.labels["__meta_cloudmap_instance_id"].as_str())
        .collect();
    assert_eq!(order, ["x", "y", "2"]);
    assert!(out.skipped[0].contains("METRICS_PATH tag is 'metrics'"));
}

#[test]
fn the_data_plane_prefix_is_stripped_from_the_host_only() {
    assert_eq!(
        strip_data_plane_prefix("http://data-127.0.0.1:4566/").as_deref(),
        Some("http://127.0.0.1:4566/")
    );
    assert_eq!(
        strip_data_plane_prefix("https://data-localhost:4566/x?data-y=1").as_deref(),
        Some("https://localhost:4566/x?data-y=1")
    );
    assert_eq!(
        strip_data_plane_prefix("http://127.0.0.1:4566/data-x"),
        None
    );
    assert_eq!(strip_data_plane_prefix("not a uri"), None);
}

fn namespaces_rule() -> Rule {
    mock!(Client::list_namespaces).then_output(|| {
        ListNamespacesOutput::builder()
            .namespaces(
                sd::NamespaceSummary::builder()
                    .id("ns-1")
                    .name("apps.local")
                    .build(),
            )
            .build()
    })
}

/// Two pages of services (s0, s1 | s2); s1 carries a METRICS_PATH tag.
fn estate_rules() -> Vec<Rule> {
    let services = mock!(Client::list_services).then_compute_output(|input| {
        assert_eq!(input.filters()[0].values(), ["ns-1"]);
        let summary = |i: usize| {
            sd::ServiceSummary::builder()
                .name(format!("s{i}"))
                .arn(format!(
                    "arn:aws:servicediscovery:us-east-1:1:service/srv-{i}"
                ))
                .build()
        };
        match input.next_token() {
            None => ListServicesOutput::builder()
                .services(summary(0))
                .services(summary(1))
                .next_token("page-2")
                .build(),
            Some(_) => ListServicesOutput::builder().services(summary(2)).build(),
        }
    });
    let tags = mock!(Client::list_tags_for_resource).then_compute_output(|input| {
        let mut out = ListTagsForResourceOutput::builder();
        if input.resource_arn().is_some_and(|a| a.ends_with("srv-1")) {
            out = out.tags(
                sd::Tag::builder()
                    .key("METRICS_PATH")
                    .value("/m")
                    .build()
                    .expect("tag"),
            );
        }
        out.build()
    });
    let discover = mock!(Client::discover_instances).then_compute_output(|input| {
        assert_eq!(input.health_status(), Some(&HealthStatusFilter::All));
        let service = input.service_name().unwrap_or_default().to_string();
        DiscoverInstancesOutput::builder()
            .instances(
                sd::HttpInstanceSummary::builder()
                    .instance_id(format!("{service}-i"))
                    .attributes("AWS_INSTANCE_IPV4", "10.0.0.1")
                    .build(),
            )
            .build()
    });
    vec![namespaces_rule(), services, tags, discover]
}

fn cloudmap(rules: &[Rule]) -> CloudMap {
    let refs: Vec<&Rule> = rules.iter().collect();
    CloudMap::new(mock_client!(
        aws_sdk_servicediscovery,
        RuleMode::MatchAny,
        &refs
    ))
}

#[tokio::test]
async fn snapshot_pages_through_services_and_reads_the_metrics_path_tag() {
    let snapshot = cloudmap(&estate_rules())
        .snapshot(&["apps.local".to_string()])
        .await
        .expect("snapshot");
    let services: Vec<(&str, Option<&str>, usize)> = snapshot
        .iter()
        .map(|s| {
            (
                s.service.as_str(),
                s.metrics_path.as_deref(),
                s.instances.len(),
            )
        })
        .collect();
    assert_eq!(
        services,
        [("s0", None, 1), ("s1", Some("/m"), 1), ("s2", None, 1)]
    );
}

#[tokio::test]
async fn an_unknown_namespace_is_named_in_the_error() {
    let error = cloudmap(&estate_rules())
        .snapshot(&["apps.local".to_string(), "nope.local".to_string()])
        .await
        .expect_err("unknown namespace");
    assert!(matches!(error, CloudMapError::NamespaceNotFound { ref name } if name == "nope.local"));
    assert!(error.to_string().contains("'nope.local'"));
}

#[tokio::test]
async fn one_failing_call_fails_the_whole_snapshot() {
    let failing = mock!(Client::discover_instances)
        .match_requests(|input| input.service_name() == Some("s2"))
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"ServiceNotFound","Message":"gone"}"#,
                ),
            )
        });
    let mut rules = vec![failing];
    rules.extend(estate_rules());
    let error = cloudmap(&rules)
        .snapshot(&["apps.local".to_string()])
        .await
        .expect_err("a failed DiscoverInstances");
    let text = error.to_string();
    assert!(
        text.contains("DiscoverInstances") && text.contains("apps.local/s2"),
        "{text}"
    );
}

#[tokio::test]
async fn every_call_and_page_waits_for_the_pacer_in_its_bucket() {
    use std::sync::Mutex;
    let paced: Arc<Mutex<Vec<CloudMapCall>>> = Arc::default();
    let seen = paced.clone();
    let pacer: Pacer = Arc::new(move |call| {
        seen.lock().expect("lock").push(call);
        Box::pin(async {})
    });
    let snapshot = cloudmap(&estate_rules())
        .with_pacer(pacer)
        .snapshot(&["apps.local".to_string()])
        .await
        .expect("snapshot");
    let paced = paced.lock().expect("lock").clone();
    let discover = paced
        .iter()
        .filter(|c| **c == CloudMapCall::DiscoverInstances)
        .count();
    assert_eq!(
        discover,
        snapshot.len(),
        "one DiscoverInstances per service"
    );
    // One ListNamespaces page, two ListServices pages, one ListTagsForResource per service.
    assert_eq!(paced.len() - discover, 1 + 2 + snapshot.len(), "{paced:?}");
}
