//! "Why is my container not a target?": the skip list as text or JSON, for the CLI
//! (`ecs-discoverer explain`) and the debug page (`GET /debug/skipped`).

use std::sync::Arc;

use serde::Serialize;

use crate::resolve::{Skip, Target};

#[derive(Debug, Serialize)]
pub struct SkipView<'a> {
    pub cluster: &'a str,
    pub service: Option<&'a str>,
    pub task: &'a str,
    pub container: &'a str,
    pub convention: &'static str,
    pub reason_code: &'static str,
    pub reason: String,
}

pub fn views(skipped: &[Skip]) -> Vec<SkipView<'_>> {
    skipped
        .iter()
        .map(|s| SkipView {
            cluster: &s.cluster,
            service: s.service.as_deref(),
            task: &s.task_arn,
            container: &s.container,
            convention: s.convention.as_str(),
            reason_code: s.reason.code(),
            reason: s.reason.to_string(),
        })
        .collect()
}

/// A plain-text report, one block per skipped container endpoint.
pub fn text(skipped: &[Skip], targets: Option<&[Arc<Target>]>) -> String {
    let mut out = String::new();
    if skipped.is_empty() {
        out.push_str("No marked container was skipped.\n");
    } else {
        out.push_str(&format!(
            "{} marked container endpoint(s) are not targets:\n\n",
            skipped.len()
        ));
        for s in views(skipped) {
            out.push_str(&format!(
                "cluster={} service={} task={} container={} convention={}\n  {} ({})\n\n",
                s.cluster,
                s.service.unwrap_or("-"),
                s.task,
                s.container,
                s.convention,
                s.reason,
                s.reason_code,
            ));
        }
    }
    if let Some(targets) = targets {
        out.push_str(&format!("\n{} target(s):\n", targets.len()));
        for t in targets {
            let label = |name: &str| t.labels.get(name).unwrap_or("-");
            out.push_str(&format!(
                "  {} {} job={} cluster={} service={} container={}\n",
                t.address,
                label("__metrics_path__"),
                label("job"),
                label("ecs_cluster"),
                label("ecs_service"),
                label("ecs_container"),
            ));
        }
    }
    out
}
