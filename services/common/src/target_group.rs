//! The target group of Prometheus file_sd and http_sd, and its JSON/YAML rendering.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

/// One Prometheus target group: `{"targets": [...], "labels": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

impl TargetGroup {
    pub fn new(target: impl Into<String>, labels: BTreeMap<String, String>) -> Self {
        Self {
            targets: vec![target.into()],
            labels,
        }
    }
}

/// The file format of file_sd output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Json,
    Yaml,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yml",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot render target groups as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot render target groups as YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

/// Renders groups in a stable form (the caller sorts them), so unchanged input gives the same
/// bytes and the atomic writer can skip the write.
pub fn render<G: Serialize>(groups: &[G], format: OutputFormat) -> Result<Vec<u8>, RenderError> {
    let mut bytes = Vec::new();
    render_to(groups, format, &mut bytes)?;
    Ok(bytes)
}

/// [`render`], streamed into `out`.
pub fn render_to<G: Serialize, W: Write>(
    groups: &[G],
    format: OutputFormat,
    mut out: W,
) -> Result<(), RenderError> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, groups)?;
            out.write_all(b"\n").map_err(serde_json::Error::io)?;
        }
        OutputFormat::Yaml => serde_yaml_ng::to_writer(out, groups)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> TargetGroup {
        TargetGroup::new(
            "127.0.0.1:9100",
            BTreeMap::from([("job".to_string(), "node".to_string())]),
        )
    }

    #[test]
    fn json_is_the_file_sd_shape() {
        let rendered = render(&[group()], OutputFormat::Json).expect("renders");
        let value: serde_json::Value = serde_json::from_slice(&rendered).expect("valid json");
        assert_eq!(
            value,
            serde_json::json!([{"targets": ["127.0.0.1:9100"], "labels": {"job": "node"}}])
        );
    }

    #[test]
    fn empty_list_renders_as_empty_array() {
        assert_eq!(
            render::<TargetGroup>(&[], OutputFormat::Json).expect("renders"),
            b"[]\n"
        );
    }

    #[test]
    fn yaml_round_trips() {
        let rendered = render(&[group()], OutputFormat::Yaml).expect("renders");
        let parsed: Vec<TargetGroup> = serde_yaml_ng::from_slice(&rendered).expect("valid yaml");
        assert_eq!(parsed, vec![group()]);
    }
}
