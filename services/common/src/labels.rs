//! Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.

/// Turns any string into a valid label-name fragment: every other character becomes `_`,
/// and a leading digit gets a `_` in front.
pub fn sanitize_label_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// True when `name` is a valid Prometheus label name as it stands.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize_label_name("team-name"), "team_name");
        assert_eq!(
            sanitize_label_name("aws:cloudformation:stack"),
            "aws_cloudformation_stack"
        );
        assert_eq!(sanitize_label_name("1st"), "_1st");
        assert_eq!(sanitize_label_name("ok_Name9"), "ok_Name9");
    }

    #[test]
    fn validates() {
        assert!(is_valid_label_name("job"));
        assert!(is_valid_label_name("_x1"));
        assert!(!is_valid_label_name(""));
        assert!(!is_valid_label_name("1x"));
        assert!(!is_valid_label_name("a-b"));
    }
}
