//! The cache policy, without any AWS mock.

use crate::edge::tests::{TD, app_definition, sdk_task, task_arn};

use super::super::convert::{task_definition_from_sdk, task_from_sdk};
use super::*;
use crate::model::TaskStatus;
use aws_sdk_ecs::types as ecs;

#[test]
fn expired_service_descriptions_are_evicted() {
    let mut caches = Caches::new(Duration::from_secs(300));
    let now = Instant::now();
    let old = now
        .checked_sub(Duration::from_secs(301))
        .expect("a clock past 301 s");
    let tags = Arc::new(BTreeMap::new());
    caches
        .services
        .insert(("c".into(), "deleted".into()), (old, tags.clone()));
    caches
        .services
        .insert(("c".into(), "live".into()), (now, tags));
    caches.evict_expired_services();
    assert_eq!(
        caches
            .services
            .keys()
            .map(|(_, s)| s.as_str())
            .collect::<Vec<_>>(),
        ["live"]
    );
}

#[test]
fn the_task_definition_cache_keeps_the_most_recently_used_beyond_those_in_use() {
    let mut caches = Caches::new(Duration::from_secs(300));
    let definition = |arn: &str| {
        Arc::new(task_definition_from_sdk(
            app_definition(arn, 1, ecs::NetworkMode::Awsvpc)
                .task_definition()
                .expect("definition"),
        ))
    };
    // The one in use is the least recently used of all.
    caches.task_definitions.put(TD.to_string(), definition(TD));
    let extra = 10;
    for i in 0..TASK_DEFINITION_CACHE_LIMIT + extra {
        let arn = format!("arn:aws:ecs:us-east-1:1:task-definition/old:{i}");
        caches.task_definitions.put(arn.clone(), definition(&arn));
    }
    let running = task_from_sdk(&sdk_task(&task_arn(1)));
    caches.running.insert(
        "c1".into(),
        HashMap::from([(
            running.arn.clone(),
            KnownTask {
                task: Arc::new(running),
                described_at: Instant::now(),
            },
        )]),
    );
    caches.evict_least_recently_used_task_definitions();
    assert_eq!(caches.task_definitions.len(), TASK_DEFINITION_CACHE_LIMIT);
    assert!(
        caches.task_definitions.contains(TD),
        "in use: never evicted"
    );
    let newest = format!(
        "arn:aws:ecs:us-east-1:1:task-definition/old:{}",
        TASK_DEFINITION_CACHE_LIMIT + extra - 1
    );
    assert!(
        caches.task_definitions.contains(&newest),
        "the revision a rollback returns to stays"
    );
    for i in 0..=extra {
        let evicted = format!("arn:aws:ecs:us-east-1:1:task-definition/old:{i}");
        assert!(
            !caches.task_definitions.contains(&evicted),
            "{evicted} is among the least recently used"
        );
    }
}

/// What lets a cycle skip describing a cluster: the same RUNNING tasks, each described within
/// the TTL, and its services fresh. A task not yet RUNNING is never known.
#[tokio::test(start_paused = true)]
async fn a_cluster_needs_no_description_only_while_its_tasks_are_known_and_fresh() {
    let mut caches = Caches::new(Duration::from_secs(300));
    let running = Arc::new(task_from_sdk(&sdk_task(&task_arn(1))));
    let mut pending = task_from_sdk(&sdk_task(&task_arn(2)));
    pending.last_status = TaskStatus::Pending;
    let tasks = [running.clone(), Arc::new(pending)];
    let described: HashSet<String> = tasks.iter().map(|t| t.arn.clone()).collect();
    let needed = HashSet::from(["ci/1".to_string()]);
    let instances = caches.commit(Commit {
        cluster: "c1",
        tasks: &tasks,
        new_instances: ["ci/1", "ci/gone"]
            .map(|arn| Instance {
                container_instance_arn: arn.to_string(),
                ..Instance::default()
            })
            .into(),
        needed: &needed,
        service_names: Vec::new(),
        described: &described,
        described_at: Instant::now(),
    });
    assert_eq!(
        instances.keys().collect::<Vec<_>>(),
        ["ci/1"],
        "only what a task runs on"
    );
    assert!(caches.missing_instances("c1", &needed).is_empty());

    let only_running = [task_arn(1)];
    assert!(caches.nothing_to_describe("c1", "arn:c1", &only_running));
    assert!(
        !caches.nothing_to_describe("c1", "arn:c1", &[task_arn(1), task_arn(2)]),
        "the PENDING task is described again"
    );
    assert!(
        !caches.nothing_to_describe("c2", "arn:c2", &[]),
        "never seen"
    );
    assert!(caches.fresh_task("c1", &task_arn(1)).is_some());

    tokio::time::advance(Duration::from_secs(301)).await;
    assert!(
        !caches.nothing_to_describe("c1", "arn:c1", &only_running),
        "past the TTL, for its tags"
    );
    assert!(caches.fresh_task("c1", &task_arn(1)).is_none());
}
