//! Local file names for fetched parameters and objects: never a path, never outside the
//! config directory.
//!
//! A parameter or object under the scrape-configs path is written under the last segment of its
//! name relative to that path (`/prometheus/scrape/team/jobs.yml` → `jobs.yml`). A `.` or `..`
//! segment anywhere, a control character, or an empty last segment refuses the whole name.

/// True when `name` can be used as a file name inside the config directory as it stands.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
}

/// Why a fetched name gets no local file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "'{0}' has a '.' or '..' segment: rename it; nothing is written outside CONFIG_FILE_DIR"
    )]
    Traversal(String),
    #[error("'{0}' contains a control character: rename it")]
    ControlCharacter(String),
    #[error("'{0}' does not end in a file name (empty last segment): rename it, e.g. jobs.yml")]
    Empty(String),
    #[error("'{0}' is not a plain file name: rename it, e.g. jobs.yml")]
    NotPlain(String),
}

/// The local file name for `relative`, the name relative to the scrape-configs path.
/// `Ok(None)` for the path's own S3 folder marker (an empty relative name), which is no file.
pub fn local_name(relative: &str) -> Result<Option<String>, NameError> {
    if relative.is_empty() {
        return Ok(None);
    }
    if relative.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter(
            relative.escape_default().to_string(),
        ));
    }
    if relative
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(NameError::Traversal(relative.to_string()));
    }
    let last = relative.rsplit('/').next().unwrap_or_default();
    if last.is_empty() {
        return Err(NameError::Empty(relative.to_string()));
    }
    if !is_plain_file_name(last) {
        return Err(NameError::NotPlain(relative.to_string()));
    }
    Ok(Some(last.to_string()))
}

/// `full` relative to `base` (a parameter path or key prefix), without leading slashes.
pub fn relative_to<'a>(full: &'a str, base: &str) -> &'a str {
    let base = base.trim_end_matches('/');
    full.strip_prefix(base)
        .filter(|rest| rest.is_empty() || rest.starts_with('/') || base.is_empty())
        .unwrap_or(full)
        .trim_start_matches('/')
}

/// True for names whose content must parse as YAML.
pub fn is_yaml(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_kept_and_nested_ones_use_the_last_segment() {
        assert_eq!(local_name("jobs.yml"), Ok(Some("jobs.yml".into())));
        assert_eq!(local_name("team/jobs.yml"), Ok(Some("jobs.yml".into())));
        assert_eq!(local_name("cloudmap"), Ok(Some("cloudmap".into())));
        assert_eq!(local_name(""), Ok(None));
    }

    #[test]
    fn traversal_control_characters_and_empty_names_are_refused() {
        for bad in ["..", ".", "../../etc/passwd", "a/../b.yml", "a/./b"] {
            assert!(
                matches!(local_name(bad), Err(NameError::Traversal(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            local_name("jobs\n.yml"),
            Err(NameError::ControlCharacter(_))
        ));
        assert!(matches!(local_name("team/"), Err(NameError::Empty(_))));
        assert!(matches!(local_name("a\\b"), Err(NameError::NotPlain(_))));
        let message = local_name("../../etc/passwd")
            .expect_err("refused")
            .to_string();
        assert!(message.contains("'../../etc/passwd'"), "{message}");
    }

    #[test]
    fn names_are_taken_relative_to_the_configured_path() {
        assert_eq!(
            relative_to("/prom/scrape/jobs.yml", "/prom/scrape"),
            "jobs.yml"
        );
        assert_eq!(
            relative_to("/prom/scrape/jobs.yml", "/prom/scrape/"),
            "jobs.yml"
        );
        assert_eq!(relative_to("scrape/a/b.yml", "scrape/"), "a/b.yml");
        assert_eq!(relative_to("scrape/", "scrape/"), "");
        assert_eq!(relative_to("scrapes/x", "scrape"), "scrapes/x");
        assert_eq!(relative_to("x.yml", ""), "x.yml");
    }

    #[test]
    fn file_names_are_plain() {
        assert!(is_plain_file_name("config.yml"));
        for bad in ["", ".", "..", "a/b", "a\\b", "a\u{7}"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
    }
}
