//! The parser against events of the documented shape (AWS, "Amazon ECS task state change
//! events": https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_task_events.html).
//! The events below are written for these tests, with the fields that page shows.

use serde_json::json;

use super::*;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

fn event(detail: serde_json::Value) -> String {
    json!({
        "version": "0",
        "id": "3317b2af-7005-947d-b652-f55e762e571a",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-30T17:00:00Z",
        "region": "us-east-1",
        "resources": [detail["taskArn"].clone()],
        "detail": detail,
    })
    .to_string()
}

#[test]
fn a_fargate_task_gets_its_address_from_the_eni_attachment() {
    let body = event(json!({
        "clusterArn": CLUSTER,
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7",
        "lastStatus": "RUNNING",
        "desiredStatus": "RUNNING",
        "launchType": "FARGATE",
        "availabilityZone": "us-east-1a",
        "group": "service:api",
        "version": 4,
        "connectivity": "CONNECTED",
        "attachments": [{
            "id": "a1", "type": "eni", "status": "ATTACHED",
            "details": [
                {"name": "subnetId", "value": "subnet-1"},
                {"name": "privateIPv4Address", "value": "10.0.1.25"}
            ]
        }],
        "containers": [{
            "name": "api", "lastStatus": "RUNNING",
            "networkInterfaces": [{"attachmentId": "a1", "privateIpv4Address": "10.0.1.25"}]
        }],
        "someFieldAddedLater": {"ignored": true}
    }));
    let change = parse(&body).expect("a task state change");
    assert_eq!(change.cluster_arn, CLUSTER);
    assert_eq!(change.version, 4);
    assert!(change.is_running());
    let task = &change.task;
    assert_eq!(task.eni_private_ipv4.as_deref(), Some("10.0.1.25"));
    assert_eq!(
        task.containers[0].private_ipv4.as_deref(),
        Some("10.0.1.25")
    );
    assert_eq!(task.service_name(), Some("api"));
    assert_eq!(task.launch_type, Some(LaunchType::Fargate));
    assert_eq!(task.version, Some(4));
    assert!(task.tags.is_empty(), "events carry no tags");
}

#[test]
fn a_bridge_task_keeps_its_dynamic_host_ports() {
    let body = event(json!({
        "clusterArn": CLUSTER,
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/prod/9f8e",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
        "containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/ci1",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stoppedReason": "Scaling activity initiated by deployment",
        "version": 6,
        "containers": [{
            "name": "web",
            "networkBindings": [{"bindIP": "0.0.0.0", "containerPort": 8080, "hostPort": 32771, "protocol": "tcp"}]
        }]
    }));
    let change = parse(&body).expect("a task state change");
    assert!(!change.is_running());
    assert_eq!(change.task.last_status, TaskStatus::Stopped);
    assert_eq!(
        change.task.containers[0].network_bindings,
        [NetworkBinding {
            container_port: Some(8080),
            host_port: Some(32771)
        }]
    );
    assert_eq!(
        change.task.container_instance_arn.as_deref(),
        Some("arn:aws:ecs:us-east-1:123456789012:container-instance/prod/ci1")
    );
}

/// ECS sets desiredStatus STOPPED first; the containers stop after (lastStatus still RUNNING).
#[test]
fn a_running_task_ecs_is_stopping_is_no_target() {
    let body = event(json!({
        "clusterArn": CLUSTER,
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:7",
        "lastStatus": "RUNNING",
        "desiredStatus": "STOPPED",
        "version": 5,
    }));
    let change = parse(&body).expect("a task state change");
    assert_eq!(change.task.last_status, TaskStatus::Running);
    assert!(!change.is_running());
}

#[test]
fn other_messages_are_refused_with_what_they_are() {
    let instance_event = json!({
        "source": "aws.ecs", "detail-type": "ECS Container Instance State Change", "detail": {}
    })
    .to_string();
    assert_eq!(
        parse(&instance_event),
        Err(EventError::OtherEvent {
            from: "aws.ecs".into(),
            detail_type: "ECS Container Instance State Change".into()
        })
    );
    assert!(matches!(parse("not json"), Err(EventError::NotJson(_))));
    let no_version = event(json!({
        "clusterArn": CLUSTER, "taskArn": "t", "taskDefinitionArn": "d", "lastStatus": "RUNNING"
    }));
    assert_eq!(parse(&no_version), Err(EventError::Missing("version")));
    let no_detail =
        json!({"source": "aws.ecs", "detail-type": "ECS Task State Change"}).to_string();
    assert_eq!(parse(&no_detail), Err(EventError::Missing("detail")));
}
