//! Names that come from outside (S3 keys, parameter names, Cloud Map ids, AWS messages) made safe
//! to log: control characters are escaped, so a key with `\r\n` can't forge a log line.

use std::borrow::Cow;

/// `text` with every control character escaped (`\r`, `\n`, `\u{1b}`, ...); unchanged, and not
/// copied, when it has none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("jobs/app.yml"), "jobs/app.yml");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\r\nERROR forged\u{1b}[31m"),
            "a\\r\\nERROR forged\\u{1b}[31m"
        );
        assert_eq!(printable("naïve ✓"), "naïve ✓");
    }
}
