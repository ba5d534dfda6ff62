//! Command line and environment of ecs-discoverer, validated into a [`Config`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use stack_common::labels::is_valid_label_name;
use stack_common::listen::Listen;
use stack_common::target_group::OutputFormat;
use stack_common::telemetry::LogFormat;

use crate::resolve::{LabelFilter, Options};

#[derive(Debug, Parser)]
#[command(
    name = "ecs-discoverer",
    version,
    about = "Discovers scrapeable containers in Amazon ECS and serves them to Prometheus as file_sd files and an http_sd endpoint."
)]
pub struct Cli {
    /// Cluster names or ARNs to scan, comma-separated; every cluster (ListClusters) when unset.
    #[arg(long, env = "ECS_SD_CLUSTERS", value_delimiter = ',', global = true)]
    pub clusters: Vec<String>,

    /// Time between discovery cycles (`15s`, `1m`).
    #[arg(long, env = "ECS_SD_INTERVAL", default_value = "30s", value_parser = parse_interval, allow_hyphen_values = true, global = true)]
    pub interval: Duration,

    /// Run one cycle, write the outputs, and exit (non-zero on failure).
    #[arg(long)]
    pub once: bool,

    /// Directory for the file_sd files; none are written when unset.
    #[arg(long, env = "ECS_SD_OUTPUT_DIR")]
    pub output_dir: Option<PathBuf>,

    /// file_sd format.
    #[arg(long, env = "ECS_SD_OUTPUT_FORMAT", value_enum, default_value = "json")]
    pub output_format: OutputFormat,

    /// HTTP server (http_sd, metrics, health, debug pages); `off` disables it.
    #[arg(long, env = "ECS_SD_LISTEN", default_value = "0.0.0.0:9001")]
    pub listen: Listen,

    /// Metrics path when a container names none.
    #[arg(
        long,
        env = "ECS_SD_FALLBACK_METRICS_PATH",
        default_value = "/metrics",
        global = true
    )]
    pub fallback_metrics_path: String,

    /// Keep only containers whose docker labels have NAME (with VALUE when given): NAME[=VALUE].
    #[arg(long, env = "ECS_SD_FILTER_LABEL", global = true)]
    pub filter_label: Option<String>,

    /// Only services whose tags match all of these KEY=VALUE pairs (comma-separated).
    /// Standalone tasks have no service and are kept only when no selector is given.
    #[arg(
        long,
        env = "ECS_SD_SERVICE_SELECTOR",
        value_delimiter = ',',
        global = true
    )]
    pub service_selector: Vec<String>,

    /// Static NAME=VALUE labels added to every target (comma-separated).
    #[arg(
        long,
        env = "ECS_SD_EXTRA_LABELS",
        value_delimiter = ',',
        global = true
    )]
    pub extra_labels: Vec<String>,

    /// Cloud Map namespaces whose instances are added to http_sd and the combined file.
    #[arg(
        long,
        env = "ECS_SD_CLOUDMAP_NAMESPACES",
        value_delimiter = ',',
        global = true
    )]
    pub cloudmap_namespaces: Vec<String>,

    /// An SQS queue that receives ECS task state change events from EventBridge: each event is
    /// applied as it arrives, and the cycle at `--interval` reconciles what events missed.
    #[arg(long, env = "ECS_SD_EVENTS_QUEUE_URL", global = true)]
    pub events_queue_url: Option<String>,

    /// Assume this role for every AWS call.
    #[arg(long, env = "ECS_SD_ROLE_ARN", global = true)]
    pub role_arn: Option<String>,

    /// External id for the assumed role.
    #[arg(long, env = "ECS_SD_EXTERNAL_ID", requires = "role_arn", global = true)]
    pub external_id: Option<String>,

    /// How long one AWS call may take, retries included, before the cycle counts it as failed.
    #[arg(long, env = "ECS_SD_API_TIMEOUT", default_value = "30s", value_parser = parse_interval, allow_hyphen_values = true, global = true)]
    pub api_timeout: Duration,

    /// How long descriptions with tags (clusters, services, running tasks; for selectors and
    /// labels) are cached before they are described again.
    #[arg(long, env = "ECS_SD_SERVICE_CACHE_TTL", default_value = "5m", value_parser = parse_interval, allow_hyphen_values = true, global = true)]
    pub service_cache_ttl: Duration,

    /// Log format.
    #[arg(
        long,
        env = "ECS_SD_LOG_FORMAT",
        value_enum,
        default_value = "human",
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one discovery cycle and list every container that carries a marker but is not a
    /// target, with the reason. Prints the targets too with `--all`.
    Explain {
        /// Also list the containers that became targets.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_interval(raw: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("'{raw}' is not a duration ({e}): give e.g. 15s, 30s, 1m"))?;
    if duration.is_zero() {
        return Err(format!(
            "'{raw}' is zero: give a positive duration such as 30s"
        ));
    }
    // Below a second, a cycle (or a timeout, or a cache) only hammers the AWS API.
    if duration < Duration::from_secs(1) {
        return Err(format!(
            "'{raw}' is below the 1s floor: give 1s or more, e.g. 30s"
        ));
    }
    Ok(duration)
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub clusters: Vec<String>,
    pub interval: Duration,
    pub once: bool,
    pub output_dir: Option<PathBuf>,
    pub output_format: OutputFormat,
    pub listen: Listen,
    pub fallback_metrics_path: String,
    pub filter_label: Option<LabelFilter>,
    pub service_selector: BTreeMap<String, String>,
    pub extra_labels: BTreeMap<String, String>,
    pub cloudmap_namespaces: Vec<String>,
    pub events_queue_url: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub service_cache_ttl: Duration,
    pub api_timeout: Duration,
    pub log_format: LogFormat,
}

impl From<&Config> for Options {
    /// What resolution needs of the configuration, for the cycles and the events alike.
    fn from(config: &Config) -> Self {
        Options {
            fallback_metrics_path: config.fallback_metrics_path.clone(),
            filter_label: config.filter_label.clone(),
            service_selector: config.service_selector.clone(),
            extra_labels: config.extra_labels.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--fallback-metrics-path is '{0}': give a path starting with '/', such as /metrics")]
    BadMetricsPath(String),
    #[error("--filter-label is '{0}': give NAME or NAME=VALUE with a non-empty NAME")]
    BadFilterLabel(String),
    #[error("{flag} has '{item}': give KEY=VALUE pairs separated by commas")]
    NotKeyValue { flag: &'static str, item: String },
    #[error(
        "--extra-labels has label name '{0}': label names match [a-zA-Z_][a-zA-Z0-9_]* and don't start with __"
    )]
    BadLabelName(String),
    #[error(
        "--events-queue-url is '{0}': give the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), not its ARN or name"
    )]
    BadQueueUrl(String),
}

/// An SQS queue URL: http(s), a host, and the account and queue name as the path.
fn queue_url(raw: String) -> Result<String, ConfigError> {
    let trimmed = raw.trim();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"));
    let valid = rest.is_some_and(|rest| {
        let mut segments = rest.split('/');
        let host = segments.next().unwrap_or_default();
        let path: Vec<&str> = segments.filter(|s| !s.is_empty()).collect();
        !host.is_empty() && path.len() == 2 && !rest.contains(char::is_whitespace)
    });
    if valid {
        Ok(trimmed.to_string())
    } else {
        Err(ConfigError::BadQueueUrl(raw))
    }
}

fn key_values(
    flag: &'static str,
    items: &[String],
) -> Result<BTreeMap<String, String>, ConfigError> {
    items
        .iter()
        .filter(|item| !item.trim().is_empty())
        .map(|item| match item.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(ConfigError::NotKeyValue {
                flag,
                item: item.clone(),
            }),
        })
        .collect()
}

fn non_empty(items: Vec<String>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(cli: Cli) -> Result<Self, ConfigError> {
        if !cli.fallback_metrics_path.starts_with('/') {
            return Err(ConfigError::BadMetricsPath(cli.fallback_metrics_path));
        }
        let filter_label = cli
            .filter_label
            .filter(|raw| !raw.is_empty())
            .map(|raw| {
                let (name, value) = match raw.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_string())),
                    None => (raw.as_str(), None),
                };
                if name.trim().is_empty() {
                    return Err(ConfigError::BadFilterLabel(raw.clone()));
                }
                Ok(LabelFilter {
                    name: name.trim().to_string(),
                    value,
                })
            })
            .transpose()?;
        let extra_labels = key_values("--extra-labels", &cli.extra_labels)?;
        if let Some(bad) = extra_labels
            .keys()
            .find(|name| !is_valid_label_name(name) || name.starts_with("__"))
        {
            return Err(ConfigError::BadLabelName(bad.clone()));
        }
        Ok(Config {
            clusters: non_empty(cli.clusters),
            interval: cli.interval,
            once: cli.once,
            output_dir: cli.output_dir.filter(|d| !d.as_os_str().is_empty()),
            output_format: cli.output_format,
            listen: cli.listen,
            fallback_metrics_path: cli.fallback_metrics_path,
            filter_label,
            service_selector: key_values("--service-selector", &cli.service_selector)?,
            extra_labels,
            cloudmap_namespaces: non_empty(cli.cloudmap_namespaces),
            events_queue_url: cli
                .events_queue_url
                .filter(|u| !u.trim().is_empty())
                .map(queue_url)
                .transpose()?,
            role_arn: cli.role_arn.filter(|r| !r.is_empty()),
            external_id: cli.external_id.filter(|r| !r.is_empty()),
            service_cache_ttl: cli.service_cache_ttl,
            api_timeout: cli.api_timeout,
            log_format: cli.log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("ecs-discoverer").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        Config::try_from(cli).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = parse(&[]).expect("valid");
        assert!(config.clusters.is_empty());
        assert_eq!(config.interval, Duration::from_secs(30));
        assert!(!config.once);
        assert_eq!(config.output_dir, None);
        assert_eq!(config.output_format, OutputFormat::Json);
        assert_eq!(config.listen.to_string(), "0.0.0.0:9001");
        assert_eq!(config.fallback_metrics_path, "/metrics");
        assert_eq!(config.filter_label, None);
        assert_eq!(config.events_queue_url, None);
    }

    #[test]
    fn events_queue_url_is_a_queue_url() {
        for url in [
            "https://sqs.us-east-1.amazonaws.com/123456789012/ecs-task-events",
            "http://127.0.0.1:4566/123456789012/ecs-task-events",
        ] {
            let config = parse(&["--events-queue-url", url]).expect("valid");
            assert_eq!(config.events_queue_url.as_deref(), Some(url));
        }
        let config = parse(&["--events-queue-url", ""]).expect("empty is unset");
        assert_eq!(config.events_queue_url, None);
    }

    #[test]
    fn lists_and_key_values() {
        let config = parse(&[
            "--clusters",
            "a, b,,arn:aws:ecs:us-east-1:1:cluster/c",
            "--interval",
            "1m",
            "--filter-label",
            "PROMETHEUS_EXPORTER_PORT",
            "--service-selector",
            "team=obs,env=prod",
            "--extra-labels",
            "region=eu,stack=main",
            "--output-format",
            "yaml",
            "--listen",
            "off",
        ])
        .expect("valid");
        assert_eq!(
            config.clusters,
            vec!["a", "b", "arn:aws:ecs:us-east-1:1:cluster/c"]
        );
        assert_eq!(config.interval, Duration::from_secs(60));
        assert_eq!(
            config.filter_label,
            Some(LabelFilter {
                name: "PROMETHEUS_EXPORTER_PORT".into(),
                value: None
            })
        );
        assert_eq!(
            config.service_selector.get("team").map(String::as_str),
            Some("obs")
        );
        assert_eq!(config.extra_labels.len(), 2);
        assert_eq!(config.output_format, OutputFormat::Yaml);
        assert_eq!(config.listen, Listen::Off);
    }

    #[test]
    fn filter_label_with_value() {
        let config = parse(&["--filter-label", "scrape=true"]).expect("valid");
        assert_eq!(
            config.filter_label,
            Some(LabelFilter {
                name: "scrape".into(),
                value: Some("true".into())
            })
        );
        let err = parse(&["--filter-label", "=x"]).expect_err("invalid");
        assert!(err.contains("--filter-label"), "{err}");
    }

    #[test]
    fn bad_values_name_the_flag_and_the_fix() {
        for (args, expected) in [
            (vec!["--interval", "0s"], "positive duration"),
            (vec!["--interval", "soon"], "15s"),
            (vec!["--interval", "1ns"], "1s floor"),
            (vec!["--interval", "-1s"], "--interval"),
            (vec!["--api-timeout", "500ms"], "1s floor"),
            (
                vec!["--fallback-metrics-path", "metrics"],
                "starting with '/'",
            ),
            (vec!["--extra-labels", "novalue"], "KEY=VALUE"),
            (
                vec!["--extra-labels", "bad-name=x"],
                "label name 'bad-name'",
            ),
            (vec!["--extra-labels", "__meta=x"], "__"),
            (vec!["--listen", "9001"], "IP:PORT"),
            (vec!["--output-format", "toml"], "json"),
            (vec!["--external-id", "x"], "--role-arn"),
            (
                vec![
                    "--events-queue-url",
                    "arn:aws:sqs:us-east-1:123456789012:ecs-task-events",
                ],
                "give the queue's URL",
            ),
            (
                vec!["--events-queue-url", "ecs-task-events"],
                "--events-queue-url is 'ecs-task-events'",
            ),
            (
                vec!["--events-queue-url", "https://sqs.us-east-1.amazonaws.com/"],
                "not its ARN or name",
            ),
        ] {
            let err = parse(&args).expect_err("invalid");
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn explain_subcommand_takes_the_global_flags() {
        let cli = Cli::try_parse_from(["ecs-discoverer", "explain", "--clusters", "a", "--all"])
            .expect("valid");
        assert!(matches!(
            cli.command,
            Some(Command::Explain {
                all: true,
                json: false
            })
        ));
        assert_eq!(cli.clusters, vec!["a"]);
    }
}
