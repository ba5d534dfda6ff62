//! Resolution over a table of task and container shapes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::*;
use crate::model::ContainerDefinition;
use crate::model::{Container, PortMapping};

const CI: &str = "arn:aws:ecs:us-east-1:1:container-instance/c1/ci-1";
const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/app:3";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn def(
    name: &str,
    env: &[(&str, &str)],
    labels: &[(&str, &str)],
    ports: &[(i32, Option<i32>)],
) -> ContainerDefinition {
    ContainerDefinition {
        name: name.into(),
        environment: map(env),
        docker_labels: map(labels),
        port_mappings: ports
            .iter()
            .map(|&(c, h)| PortMapping {
                container_port: Some(c),
                host_port: h,
            })
            .collect(),
    }
}

fn bindings(name: &str, pairs: &[(i32, Option<i32>)]) -> Container {
    Container {
        name: name.into(),
        network_bindings: pairs
            .iter()
            .map(|&(c, h)| NetworkBinding {
                container_port: Some(c),
                host_port: h,
            })
            .collect(),
        private_ipv4: None,
    }
}

fn cluster(
    mode: &str,
    defs: Vec<ContainerDefinition>,
    containers: Vec<Container>,
) -> ClusterSnapshot {
    let awsvpc = mode == "awsvpc";
    let task = Task {
        arn: "arn:aws:ecs:us-east-1:1:task/c1/t1".into(),
        task_definition_arn: TD.into(),
        group: Some("service:web".into()),
        last_status: "RUNNING".into(),
        launch_type: Some(if awsvpc { "FARGATE" } else { "EC2" }.into()),
        availability_zone: Some("us-east-1a".into()),
        container_instance_arn: (!awsvpc).then(|| CI.to_string()),
        eni_private_ipv4: awsvpc.then(|| "10.1.2.3".to_string()),
        containers,
        ..Task::default()
    };
    ClusterSnapshot {
        name: "c1".into(),
        arn: "arn:aws:ecs:us-east-1:1:cluster/c1".into(),
        tags: map(&[("env", "prod")]),
        tasks: vec![Arc::new(task)],
        task_definitions: HashMap::from([(
            TD.to_string(),
            Arc::new(TaskDefinition {
                arn: TD.into(),
                family: "app".into(),
                revision: 3,
                network_mode: mode.into(),
                containers: defs,
            }),
        )]),
        instances: HashMap::from([(
            CI.to_string(),
            Arc::new(Instance {
                container_instance_arn: CI.into(),
                ec2_instance_id: Some("i-1".into()),
                private_ip: Some("10.0.0.5".into()),
            }),
        )]),
        service_tags: HashMap::from([("web".to_string(), Arc::new(map(&[("team", "obs")])))]),
    }
}

fn options() -> Options {
    Options {
        fallback_metrics_path: "/metrics".into(),
        ..Options::default()
    }
}

fn resolve(cluster: &ClusterSnapshot) -> Resolution {
    resolve_cluster(cluster, &options())
}

/// One awsvpc task of one container `app` (port 8080) with environment `env`, resolved.
fn resolve_app(env: &[(&str, &str)]) -> Resolution {
    resolve(&cluster(
        "awsvpc",
        vec![def("app", env, &[], &[(8080, None)])],
        vec![],
    ))
}

/// (address, path, interval) of every target.
fn endpoints(resolution: &Resolution) -> Vec<(String, String, Option<&'static str>)> {
    resolution
        .targets
        .iter()
        .map(|t| {
            (
                t.address.to_string(),
                t.labels["__metrics_path__"].to_string(),
                t.interval.map(Interval::as_str),
            )
        })
        .collect()
}

fn reasons(resolution: &Resolution) -> Vec<&'static str> {
    resolution.skipped.iter().map(|s| s.reason.code()).collect()
}

#[test]
fn environment_convention_in_every_network_mode() {
    let env = [("PROMETHEUS", "true")];
    // bridge: first binding's host port
    let r = resolve(&cluster(
        "bridge",
        vec![def("app", &env, &[], &[(8080, None)])],
        vec![bindings("app", &[(8080, Some(32768))])],
    ));
    assert_eq!(
        endpoints(&r),
        vec![("10.0.0.5:32768".into(), "/metrics".into(), None)]
    );
    // host: first port mapping's container port
    let r = resolve(&cluster(
        "host",
        vec![def("app", &env, &[], &[(9100, Some(9100))])],
        vec![bindings("app", &[(9100, Some(9100))])],
    ));
    assert_eq!(endpoints(&r)[0].0, "10.0.0.5:9100");
    // awsvpc: ENI address, first container port
    let r = resolve(&cluster(
        "awsvpc",
        vec![def("app", &env, &[], &[(8080, Some(8080))])],
        vec![bindings("app", &[])],
    ));
    assert_eq!(endpoints(&r)[0].0, "10.1.2.3:8080");
    // awsvpc without any port mapping: 80
    let r = resolve(&cluster(
        "awsvpc",
        vec![def("app", &env, &[], &[])],
        vec![bindings("app", &[])],
    ));
    assert_eq!(endpoints(&r)[0].0, "10.1.2.3:80");
    // PROMETHEUS_TARGET=true is a marker too; =false is not
    let r = resolve(&cluster(
        "awsvpc",
        vec![def(
            "app",
            &[("PROMETHEUS_TARGET", "true")],
            &[],
            &[(1, None)],
        )],
        vec![],
    ));
    assert_eq!(r.targets.len(), 1);
    let r = resolve(&cluster(
        "awsvpc",
        vec![def(
            "app",
            &[("PROMETHEUS_TARGET", "false")],
            &[],
            &[(1, None)],
        )],
        vec![],
    ));
    assert!(r.targets.is_empty() && r.skipped.is_empty());
}

#[test]
fn bridge_ports_follow_the_contract() {
    let containers = vec![bindings("app", &[(8080, Some(32768)), (9090, Some(32769))])];
    let with = |env: &[(&str, &str)]| {
        let mut env_all = vec![("PROMETHEUS", "1")];
        env_all.extend_from_slice(env);
        resolve(&cluster(
            "bridge",
            vec![def("app", &env_all, &[], &[(8080, None), (9090, None)])],
            containers.clone(),
        ))
    };
    assert_eq!(
        endpoints(&with(&[("PROMETHEUS_CONTAINER_PORT", "9090")]))[0].0,
        "10.0.0.5:32769"
    );
    assert_eq!(endpoints(&with(&[]))[0].0, "10.0.0.5:32768");
    assert_eq!(
        endpoints(&with(&[("PROMETHEUS_PORT", "31000")]))[0].0,
        "10.0.0.5:31000"
    );
    assert_eq!(
        reasons(&with(&[("PROMETHEUS_CONTAINER_PORT", "7000")])),
        vec!["no_binding_for_port"]
    );
}

#[test]
fn several_endpoints_with_intervals() {
    let env = [
        ("PROMETHEUS", ""),
        ("PROMETHEUS_ENDPOINT", "5m:/a, 30s:/b,/c"),
    ];
    let r = resolve_app(&env);
    assert_eq!(
        endpoints(&r),
        vec![
            ("10.1.2.3:8080".into(), "/a".into(), Some("5m")),
            ("10.1.2.3:8080".into(), "/b".into(), Some("30s")),
            ("10.1.2.3:8080".into(), "/c".into(), None),
        ]
    );
}

#[test]
fn bad_values_skip_with_a_reason() {
    /// (extra environment, the skip reasons, what the last reason must quote)
    type Case = (
        Vec<(&'static str, &'static str)>,
        Vec<&'static str>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            vec![("PROMETHEUS_ENDPOINT", ":::")],
            vec!["unknown_interval", "invalid_endpoint"],
            "':::'",
        ),
        (
            vec![("PROMETHEUS_ENDPOINT", "metrics")],
            vec!["invalid_endpoint"],
            "'metrics'",
        ),
        (
            vec![("PROMETHEUS_ENDPOINT", "30s:metrics")],
            vec!["invalid_endpoint"],
            "'30s:metrics'",
        ),
        (
            vec![("PROMETHEUS_ENDPOINT", "/metrics?format=text")],
            vec!["query_in_path"],
            "'/metrics?format=text'",
        ),
        (vec![("PROMETHEUS_PORT", "0")], vec!["invalid_port"], "'0'"),
        (
            vec![("PROMETHEUS_PORT", "-1")],
            vec!["invalid_port"],
            "'-1'",
        ),
        (
            vec![("PROMETHEUS_PORT", "70000")],
            vec!["invalid_port"],
            "'70000'",
        ),
        (
            vec![("PROMETHEUS_PORT", "abc")],
            vec!["invalid_port"],
            "'abc'",
        ),
    ];
    for (extra, expected, named) in cases {
        let mut env = vec![("PROMETHEUS", "true")];
        env.extend(extra.iter().copied());
        let r = resolve_app(&env);
        assert_eq!(reasons(&r), expected, "{extra:?}");
        assert!(r.targets.is_empty(), "{extra:?}");
        let skip = r.skipped.last().expect("a skip");
        assert_eq!(
            (
                skip.cluster.as_str(),
                skip.service.as_deref(),
                skip.container.as_str()
            ),
            ("c1", Some("web"), "app")
        );
        assert!(skip.reason.to_string().contains(named), "{}", skip.reason);
    }
}

#[test]
fn an_unknown_interval_keeps_its_path_without_an_interval_and_says_so() {
    let env = [
        ("PROMETHEUS", "true"),
        ("PROMETHEUS_ENDPOINT", "31s:/a,/b,30s:/c"),
    ];
    let r = resolve_app(&env);
    assert_eq!(
        endpoints(&r),
        vec![
            ("10.1.2.3:8080".into(), "/a".into(), None),
            ("10.1.2.3:8080".into(), "/b".into(), None),
            ("10.1.2.3:8080".into(), "/c".into(), Some("30s")),
        ]
    );
    assert_eq!(reasons(&r), vec!["unknown_interval"]);
    assert!(r.skipped[0].reason.to_string().contains("'31s'"));
}

#[test]
fn endpoints_per_container_are_capped() {
    let many: Vec<String> = (0..40).map(|i| format!("/m{i}")).collect();
    let many = many.join(",");
    let env = [
        ("PROMETHEUS", "true"),
        ("PROMETHEUS_ENDPOINT", many.as_str()),
    ];
    let r = resolve_app(&env);
    assert_eq!(r.targets.len(), MAX_ENDPOINTS_PER_CONTAINER);
    assert_eq!(reasons(&r), vec!["too_many_endpoints"]);
}

#[test]
fn one_bad_endpoint_keeps_the_good_ones() {
    let env = [
        ("PROMETHEUS", "true"),
        ("PROMETHEUS_ENDPOINT", "/ok,30s:bad"),
    ];
    let r = resolve_app(&env);
    assert_eq!(endpoints(&r).len(), 1);
    assert_eq!(reasons(&r), vec!["invalid_endpoint"]);
}

#[test]
fn nil_optional_fields_are_skips_not_panics() {
    let env = [("PROMETHEUS", "true")];
    // bridge task with no network bindings at all
    let r = resolve(&cluster(
        "bridge",
        vec![def("app", &env, &[], &[(8080, None)])],
        vec![],
    ));
    assert_eq!(reasons(&r), vec!["no_network_binding"]);
    // binding whose host port is 0 or absent
    for host in [Some(0), None] {
        let r = resolve(&cluster(
            "bridge",
            vec![def("app", &env, &[], &[(8080, None)])],
            vec![bindings("app", &[(8080, host)])],
        ));
        assert_eq!(reasons(&r), vec!["dynamic_port_unassigned"]);
    }
    // no container instance
    let mut c = cluster(
        "bridge",
        vec![def("app", &env, &[], &[(8080, None)])],
        vec![bindings("app", &[(8080, Some(32768))])],
    );
    Arc::make_mut(&mut c.tasks[0]).container_instance_arn = None;
    assert_eq!(reasons(&resolve(&c)), vec!["no_address"]);
    // container instance not described
    let mut c = cluster("host", vec![def("app", &env, &[], &[(8080, None)])], vec![]);
    c.instances.clear();
    assert_eq!(reasons(&resolve(&c)), vec!["no_address"]);
    // awsvpc without attachments
    let mut c = cluster(
        "awsvpc",
        vec![def("app", &env, &[], &[(8080, None)])],
        vec![],
    );
    Arc::make_mut(&mut c.tasks[0]).eni_private_ipv4 = None;
    assert_eq!(reasons(&resolve(&c)), vec!["no_address"]);
    // ...but the container's network interface is enough
    Arc::make_mut(&mut c.tasks[0]).containers = vec![Container {
        name: "app".into(),
        network_bindings: vec![],
        private_ipv4: Some("10.9.9.9".into()),
    }];
    assert_eq!(endpoints(&resolve(&c))[0].0, "10.9.9.9:8080");
    // missing task definition
    let mut c = cluster("host", vec![def("app", &env, &[], &[])], vec![]);
    c.task_definitions.clear();
    assert_eq!(reasons(&resolve(&c)), vec!["task_definition_unavailable"]);
}

#[test]
fn external_and_pending_tasks() {
    let env = [("PROMETHEUS", "true")];
    let mut c = cluster("host", vec![def("app", &env, &[], &[(9100, None)])], vec![]);
    Arc::make_mut(&mut c.tasks[0]).launch_type = Some("EXTERNAL".into());
    assert_eq!(reasons(&resolve(&c)), vec!["external_launch_type"]);
    Arc::make_mut(&mut c.tasks[0]).launch_type = Some("EC2".into());
    Arc::make_mut(&mut c.tasks[0]).last_status = "PENDING".into();
    let r = resolve(&c);
    assert!(
        r.targets.is_empty() && r.skipped.is_empty(),
        "PENDING tasks are not examined"
    );
}

#[test]
fn docker_label_convention() {
    let labels = [
        ("PROMETHEUS_EXPORTER_PORT", "9090"),
        ("PROMETHEUS_EXPORTER_JOB_NAME", "api"),
        ("PROMETHEUS_EXPORTER_PATH", "/stats"),
        ("PROMETHEUS_EXPORTER_SCHEME", "https"),
    ];
    let containers = vec![bindings("app", &[(8080, Some(32768)), (9090, Some(32769))])];
    let r = resolve(&cluster(
        "bridge",
        vec![def("app", &[], &labels, &[(8080, None), (9090, None)])],
        containers,
    ));
    let target = &r.targets[0];
    assert_eq!(&*target.address, "10.0.0.5:32769");
    assert_eq!(&target.labels["job"], "api");
    assert_eq!(&target.labels["__metrics_path__"], "/stats");
    assert_eq!(&target.labels["__scheme__"], "https");
    // awsvpc: the port as it stands; server name replaces the IP
    let labels = [
        ("PROMETHEUS_EXPORTER_PORT", "9090"),
        ("PROMETHEUS_EXPORTER_SERVER_NAME", "api.internal"),
    ];
    let r = resolve(&cluster(
        "awsvpc",
        vec![def("app", &[], &labels, &[(9090, None)])],
        vec![],
    ));
    assert_eq!([&*r.targets[0].address], ["api.internal:9090"]);
    assert!(!r.targets[0].labels.contains_key("__scheme__"));
    // bad scheme and unmatched port
    let r = resolve(&cluster(
        "awsvpc",
        vec![def(
            "app",
            &[],
            &[
                ("PROMETHEUS_EXPORTER_PORT", "1"),
                ("PROMETHEUS_EXPORTER_SCHEME", "ftp"),
            ],
            &[],
        )],
        vec![],
    ));
    assert_eq!(reasons(&r), vec!["invalid_scheme"]);
    let r = resolve(&cluster(
        "bridge",
        vec![def(
            "app",
            &[],
            &[("PROMETHEUS_EXPORTER_PORT", "1234")],
            &[],
        )],
        vec![bindings("app", &[(80, Some(32000))])],
    ));
    assert_eq!(reasons(&r), vec!["no_binding_for_port"]);
}

#[test]
fn docker_labels_win_over_the_environment() {
    let r = resolve(&cluster(
        "awsvpc",
        vec![def(
            "app",
            &[("PROMETHEUS", "1"), ("PROMETHEUS_PORT", "1111")],
            &[("PROMETHEUS_PORT", "2222")],
            &[],
        )],
        vec![],
    ));
    assert_eq!(endpoints(&r)[0].0, "10.1.2.3:2222");
}

#[test]
fn tag_convention_groups_by_suffix_and_task_tags_win() {
    let mut c = cluster(
        "awsvpc",
        vec![def("app", &[], &[], &[(8080, None), (9100, None)])],
        vec![],
    );
    c.service_tags.insert(
        "web".into(),
        Arc::new(map(&[
            ("METRICS_PORT", "8080"),
            ("METRICS_PATH", "/svc"),
            ("METRICS_NAME", "web"),
        ])),
    );
    Arc::make_mut(&mut c.tasks[0]).tags = map(&[
        ("METRICS_PATH", "/task"),
        ("METRICS_PORT_NODE", "9100"),
        ("METRICS_NAME_NODE", "node"),
    ]);
    let r = resolve(&c);
    assert_eq!(
        endpoints(&r),
        vec![
            ("10.1.2.3:8080".into(), "/task".into(), None),
            ("10.1.2.3:9100".into(), "/metrics".into(), None)
        ]
    );
    assert_eq!(&r.targets[0].labels["scrape_target_name"], "web");
    assert_eq!(&r.targets[1].labels["scrape_target_name"], "node");
    // a path without a port
    Arc::make_mut(&mut c.tasks[0]).tags = map(&[("METRICS_PATH_X", "/x")]);
    c.service_tags.clear();
    assert_eq!(reasons(&resolve(&c)), vec!["tag_without_port"]);
}

#[test]
fn tag_convention_in_bridge_mode_maps_to_the_host_port() {
    let mut c = cluster(
        "bridge",
        vec![
            def("app", &[], &[], &[(8080, None)]),
            def("side", &[], &[], &[(9100, None)]),
        ],
        vec![
            bindings("app", &[(8080, Some(32768))]),
            bindings("side", &[(9100, Some(32999))]),
        ],
    );
    Arc::make_mut(&mut c.tasks[0]).tags = map(&[("METRICS_PORT", "9100")]);
    let r = resolve(&c);
    assert_eq!(endpoints(&r)[0].0, "10.0.0.5:32999");
    assert_eq!(&r.targets[0].labels["ecs_container"], "side");
}

#[test]
fn all_three_conventions_in_one_task() {
    let mut c = cluster(
        "awsvpc",
        vec![
            def(
                "env",
                &[("PROMETHEUS", "1"), ("PROMETHEUS_PORT", "1001")],
                &[],
                &[],
            ),
            def("docker", &[], &[("PROMETHEUS_EXPORTER_PORT", "1002")], &[]),
            def("plain", &[], &[], &[(1003, None)]),
        ],
        vec![],
    );
    Arc::make_mut(&mut c.tasks[0]).tags = map(&[("METRICS_PORT", "1003")]);
    let r = resolve(&c);
    let conventions: Vec<_> = r
        .targets
        .iter()
        .map(|t| t.labels["__meta_ecs_convention"].to_string())
        .collect();
    assert_eq!(conventions, vec!["environment", "docker_label", "tag"]);
    assert_eq!(&r.targets[2].labels["ecs_container"], "plain");
}

#[test]
fn labels_of_a_target() {
    let env = [
        ("PROMETHEUS", "1"),
        ("PROMETHEUS_LABEL_team", "obs"),
        ("PROMETHEUS_LABEL_", "x"),
        ("PROMETHEUS_LABEL_bad-name", "x"),
    ];
    let mut c = cluster(
        "bridge",
        vec![def("app", &env, &[], &[(8080, None)])],
        vec![bindings("app", &[(8080, Some(32768))])],
    );
    Arc::make_mut(&mut c.tasks[0]).tags = map(&[("aws:ecs:clusterName", "c1")]);
    let mut opts = options();
    opts.extra_labels = map(&[("region", "eu"), ("team", "platform")]);
    let r = resolve_cluster(&c, &opts);
    let labels = &r.targets[0].labels;
    let expect = [
        ("job", "app"),
        ("team", "obs"),
        ("region", "eu"),
        ("ecs_cluster", "c1"),
        ("ecs_service", "web"),
        ("ecs_task_family", "app"),
        ("ecs_task_revision", "3"),
        ("ecs_container", "app"),
        ("__meta_ecs_cluster", "c1"),
        (
            "__meta_ecs_cluster_arn",
            "arn:aws:ecs:us-east-1:1:cluster/c1",
        ),
        ("__meta_ecs_service", "web"),
        ("__meta_ecs_task_arn", "arn:aws:ecs:us-east-1:1:task/c1/t1"),
        ("__meta_ecs_task_definition", TD),
        ("__meta_ecs_task_group", "service:web"),
        ("__meta_ecs_launch_type", "EC2"),
        ("__meta_ecs_network_mode", "bridge"),
        ("__meta_ecs_availability_zone", "us-east-1a"),
        ("__meta_ecs_ip_address", "10.0.0.5"),
        ("__meta_ecs_container_name", "app"),
        ("__meta_ecs_task_definition_family", "app"),
        ("__meta_ecs_task_definition_revision", "3"),
        ("__meta_ecs_container_instance_arn", CI),
        ("__meta_ecs_ec2_instance_id", "i-1"),
        ("__meta_ecs_ec2_instance_private_ip", "10.0.0.5"),
        ("__meta_ecs_tag_cluster_env", "prod"),
        ("__meta_ecs_tag_service_team", "obs"),
        ("__meta_ecs_tag_task_aws_ecs_clusterName", "c1"),
    ];
    for (name, value) in expect {
        assert_eq!(labels.get(name), Some(value), "{name}");
    }
    // The invalid names are dropped and said: in the skip list (explain), with key and family.
    assert_eq!(reasons(&r), ["invalid_label_name", "invalid_label_name"]);
    let said: Vec<String> = r.skipped.iter().map(|s| s.reason.to_string()).collect();
    assert!(
        said.iter()
            .any(|s| s.contains("PROMETHEUS_LABEL_bad-name") && s.contains("family app")),
        "{said:?}"
    );
    // standalone task: no service labels; awsvpc: no EC2 labels
    let mut c = cluster(
        "awsvpc",
        vec![def("app", &[("PROMETHEUS", "1")], &[], &[])],
        vec![],
    );
    Arc::make_mut(&mut c.tasks[0]).group = Some("family:app".into());
    let labels = &resolve(&c).targets[0].labels;
    assert!(!labels.contains_key("ecs_service") && !labels.contains_key("__meta_ecs_service"));
    assert!(!labels.contains_key("__meta_ecs_ec2_instance_id"));
}

#[test]
fn filter_label_and_service_selector() {
    let make = || {
        cluster(
            "awsvpc",
            vec![def(
                "app",
                &[("PROMETHEUS", "1")],
                &[("scrape", "yes")],
                &[],
            )],
            vec![],
        )
    };
    let mut opts = options();
    opts.filter_label = Some(LabelFilter {
        name: "scrape".into(),
        value: Some("no".into()),
    });
    assert_eq!(
        reasons(&resolve_cluster(&make(), &opts)),
        vec!["filtered_by_label"]
    );
    opts.filter_label = Some(LabelFilter {
        name: "scrape".into(),
        value: None,
    });
    assert_eq!(resolve_cluster(&make(), &opts).targets.len(), 1);

    let mut opts = options();
    opts.service_selector = map(&[("team", "obs")]);
    assert_eq!(resolve_cluster(&make(), &opts).targets.len(), 1);
    opts.service_selector = map(&[("team", "other")]);
    assert_eq!(
        reasons(&resolve_cluster(&make(), &opts)),
        vec!["service_selector"]
    );
    // standalone tasks have no service to match
    let mut c = make();
    Arc::make_mut(&mut c.tasks[0]).group = None;
    opts.service_selector = map(&[("team", "obs")]);
    assert_eq!(
        reasons(&resolve_cluster(&c, &opts)),
        vec!["service_selector"]
    );
}

#[test]
fn duplicate_endpoints_are_emitted_once() {
    let env = [
        ("PROMETHEUS", "1"),
        ("PROMETHEUS_ENDPOINT", "/metrics,/metrics"),
    ];
    let r = resolve(&cluster(
        "awsvpc",
        vec![def(
            "app",
            &env,
            &[("PROMETHEUS_EXPORTER_PORT", "8080")],
            &[(8080, None)],
        )],
        vec![],
    ));
    assert_eq!(r.targets.len(), 3);
    assert_eq!(combine(r.targets).len(), 1);
}

/// One Cloud Map instance registered in two services is two targets, each with its service's
/// labels, whatever ECS targets share the address.
#[test]
fn cloud_map_targets_at_one_address_are_all_kept() {
    let mut interner = Interner::default();
    let mut target = |origin, service: &str| {
        Arc::new(Target {
            origin,
            interval: None,
            address: "10.0.0.1:9100".into(),
            labels: LabelSet::from_pairs(vec![(
                interner.intern("__meta_cloudmap_service"),
                interner.intern(service),
            )]),
        })
    };
    let combined = combine([
        target(Origin::CloudMap, "b"),
        target(Origin::Ecs, "x"),
        target(Origin::CloudMap, "a"),
        target(Origin::Ecs, "y"),
    ]);
    let kept: Vec<_> = combined
        .iter()
        .map(|t| {
            (
                t.origin,
                t.labels.get("__meta_cloudmap_service").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            (Origin::Ecs, "x"),
            (Origin::CloudMap, "a"),
            (Origin::CloudMap, "b")
        ]
    );
}

#[test]
fn many_containers_many_tasks() {
    let mut c = cluster(
        "bridge",
        vec![
            def("a", &[("PROMETHEUS", "1")], &[], &[(1, None)]),
            def("b", &[("PROMETHEUS", "1")], &[], &[(2, None)]),
        ],
        vec![
            bindings("a", &[(1, Some(40001))]),
            bindings("b", &[(2, Some(40002))]),
        ],
    );
    let mut second = (*c.tasks[0]).clone();
    second.arn.push('2');
    second.containers = vec![
        bindings("a", &[(1, Some(40003))]),
        bindings("b", &[(2, Some(40004))]),
    ];
    c.tasks.push(Arc::new(second));
    let addresses: Vec<_> = resolve(&c)
        .targets
        .into_iter()
        .map(|t| t.address.to_string())
        .collect();
    assert_eq!(
        addresses,
        vec![
            "10.0.0.5:40001",
            "10.0.0.5:40002",
            "10.0.0.5:40003",
            "10.0.0.5:40004"
        ]
    );
}

#[test]
fn awsvpc_on_ec2_uses_the_eni_address_and_keeps_the_instance_labels() {
    let mut snapshot = cluster(
        "awsvpc",
        vec![def("app", &[("PROMETHEUS", "true")], &[], &[(8080, None)])],
        vec![bindings("app", &[])],
    );
    let task = Arc::make_mut(&mut snapshot.tasks[0]);
    task.launch_type = Some("EC2".into());
    task.container_instance_arn = Some(CI.into());
    let r = resolve(&snapshot);
    assert_eq!(
        endpoints(&r),
        vec![("10.1.2.3:8080".into(), "/metrics".into(), None)]
    );
    let labels = &r.targets[0].labels;
    assert_eq!(&labels["__meta_ecs_ip_address"], "10.1.2.3");
    assert_eq!(&labels["__meta_ecs_ec2_instance_id"], "i-1");
    assert_eq!(&labels["__meta_ecs_ec2_instance_private_ip"], "10.0.0.5");
    assert_eq!(&labels["__meta_ecs_container_instance_arn"], CI);
}

#[test]
fn a_custom_label_starting_with_two_underscores_refuses_the_container() {
    for key in [
        "PROMETHEUS_LABEL___scheme__",
        "PROMETHEUS_LABEL___scrape_interval__",
        "PROMETHEUS_LABEL___param_target",
        "PROMETHEUS_LABEL___meta_ecs_service",
    ] {
        let env = [
            ("PROMETHEUS", "1"),
            (key, "x"),
            ("PROMETHEUS_LABEL_team", "obs"),
        ];
        let r = resolve_app(&env);
        assert!(r.targets.is_empty(), "{key} made a target: {:?}", r.targets);
        let [skip] = r.skipped.as_slice() else {
            panic!("{key}: {:?}", r.skipped)
        };
        assert_eq!(skip.reason.code(), "reserved_label");
        assert_eq!(skip.container, "app");
        let reason = skip.reason.to_string();
        assert!(
            reason.contains(key) && reason.contains("family app"),
            "{reason}"
        );
    }
}

#[test]
fn the_server_name_is_a_hostname_or_an_ip_address() {
    let resolved = |name: &str| {
        let labels = [
            ("PROMETHEUS_EXPORTER_PORT", "9100"),
            ("PROMETHEUS_EXPORTER_SERVER_NAME", name),
        ];
        resolve(&cluster(
            "awsvpc",
            vec![def("app", &[], &labels, &[(9100, None)])],
            vec![],
        ))
    };
    for (name, address) in [
        ("api.internal", "api.internal:9100"),
        (
            "node-1.eu-west-1.compute.internal.",
            "node-1.eu-west-1.compute.internal:9100",
        ),
        (" 10.0.0.9 ", "10.0.0.9:9100"),
        ("fd00::5", "[fd00::5]:9100"),
        ("[fd00::5]", "[fd00::5]:9100"),
    ] {
        let r = resolved(name);
        assert_eq!(
            r.targets.iter().map(|t| &*t.address).collect::<Vec<_>>(),
            [address],
            "{name}"
        );
    }
    for name in [
        "evil.example:6666",
        "user:pw@host",
        "host/path",
        "host?x=1",
        "-bad.example",
        "a..b",
        &"x".repeat(64),
    ] {
        let r = resolved(name);
        assert!(r.targets.is_empty(), "{name} made {:?}", r.targets);
        assert_eq!(
            r.skipped
                .iter()
                .map(|s| s.reason.code())
                .collect::<Vec<_>>(),
            ["invalid_server_name"],
            "{name}"
        );
    }
}

/// A RUNNING task is listed with its version, and its ARN is the very string its targets'
/// `__meta_ecs_task_arn` holds: the list costs no copy of every ARN.
#[test]
fn running_tasks_share_the_arn_of_their_targets() {
    let r = resolve_app(&[("PROMETHEUS", "true")]);
    let [target] = &r.targets[..] else {
        panic!("one target: {:?}", r.targets)
    };
    let label = target
        .labels
        .get("__meta_ecs_task_arn")
        .expect("task arn label");
    let (arn, _) = r.running_tasks.iter().next().expect("the task is listed");
    assert_eq!(r.running_tasks.len(), 1);
    assert_eq!(&**arn, label);
    assert!(std::ptr::eq(arn.as_ptr(), label.as_ptr()), "one allocation");
}
