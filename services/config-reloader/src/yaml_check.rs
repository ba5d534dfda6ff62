//! Checks that a document is YAML without building its tree.
//!
//! A full value tree costs many times the document (a 22 MB config of small mappings peaked at
//! 1.5 GB), so the check walks the parser's events and keeps only what it needs to refuse what
//! Prometheus refuses beyond syntax: a second document, and a key repeated in one mapping.
//! For the keys it keeps a 64-bit hash per key of each open mapping, not the keys.
//!
//! Messages name the document and the place, never its content: the value may be a
//! SecureString.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// What one open collection needs for the check.
enum Open {
    Sequence,
    Mapping {
        key_hashes: HashSet<u64>,
        next_is_key: bool,
    },
}

/// `Ok` when `body` is one YAML document (or none) with no key twice in a mapping.
pub fn check_yaml(name: &str, body: &[u8]) -> Result<(), String> {
    let refuse = |what: &str, mark: Option<Marker>| {
        let place = mark.map_or(String::new(), |m| {
            format!(" at line {}, column {}", m.line(), m.col() + 1)
        });
        format!(
            "'{name}' is not valid YAML{place}: {what}; fix it at the source; the old file stays"
        )
    };
    let text = std::str::from_utf8(body)
        .map_err(|e| refuse(&format!("not UTF-8 text (byte {})", e.valid_up_to()), None))?;
    let hasher = RandomState::new();
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Open> = Vec::new();
    let mut documents = 0_usize;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| refuse(e.info(), Some(*e.marker())))?;
        let key = match open.last_mut() {
            Some(Open::Mapping { next_is_key, .. }) if is_node(&event) => {
                *next_is_key = !*next_is_key;
                !*next_is_key
            }
            _ => false,
        };
        match event {
            Event::StreamEnd => return Ok(()),
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(refuse(
                        "more than one document (Prometheus reads one per file)",
                        Some(mark),
                    ));
                }
            }
            Event::Scalar(value, ..) if key => {
                let Some(Open::Mapping { key_hashes, .. }) = open.last_mut() else {
                    unreachable!("a key is only ever inside a mapping");
                };
                if !key_hashes.insert(hasher.hash_one(&value)) {
                    return Err(refuse("a key appears twice in one mapping", Some(mark)));
                }
            }
            Event::SequenceStart(..) => open.push(Open::Sequence),
            Event::MappingStart(..) => open.push(Open::Mapping {
                key_hashes: HashSet::new(),
                next_is_key: true,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
            }
            _ => {}
        }
    }
}

/// Events that start a node, so take the next key or value place in a mapping.
fn is_node(event: &Event) -> bool {
    matches!(
        event,
        Event::Scalar(..) | Event::Alias(_) | Event::SequenceStart(..) | Event::MappingStart(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[&str] = &[
        "",
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['x:1']\n",
        "- targets: [a:1, b:2]\n  labels: {env: prod}\n",
        "a: &anchor {x: 1}\nb: *anchor\nc: {x: 1}\n",
        "k: |\n  line one\n  line two\nother: v\n",
        "---\na: 1\n",
        "a: {x: 1}\nb: {x: 1}\n",
        "[a, a, a]\n",
    ];

    const INVALID: &[&str] = &[
        "scrape_configs: [\n",
        "a: 1\na: 2\n",
        "outer:\n  x: 1\n  x: 2\n",
        "a: 1\n---\nb: 2\n",
        "key: 'unterminated\n",
        "a:\n  - b\n c: d\n",
    ];

    #[test]
    fn agrees_with_the_tree_parser_on_valid_and_invalid_documents() {
        for document in VALID {
            assert!(
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(document).is_ok(),
                "sample is valid: {document:?}"
            );
            assert_eq!(check_yaml("t", document.as_bytes()), Ok(()), "{document:?}");
        }
        for document in INVALID {
            assert!(
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(document).is_err(),
                "sample is invalid: {document:?}"
            );
            assert!(
                check_yaml("t", document.as_bytes()).is_err(),
                "{document:?}"
            );
        }
    }

    #[test]
    fn the_message_names_the_document_and_the_line_but_not_the_value() {
        let message = check_yaml("/prom/config.yml", b"password: s3cret\npassword: other\n")
            .expect_err("duplicate");
        assert!(
            message.starts_with("'/prom/config.yml' is not valid YAML at line 2"),
            "{message}"
        );
        assert!(
            !message.contains("s3cret") && !message.contains("other"),
            "{message}"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        let message = check_yaml("k", b"a: \xff\n").expect_err("not utf-8");
        assert!(message.contains("not UTF-8"), "{message}");
    }
}
