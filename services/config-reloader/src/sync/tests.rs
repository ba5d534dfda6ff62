//! A pass against mocked SSM and Cloud Map, into a temp dir: names refused, invalid YAML kept
//! out, unchanged content never rewritten, Cloud Map targets written.

use std::sync::Mutex;

use aws_sdk_servicediscovery::operation::discover_instances::DiscoverInstancesOutput;
use aws_sdk_servicediscovery::operation::list_namespaces::ListNamespacesOutput;
use aws_sdk_servicediscovery::operation::list_services::ListServicesOutput;
use aws_sdk_servicediscovery::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::*;
use crate::metrics::ResultLabels;

/// The parameter store of a test: the main config and the scrape-config parameters.
#[derive(Debug, Default)]
struct Store {
    main: Mutex<String>,
    scrape: Mutex<Vec<(String, String)>>,
}

fn ssm_rules(store: &Arc<Store>) -> Vec<Rule> {
    let main = store.clone();
    let get = mock!(aws_sdk_ssm::Client::get_parameter).then_compute_output(move |_| {
        let value = main.main.lock().map(|v| v.clone()).unwrap_or_default();
        GetParameterOutput::builder()
            .parameter(
                aws_sdk_ssm::types::Parameter::builder()
                    .name("/prom/config.yml")
                    .value(value)
                    .build(),
            )
            .build()
    });
    let scrape = store.clone();
    let by_path =
        mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_compute_output(move |_| {
            let params = scrape.scrape.lock().map(|v| v.clone()).unwrap_or_default();
            let mut out = GetParametersByPathOutput::builder();
            for (name, value) in params {
                out = out.parameters(
                    aws_sdk_ssm::types::Parameter::builder()
                        .name(name)
                        .value(value)
                        .build(),
                );
            }
            out.build()
        });
    vec![get, by_path]
}

fn cloudmap_rules() -> Vec<Rule> {
    let namespaces = mock!(aws_sdk_servicediscovery::Client::list_namespaces).then_output(|| {
        ListNamespacesOutput::builder()
            .namespaces(
                aws_sdk_servicediscovery::types::NamespaceSummary::builder()
                    .id("ns-1")
                    .name("apps.local")
                    .build(),
            )
            .build()
    });
    let services = mock!(aws_sdk_servicediscovery::Client::list_services).then_output(|| {
        ListServicesOutput::builder()
            .services(
                aws_sdk_servicediscovery::types::ServiceSummary::builder()
                    .name("web")
                    .arn("arn:aws:servicediscovery:us-east-1:1:service/srv-1")
                    .build(),
            )
            .build()
    });
    let tags = mock!(aws_sdk_servicediscovery::Client::list_tags_for_resource)
        .then_output(|| ListTagsForResourceOutput::builder().build());
    let discover = mock!(aws_sdk_servicediscovery::Client::discover_instances).then_output(|| {
        DiscoverInstancesOutput::builder()
            .instances(
                aws_sdk_servicediscovery::types::HttpInstanceSummary::builder()
                    .instance_id("i-1")
                    .attributes("AWS_INSTANCE_IPV4", "10.0.0.7")
                    .attributes("AWS_INSTANCE_PORT", "9100")
                    .build(),
            )
            .build()
    });
    vec![namespaces, services, tags, discover]
}

fn syncer(store: &Arc<Store>, dir: &std::path::Path) -> Syncer {
    let ssm = ssm_rules(store);
    let ssm_refs: Vec<&Rule> = ssm.iter().collect();
    let sd = cloudmap_rules();
    let sd_refs: Vec<&Rule> = sd.iter().collect();
    Syncer {
        source: ConfigSource::Ssm {
            client: mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &ssm_refs),
            config_parameter: "/prom/config.yml".into(),
            scrape_configs_path: Some("/prom/scrape".into()),
            max_object_bytes: crate::source::DEFAULT_MAX_OBJECT_BYTES,
        },
        cloudmap: CloudMap::new(mock_client!(
            aws_sdk_servicediscovery,
            RuleMode::MatchAny,
            &sd_refs
        )),
        dir: dir.to_path_buf(),
        file_name: "prometheus.yml".into(),
        metrics: Arc::new(Metrics::default()),
        acceptance: Arc::default(),
    }
}

fn writes(metrics: &Metrics, result: &str) -> u64 {
    metrics
        .file_writes
        .get_or_create(&ResultLabels {
            result: result.into(),
        })
        .get()
}

fn store(main: &str, scrape: &[(&str, &str)]) -> Arc<Store> {
    Arc::new(Store {
        main: Mutex::new(main.into()),
        scrape: Mutex::new(
            scrape
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        ),
    })
}

#[tokio::test]
async fn traversal_names_are_refused_and_nothing_leaves_the_directory() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("config");
    std::fs::create_dir(&dir).expect("config dir");
    let store = store(
        "global: {}\n",
        &[
            ("/prom/scrape/..", "x"),
            ("/prom/scrape/../../etc/passwd", "root::0:0"),
            ("/prom/scrape/jobs.yml", "- targets: []\n"),
        ],
    );
    let mut syncer = syncer(&store, &dir);
    let report = syncer.pass().await;
    assert_eq!(report.errors.len(), 2, "{:?}", report.errors);
    assert!(report.errors.iter().any(|e| e.contains("'..'")));
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("'../../etc/passwd'"))
    );
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["jobs.yml", "prometheus.yml"]);
    let outside: Vec<_> = std::fs::read_dir(root.path()).expect("list").collect();
    assert_eq!(outside.len(), 1, "only the config dir is in the parent");
    assert_eq!(writes(&syncer.metrics, "refused"), 2);
}

#[tokio::test]
async fn invalid_yaml_keeps_the_old_file_and_asks_for_no_reload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store("scrape_configs: []\n", &[]);
    let mut syncer = syncer(&store, dir.path());
    assert!(syncer.pass().await.reload_needed);

    *store.main.lock().expect("lock") = "scrape_configs: [\n  - job_name: x\n".into();
    let report = syncer.pass().await;
    assert!(!report.reload_needed);
    assert!(
        report.errors[0].contains("'/prom/config.yml' is not valid YAML"),
        "{:?}",
        report.errors
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("prometheus.yml")).expect("file"),
        "scrape_configs: []\n"
    );
    assert_eq!(writes(&syncer.metrics, "invalid"), 1);

    *store.main.lock().expect("lock") = "scrape_configs: [{job_name: x}]\n".into();
    let report = syncer.pass().await;
    assert!(report.is_success() && report.reload_needed);
}

#[tokio::test]
async fn a_hundred_unchanged_passes_write_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(
        "global: {}\n",
        &[
            ("/prom/scrape/jobs.yml", "- targets: []\n"),
            ("/prom/scrape/cloudmap", "apps.local"),
        ],
    );
    let mut syncer = syncer(&store, dir.path());
    assert!(syncer.pass().await.is_success());
    let written = writes(&syncer.metrics, "written");
    assert_eq!(written, 3, "prometheus.yml, jobs.yml and cloudmap.json");
    let mtime = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let before = mtime("prometheus.yml");
    for _ in 0..100 {
        let report = syncer.pass().await;
        assert!(report.is_success() && !report.reload_needed);
    }
    assert_eq!(writes(&syncer.metrics, "written"), written);
    assert_eq!(writes(&syncer.metrics, "unchanged"), 300);
    assert_eq!(mtime("prometheus.yml"), before);
}

#[tokio::test]
async fn the_cloudmap_parameter_becomes_a_file_sd_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(
        "global: {}\n",
        &[("/prom/scrape/cloudmap", " apps.local , ")],
    );
    let mut syncer = syncer(&store, dir.path());
    assert!(syncer.pass().await.is_success());
    let groups: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(CLOUDMAP_FILE)).expect("cloudmap.json"),
    )
    .expect("json");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["targets"][0], "10.0.0.7:9100");
    assert_eq!(groups[0]["labels"]["__meta_cloudmap_service_name"], "web");
    assert!(!dir.path().join("cloudmap").exists());
}

#[test]
fn namespaces_are_comma_separated_and_trimmed() {
    assert_eq!(
        parse_namespaces(b" a.local, b.local ,,"),
        ["a.local", "b.local"]
    );
    assert!(parse_namespaces(b"").is_empty());
}

/// A version of the main config: big enough that a non-atomic write would be seen half done.
fn version(n: usize) -> String {
    let jobs: String = (0..4000)
        .map(|i| {
            format!(
                "  - job_name: job-{n}-{i}\n    static_configs: [{{targets: ['10.0.{n}.1:{i}']}}]\n"
            )
        })
        .collect();
    format!("# version {n}\nscrape_configs:\n{jobs}# end {n}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_in_a_tight_loop_never_sees_a_partial_file_over_100_rewrites() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prometheus.yml");
    let store = store(&version(0), &[]);
    let mut syncer = syncer(&store, dir.path());
    assert!(syncer.pass().await.reload_needed);

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (done, path) = (done.clone(), path.clone());
        std::thread::spawn(move || {
            let (mut reads, mut partial) = (0u64, Vec::new());
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let text = std::fs::read_to_string(&path).expect("the file always exists");
                reads += 1;
                let first = text.lines().next().unwrap_or_default().to_string();
                let n = first.strip_prefix("# version ").unwrap_or("?");
                if !text.ends_with(&format!("# end {n}\n")) {
                    partial.push(format!("{first} ({} bytes)", text.len()));
                }
            }
            (reads, partial)
        })
    };
    for n in 1..=100 {
        *store.main.lock().expect("lock") = version(n);
        let report = syncer.pass().await;
        assert!(
            report.is_success() && report.reload_needed,
            "pass {n}: {:?}",
            report.errors
        );
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (reads, partial) = reader.join().expect("reader thread");
    assert!(partial.is_empty(), "partial reads: {partial:?}");
    assert!(reads > 100, "the reader read only {reads} times");
    assert_eq!(writes(&syncer.metrics, "written"), 101);
}

#[tokio::test]
async fn a_changed_rule_file_asks_for_a_reload_and_a_file_sd_file_does_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store(
        "rule_files: [/etc/config/*.rules.yml]\n",
        &[
            ("/prom/scrape/stack.rules.yml", "groups: []\n"),
            ("/prom/scrape/static.json", "[]\n"),
        ],
    );
    let mut syncer = syncer(&store, dir.path());
    assert!(syncer.pass().await.reload_needed);
    assert!(!syncer.pass().await.reload_needed, "nothing changed");

    store.scrape.lock().expect("lock")[1].1 = "[{\"targets\": [\"10.0.0.1:80\"]}]\n".into();
    assert!(
        !syncer.pass().await.reload_needed,
        "file_sd is re-read by Prometheus"
    );

    store.scrape.lock().expect("lock")[0].1 = "groups: [{name: g, rules: []}]\n".into();
    assert!(
        syncer.pass().await.reload_needed,
        "a rule file needs a reload"
    );
}
