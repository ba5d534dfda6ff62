//! Command line and environment of config-reloader, validated into a [`Config`].
//!
//! The environment names are those of the original ECS config-reloader sidecar, so existing task
//! definitions keep working; every variable also has a flag.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use stack_common::listen::Listen;
use stack_common::telemetry::LogFormat;

use crate::names::is_plain_file_name;

#[derive(Debug, Parser)]
#[command(
    name = "config-reloader",
    version,
    about = "Pulls Prometheus configuration from SSM Parameter Store or S3 into a local directory and reloads Prometheus when it changes."
)]
pub struct Cli {
    /// Where the configuration lives: `ssm` or `s3`.
    #[arg(long, env = "CONFIG_SOURCE", value_enum)]
    pub config_source: SourceKind,

    /// The main config: an SSM parameter name, or `s3://bucket/key`.
    #[arg(long, env = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH")]
    pub source_prometheus_config_file_path: String,

    /// An SSM parameter path, or `s3://bucket/prefix/`, holding scrape configs (and `cloudmap`).
    #[arg(long, env = "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH")]
    pub source_prometheus_scrape_configs_path: Option<String>,

    /// Local directory for everything written.
    #[arg(long, env = "CONFIG_FILE_DIR", default_value = "/etc/config/")]
    pub config_file_dir: PathBuf,

    /// Local name of the main config file.
    #[arg(long, env = "CONFIG_FILE_NAME", default_value = "config.yml")]
    pub config_file_name: String,

    /// Seconds between refreshes; `0` means one pass, then exit (for ECS `dependsOn: SUCCESS`).
    #[arg(long, env = "CONFIG_RELOAD_FREQUENCY", default_value = "30",
          value_parser = parse_frequency, allow_hyphen_values = true)]
    pub config_reload_frequency: u64,

    /// POSTed after the main config file changed, e.g. `http://localhost:9090/-/reload`.
    #[arg(long, env = "PROMETHEUS_RELOAD_URL")]
    pub prometheus_reload_url: Option<String>,

    /// HTTP server for `/metrics` and `/health`; `off` disables it.
    #[arg(long, env = "RELOADER_LISTEN", default_value = "0.0.0.0:9533")]
    pub reloader_listen: Listen,

    /// The largest parameter or object read, in bytes; a larger one is refused by name and its
    /// old file stays. S3 bodies are never read past it.
    #[arg(long, env = "CONFIG_MAX_OBJECT_BYTES", value_parser = parse_max_object_bytes,
          default_value_t = crate::source::DEFAULT_MAX_OBJECT_BYTES)]
    pub config_max_object_bytes: u64,

    /// Log format.
    #[arg(long, env = "RELOADER_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    Ssm,
    S3,
}

fn parse_frequency(raw: &str) -> Result<u64, String> {
    raw.trim().parse::<u64>().map_err(|_| {
        format!(
            "'{raw}' is not a number of seconds: give a whole number >= 0 \
             (0 = one pass, then exit; 30 = refresh every 30 seconds)"
        )
    })
}

fn parse_max_object_bytes(raw: &str) -> Result<u64, String> {
    match raw.trim().parse::<u64>() {
        Ok(bytes) if bytes >= 1024 => Ok(bytes),
        _ => Err(format!(
            "'{raw}' is not a size in bytes of at least 1024: give a whole number, \
             e.g. 8388608 for 8 MiB"
        )),
    }
}

/// An object or prefix in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

/// Where the main config and the scrape configs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Ssm {
        config_parameter: String,
        scrape_configs_path: Option<String>,
    },
    S3 {
        config_object: S3Location,
        scrape_configs_prefix: Option<S3Location>,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub dir: PathBuf,
    pub file_name: String,
    /// `None`: one pass, then exit.
    pub frequency: Option<Duration>,
    pub reload_url: Option<hyper::Uri>,
    pub listen: Listen,
    pub log_format: LogFormat,
    /// The largest parameter or object read.
    pub max_object_bytes: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "{var} is '{value}', an S3 URL, but CONFIG_SOURCE is 'ssm': set CONFIG_SOURCE=s3, or give an SSM parameter name such as /prometheus/config.yml"
    )]
    S3UrlWithSsm { var: &'static str, value: String },
    #[error(
        "{var} is '{value}', but CONFIG_SOURCE is 's3': give an S3 URL such as s3://my-bucket/prometheus/config.yml"
    )]
    NotAnS3Url { var: &'static str, value: String },
    #[error("{var} is '{value}', which names no bucket: give s3://BUCKET/KEY")]
    MissingBucket { var: &'static str, value: String },
    #[error("{var} is '{value}', which names no object: give s3://BUCKET/KEY")]
    MissingKey { var: &'static str, value: String },
    #[error("{var} is empty: give an SSM parameter name such as /prometheus/config.yml")]
    EmptyParameter { var: &'static str },
    #[error(
        "CONFIG_FILE_NAME is '{0}': give a plain file name such as config.yml (no '/', not '.' or '..')"
    )]
    BadFileName(String),
    #[error(
        "PROMETHEUS_RELOAD_URL is '{0}': give an http:// URL such as http://localhost:9090/-/reload \
         (Prometheus in the same task, started with --web.enable-lifecycle; https is not supported)"
    )]
    BadReloadUrl(String),
}

const MAIN_VAR: &str = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH";
const SCRAPE_VAR: &str = "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH";

fn parse_s3(var: &'static str, value: &str, key_required: bool) -> Result<S3Location, ConfigError> {
    let rest = value
        .strip_prefix("s3://")
        .ok_or_else(|| ConfigError::NotAnS3Url {
            var,
            value: value.to_string(),
        })?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ConfigError::MissingBucket {
            var,
            value: value.to_string(),
        });
    }
    if key_required && (key.is_empty() || key.ends_with('/')) {
        return Err(ConfigError::MissingKey {
            var,
            value: value.to_string(),
        });
    }
    Ok(S3Location {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

fn ssm_name(var: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("s3://") {
        return Err(ConfigError::S3UrlWithSsm {
            var,
            value: value.to_string(),
        });
    }
    if value.trim().is_empty() {
        return Err(ConfigError::EmptyParameter { var });
    }
    Ok(value.to_string())
}

impl TryFrom<Cli> for Config {
    type Error = ConfigError;

    fn try_from(cli: Cli) -> Result<Self, ConfigError> {
        let scrape = cli
            .source_prometheus_scrape_configs_path
            .filter(|p| !p.trim().is_empty());
        let source = match cli.config_source {
            SourceKind::Ssm => Source::Ssm {
                config_parameter: ssm_name(MAIN_VAR, &cli.source_prometheus_config_file_path)?,
                scrape_configs_path: scrape.map(|p| ssm_name(SCRAPE_VAR, &p)).transpose()?,
            },
            SourceKind::S3 => Source::S3 {
                config_object: parse_s3(MAIN_VAR, &cli.source_prometheus_config_file_path, true)?,
                scrape_configs_prefix: scrape
                    .map(|p| parse_s3(SCRAPE_VAR, &p, false))
                    .transpose()?,
            },
        };
        if !is_plain_file_name(&cli.config_file_name) {
            return Err(ConfigError::BadFileName(cli.config_file_name));
        }
        let reload_url = cli
            .prometheus_reload_url
            .filter(|u| !u.trim().is_empty())
            .map(|url| match url.parse::<hyper::Uri>() {
                Ok(uri) if uri.scheme_str() == Some("http") && uri.host().is_some() => Ok(uri),
                _ => Err(ConfigError::BadReloadUrl(url)),
            })
            .transpose()?;
        Ok(Config {
            source,
            dir: cli.config_file_dir,
            file_name: cli.config_file_name,
            frequency: (cli.config_reload_frequency > 0)
                .then(|| Duration::from_secs(cli.config_reload_frequency)),
            reload_url,
            listen: cli.reloader_listen,
            log_format: cli.log_format,
            max_object_bytes: cli.config_max_object_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("config-reloader").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
        Config::try_from(cli).map_err(|e| e.to_string())
    }

    #[test]
    fn ssm_defaults() {
        let config = parse(&[
            "--config-source",
            "ssm",
            "--source-prometheus-config-file-path",
            "/prom/main",
        ])
        .expect("valid");
        assert_eq!(
            config.source,
            Source::Ssm {
                config_parameter: "/prom/main".into(),
                scrape_configs_path: None
            }
        );
        assert_eq!(config.dir, PathBuf::from("/etc/config/"));
        assert_eq!(config.file_name, "config.yml");
        assert_eq!(config.frequency, Some(Duration::from_secs(30)));
        assert_eq!(config.listen.to_string(), "0.0.0.0:9533");
    }

    #[test]
    fn s3_once_mode() {
        let config = parse(&[
            "--config-source",
            "s3",
            "--source-prometheus-config-file-path",
            "s3://bucket/exporter/config.yml",
            "--source-prometheus-scrape-configs-path",
            "s3://bucket/scrape/",
            "--config-reload-frequency",
            "0",
        ])
        .expect("valid");
        assert_eq!(config.frequency, None);
        assert_eq!(
            config.source,
            Source::S3 {
                config_object: S3Location {
                    bucket: "bucket".into(),
                    key: "exporter/config.yml".into()
                },
                scrape_configs_prefix: Some(S3Location {
                    bucket: "bucket".into(),
                    key: "scrape/".into()
                }),
            }
        );
    }

    #[test]
    fn unknown_source_lists_what_is_accepted() {
        let err = parse(&[
            "--config-source",
            "foo",
            "--source-prometheus-config-file-path",
            "/x",
        ])
        .expect_err("invalid");
        assert!(
            err.contains("'foo'") && err.contains("ssm") && err.contains("s3"),
            "{err}"
        );
    }

    #[test]
    fn s3_url_with_ssm_is_refused() {
        let err = parse(&[
            "--config-source",
            "ssm",
            "--source-prometheus-config-file-path",
            "s3://b/k",
        ])
        .expect_err("invalid");
        assert!(err.contains("CONFIG_SOURCE=s3"), "{err}");
    }

    #[test]
    fn s3_url_without_bucket_or_key_is_refused() {
        for (url, expected) in [
            ("s3:///key", "no bucket"),
            ("s3://bucket", "no object"),
            ("s3://bucket/", "no object"),
        ] {
            let err = parse(&[
                "--config-source",
                "s3",
                "--source-prometheus-config-file-path",
                url,
            ])
            .expect_err("invalid");
            assert!(err.contains(expected) && err.contains(url), "{err}");
        }
        let err = parse(&[
            "--config-source",
            "s3",
            "--source-prometheus-config-file-path",
            "/param",
        ])
        .expect_err("invalid");
        assert!(err.contains("s3://my-bucket"), "{err}");
    }

    #[test]
    fn negative_frequency_is_refused_with_what_is_accepted() {
        let err = parse(&[
            "--config-source",
            "ssm",
            "--source-prometheus-config-file-path",
            "/x",
            "--config-reload-frequency",
            "-5",
        ])
        .expect_err("invalid");
        assert!(err.contains("'-5'") && err.contains(">= 0"), "{err}");
    }

    #[test]
    fn file_name_must_be_plain() {
        for name in ["../x", "a/b", "..", ""] {
            let err = parse(&[
                "--config-source",
                "ssm",
                "--source-prometheus-config-file-path",
                "/x",
                "--config-file-name",
                name,
            ])
            .expect_err("invalid");
            assert!(err.contains("CONFIG_FILE_NAME"), "{err}");
        }
    }
}
