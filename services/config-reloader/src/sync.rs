//! One refresh pass: read the sources, check what was read, and write what changed.
//!
//! Each file is its own unit: a failed read or an invalid document leaves that file as it was
//! and is reported, while the others still update. The main config is written only when it
//! parses as YAML. A changed main config or YAML file (rules) asks for a Prometheus reload;
//! file_sd JSON files don't, since Prometheus watches them itself.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use stack_common::atomic_file::{self, WriteOutcome};
use stack_common::cloudmap::{self, CloudMap};
use stack_common::target_group::{OutputFormat, render};

use crate::metrics::Metrics;
use crate::names::{is_yaml, local_name};
use crate::reload::SharedAcceptance;
use crate::source::{ConfigSource, Document, ScrapeConfigs};
use crate::yaml_check::check_yaml;

/// The scrape-configs entry that lists Cloud Map namespaces.
pub const CLOUDMAP_PARAMETER: &str = "cloudmap";
/// The file_sd file written from those namespaces.
pub const CLOUDMAP_FILE: &str = "cloudmap.json";

/// What a pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// Every problem, naming the parameter, key or file.
    pub errors: Vec<String>,
    /// The main config, or a YAML file beside it (rule files, scrape config files), was
    /// replaced: Prometheus should reload. JSON files are file_sd, which Prometheus re-reads.
    pub reload_needed: bool,
}

impl PassReport {
    pub fn is_success(&self) -> bool {
        self.errors.is_empty()
    }
}

#[derive(Debug)]
pub struct Syncer {
    pub source: ConfigSource,
    pub cloudmap: CloudMap,
    pub dir: PathBuf,
    pub file_name: String,
    pub metrics: Arc<Metrics>,
    /// What Prometheus accepted and refused (see `reload`): refused content isn't written again.
    pub acceptance: SharedAcceptance,
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Syncer {
    pub async fn pass(&mut self) -> PassReport {
        let mut report = PassReport::default();
        self.main_config(&mut report).await;
        if self.source.has_scrape_configs() {
            self.scrape_configs(&mut report).await;
        }
        let result = if report.is_success() {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            self.metrics.last_success.set(now);
            "success"
        } else {
            "failure"
        };
        self.metrics
            .passes
            .get_or_create(&crate::metrics::ResultLabels {
                result: result.to_string(),
            })
            .inc();
        report
    }

    fn record_fetch(&self, source: &str, document: &Document) {
        let result = if document.fresh {
            "success"
        } else {
            "not_modified"
        };
        self.metrics.fetch(source, result);
    }

    async fn main_config(&mut self, report: &mut PassReport) {
        let kind = self.source.kind();
        let document = match self.source.main_config().await {
            Ok(document) => document,
            Err(error) => {
                self.metrics.fetch(kind, "error");
                report.errors.push(error.to_string());
                return;
            }
        };
        self.record_fetch(kind, &document);
        if let Err(message) = check_yaml(&document.name, &document.body) {
            self.metrics.file_write("invalid");
            report.errors.push(message);
            return;
        }
        let sha256 = sha256_hex(&document.body);
        let refusal = self
            .acceptance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refusal_of(&sha256);
        if let Some(refusal) = refusal {
            self.metrics.file_write("refused");
            report.errors.push(format!(
                "'{}' was refused by Prometheus ({}): the last accepted config stays until the source changes",
                document.name, refusal.error
            ));
            return;
        }
        let file_name = self.file_name.clone();
        if self.write(&file_name, &document.body, report) == Some(WriteOutcome::Written) {
            report.reload_needed = true;
        }
        self.metrics.set_config_hash(sha256);
    }

    async fn scrape_configs(&mut self, report: &mut PassReport) {
        let kind = self.source.kind();
        let ScrapeConfigs { documents, refused } = match self.source.scrape_configs().await {
            Ok(found) => found,
            Err(error) => {
                self.metrics.fetch(kind, "error");
                report.errors.push(error.to_string());
                return;
            }
        };
        for refusal in refused {
            self.metrics.file_write("refused");
            report.errors.push(refusal.to_string());
        }
        let mut files: BTreeMap<String, Document> = BTreeMap::new();
        let mut namespaces = None;
        for document in documents {
            self.record_fetch(kind, &document);
            let name = match local_name(&document.relative) {
                Ok(Some(name)) => name,
                Ok(None) => continue,
                Err(error) => {
                    self.metrics.file_write("refused");
                    report
                        .errors
                        .push(format!("refused {}: {error}", document.name));
                    continue;
                }
            };
            if name == CLOUDMAP_PARAMETER {
                namespaces = Some(parse_namespaces(&document.body));
                continue;
            }
            if name == self.file_name || name == CLOUDMAP_FILE {
                self.metrics.file_write("refused");
                report.errors.push(format!(
                    "refused {}: its file name '{name}' is taken by the {}; rename it",
                    document.name,
                    if name == CLOUDMAP_FILE {
                        "Cloud Map targets"
                    } else {
                        "main config (CONFIG_FILE_NAME)"
                    }
                ));
                continue;
            }
            if let Some(first) = files.get(&name) {
                self.metrics.file_write("refused");
                report.errors.push(format!(
                    "refused {}: '{}' is already written as '{name}'; give them different last segments",
                    document.name, first.name
                ));
                continue;
            }
            files.insert(name, document);
        }
        for (name, document) in &files {
            if is_yaml(name)
                && let Err(message) = check_yaml(&document.name, &document.body)
            {
                self.metrics.file_write("invalid");
                report.errors.push(message);
                continue;
            }
            if self.write(name, &document.body, report) == Some(WriteOutcome::Written)
                && is_yaml(name)
            {
                report.reload_needed = true;
            }
        }
        if let Some(namespaces) = namespaces {
            self.cloudmap_targets(&namespaces, report).await;
        }
    }

    async fn cloudmap_targets(&mut self, namespaces: &[String], report: &mut PassReport) {
        let snapshot = match self.cloudmap.snapshot(namespaces).await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                self.metrics.fetch("cloudmap", "error");
                report.errors.push(error.to_string());
                return;
            }
        };
        self.metrics.fetch("cloudmap", "success");
        let found = cloudmap::groups(&snapshot);
        for reason in &found.skipped {
            tracing::warn!("{reason}");
        }
        match render(&found.groups, OutputFormat::Json) {
            Ok(bytes) => {
                self.write(CLOUDMAP_FILE, &bytes, report);
            }
            Err(error) => report.errors.push(error.to_string()),
        }
    }

    /// Writes one file in the config directory; the outcome is counted and logged.
    fn write(&self, name: &str, body: &[u8], report: &mut PassReport) -> Option<WriteOutcome> {
        let path = self.dir.join(name);
        match atomic_file::write_if_changed(&path, body) {
            Ok(outcome) => {
                if outcome == WriteOutcome::Written {
                    self.metrics.file_write("written");
                    tracing::info!(file = %path.display(), bytes = body.len(), "file updated");
                } else {
                    self.metrics.file_write("unchanged");
                }
                Some(outcome)
            }
            Err(error) => {
                self.metrics.file_write("error");
                report.errors.push(error.to_string());
                None
            }
        }
    }
}

/// The namespaces of the `cloudmap` entry: comma-separated, blanks ignored.
pub fn parse_namespaces(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
