//! The sources against `aws-smithy-mocks`: SSM pagination and decryption, S3 conditional reads,
//! and errors that name the parameter or key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_ssm::operation::get_parameter::{GetParameterError, GetParameterOutput};
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::byte_stream::ByteStream;

use super::*;

fn ssm(rules: &[&Rule], scrape: Option<&str>) -> ConfigSource {
    ConfigSource::Ssm {
        client: mock_client!(aws_sdk_ssm, RuleMode::MatchAny, rules),
        config_parameter: "/prom/config.yml".into(),
        scrape_configs_path: scrape.map(str::to_string),
        max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
    }
}

#[tokio::test]
async fn ssm_reads_every_page_recursively_and_decrypted() {
    let pages = Arc::new(AtomicUsize::new(0));
    let counter = pages.clone();
    let by_path =
        mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_compute_output(move |input| {
            assert_eq!(input.path(), Some("/prom/scrape"));
            assert_eq!(input.recursive(), Some(true));
            assert_eq!(input.with_decryption(), Some(true));
            counter.fetch_add(1, Ordering::SeqCst);
            let start: usize = input.next_token().map_or(0, |t| t.parse().unwrap_or(0));
            let end = (start + 10).min(15);
            let mut out = GetParametersByPathOutput::builder();
            for i in start..end {
                out = out.parameters(
                    aws_sdk_ssm::types::Parameter::builder()
                        .name(format!("/prom/scrape/team/job-{i:02}.yml"))
                        .value(format!("job: {i}"))
                        .build(),
                );
            }
            if end < 15 {
                out = out.next_token(end.to_string());
            }
            out.build()
        });
    let mut source = ssm(&[&by_path], Some("/prom/scrape/"));
    let documents = source.scrape_configs().await.expect("read").documents;
    assert_eq!(documents.len(), 15);
    assert_eq!(pages.load(Ordering::SeqCst), 2);
    assert_eq!(documents[3].relative, "team/job-03.yml");
    assert_eq!(documents[3].body.as_ref(), b"job: 3");
}

#[tokio::test]
async fn a_missing_parameter_is_named_with_the_variable_to_fix() {
    let missing = mock!(aws_sdk_ssm::Client::get_parameter).then_error(|| {
        GetParameterError::ParameterNotFound(
            aws_sdk_ssm::types::error::ParameterNotFound::builder().build(),
        )
    });
    let error = ssm(&[&missing], None)
        .main_config()
        .await
        .expect_err("missing");
    let message = error.to_string();
    assert!(message.contains("'/prom/config.yml'"), "{message}");
    assert!(
        message.contains("SOURCE_PROMETHEUS_CONFIG_FILE_PATH"),
        "{message}"
    );
}

#[tokio::test]
async fn a_secure_string_value_is_not_in_the_debug_output() {
    let secret = mock!(aws_sdk_ssm::Client::get_parameter).then_output(|| {
        GetParameterOutput::builder()
            .parameter(
                aws_sdk_ssm::types::Parameter::builder()
                    .name("/prom/config.yml")
                    .value("password: hunter2")
                    .build(),
            )
            .build()
    });
    let document = ssm(&[&secret], None).main_config().await.expect("read");
    assert_eq!(document.body.as_ref(), b"password: hunter2");
    assert!(!format!("{document:?}").contains("hunter2"));
}

fn s3(rules: &[&Rule]) -> ConfigSource {
    ConfigSource::S3 {
        client: mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules),
        config_object: S3Location {
            bucket: "b".into(),
            key: "exporter/config.yml".into(),
        },
        scrape_configs_prefix: Some(S3Location {
            bucket: "b".into(),
            key: "scrape/".into(),
        }),
        cache: HashMap::new(),
        max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
    }
}

fn not_modified() -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(304).expect("status"),
        aws_smithy_types::body::SdkBody::empty(),
    )
}

#[tokio::test]
async fn an_unchanged_s3_object_is_not_downloaded_again() {
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    let unchanged = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|input| input.if_none_match() == Some("\"v1\""))
        .then_http_response(not_modified);
    let first = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |input| {
        assert_eq!(input.if_none_match(), None);
        counter.fetch_add(1, Ordering::SeqCst);
        GetObjectOutput::builder()
            .e_tag("\"v1\"")
            .body(ByteStream::from_static(b"region: us-east-1\n"))
            .build()
    });
    let mut source = s3(&[&unchanged, &first]);
    let fetched = source.main_config().await.expect("first read");
    assert!(fetched.fresh);
    let again = source.main_config().await.expect("second read");
    assert!(!again.fresh, "304 answers from the cache");
    assert_eq!(again.body.as_ref(), b"region: us-east-1\n");
    assert_eq!(downloads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn listed_objects_with_a_known_etag_are_not_downloaded() {
    let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        ListObjectsV2Output::builder()
            .contents(
                aws_sdk_s3::types::Object::builder()
                    .key("scrape/jobs.yml")
                    .e_tag("\"e1\"")
                    .build(),
            )
            .build()
    });
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        GetObjectOutput::builder()
            .e_tag("\"e1\"")
            .body(ByteStream::from_static(b"a: 1\n"))
            .build()
    });
    let mut source = s3(&[&list, &get]);
    let first = source.scrape_configs().await.expect("read").documents;
    let second = source.scrape_configs().await.expect("read").documents;
    assert_eq!(first[0].relative, "jobs.yml");
    assert!(first[0].fresh && !second[0].fresh);
    assert_eq!(second[0].body.as_ref(), b"a: 1\n");
    assert_eq!(downloads.load(Ordering::SeqCst), 1);
}

fn listing(objects: &[(&str, i64)]) -> Rule {
    let objects: Vec<(String, i64)> = objects.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_output(move |input| {
        assert_eq!(
            input.encoding_type(),
            Some(&aws_sdk_s3::types::EncodingType::Url),
            "keys are listed URL-encoded"
        );
        let mut out = ListObjectsV2Output::builder();
        for (key, size) in &objects {
            out = out.contents(
                aws_sdk_s3::types::Object::builder()
                    .key(key)
                    .size(*size)
                    .e_tag(format!("\"{key}\""))
                    .build(),
            );
        }
        out.build()
    })
}

/// `source` with a cap of `bytes` per parameter or object.
fn capped(mut source: ConfigSource, bytes: u64) -> ConfigSource {
    match &mut source {
        ConfigSource::Ssm {
            max_object_bytes, ..
        }
        | ConfigSource::S3 {
            max_object_bytes, ..
        } => *max_object_bytes = bytes,
    }
    source
}

fn serving(body: &'static [u8]) -> Rule {
    mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |input| {
        GetObjectOutput::builder()
            .e_tag(format!("\"{}\"", input.key().unwrap_or_default()))
            .content_length(body.len() as i64)
            .body(ByteStream::from_static(body))
            .build()
    })
}

#[tokio::test]
async fn one_key_with_a_control_character_is_refused_alone() {
    // What S3 answers for `scrape/bad<NUL>.yml`, `scrape/a b+c.yml` and `scrape/ok.yml`.
    let list = listing(&[
        ("scrape/bad%00.yml", 5),
        ("scrape/a+b%2Bc.yml", 5),
        ("scrape/ok.yml", 5),
    ]);
    let get = serving(b"a: 1\n");
    let mut source = s3(&[&list, &get]);
    let found = source
        .scrape_configs()
        .await
        .expect("the listing as a whole is read");
    let names: Vec<&str> = found
        .documents
        .iter()
        .map(|d| d.relative.as_str())
        .collect();
    assert_eq!(names, ["a b+c.yml", "ok.yml"]);
    assert_eq!(found.refused.len(), 1, "{:?}", found.refused);
    let message = found.refused[0].to_string();
    assert!(
        message.contains("s3://b/scrape/bad\\u{0}.yml") || message.contains("bad\\0.yml"),
        "{message}"
    );
    assert!(
        message.contains("control character") && message.contains("rename it"),
        "{message}"
    );
}

#[tokio::test]
async fn a_folder_marker_is_skipped_and_is_no_error() {
    let list = listing(&[
        ("scrape/", 0),
        ("scrape/team/", 0),
        ("scrape/team/jobs.yml", 5),
    ]);
    let get = serving(b"a: 1\n");
    let found = s3(&[&list, &get]).scrape_configs().await.expect("read");
    let names: Vec<&str> = found
        .documents
        .iter()
        .map(|d| d.relative.as_str())
        .collect();
    assert_eq!(names, ["team/jobs.yml"]);
    assert!(found.refused.is_empty(), "{:?}", found.refused);
}

#[tokio::test]
async fn an_object_over_the_cap_is_refused_by_name_without_a_download() {
    let list = listing(&[("scrape/huge.yml", 50_000_000), ("scrape/ok.yml", 5)]);
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |input| {
        assert_eq!(
            input.key(),
            Some("scrape/ok.yml"),
            "only the small object is read"
        );
        counter.fetch_add(1, Ordering::SeqCst);
        GetObjectOutput::builder()
            .e_tag("\"e\"")
            .body(ByteStream::from_static(b"a: 1\n"))
            .build()
    });
    let found = s3(&[&list, &get]).scrape_configs().await.expect("read");
    assert_eq!(found.documents.len(), 1);
    assert_eq!(downloads.load(Ordering::SeqCst), 1);
    let message = found.refused[0].to_string();
    assert!(
        message.contains("'s3://b/scrape/huge.yml'")
            && message.contains(&DEFAULT_MAX_OBJECT_BYTES.to_string())
            && message.contains("CONFIG_MAX_OBJECT_BYTES"),
        "{message}"
    );
}

#[tokio::test]
async fn a_body_longer_than_announced_is_not_read_past_the_cap() {
    // No Content-Length and no listed size: the cap holds while reading.
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(|_| {
        GetObjectOutput::builder()
            .e_tag("\"big\"")
            .body(ByteStream::from(vec![b'#'; 4096]))
            .build()
    });
    let message = capped(s3(&[&get]), 1024)
        .main_config()
        .await
        .expect_err("over the cap")
        .to_string();
    assert!(
        message.contains("'s3://b/exporter/config.yml'") && message.contains("1024"),
        "{message}"
    );
}

#[tokio::test]
async fn an_ssm_value_over_the_cap_is_refused_by_name() {
    let get = mock!(aws_sdk_ssm::Client::get_parameter).then_output(|| {
        GetParameterOutput::builder()
            .parameter(
                aws_sdk_ssm::types::Parameter::builder()
                    .name("/prom/config.yml")
                    .value("x".repeat(2048))
                    .build(),
            )
            .build()
    });
    let message = capped(ssm(&[&get], None), 1024)
        .main_config()
        .await
        .expect_err("over the cap")
        .to_string();
    assert!(
        message.contains("'/prom/config.yml'") && message.contains("1024"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_key_is_named_in_the_error() {
    let missing = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
        GetObjectError::NoSuchKey(aws_sdk_s3::types::error::NoSuchKey::builder().build())
    });
    let message = s3(&[&missing])
        .main_config()
        .await
        .expect_err("missing")
        .to_string();
    assert!(
        message.contains("'s3://b/exporter/config.yml'"),
        "{message}"
    );
}

#[test]
fn names_from_outside_cannot_forge_a_log_line() {
    let error = FetchError::S3 {
        operation: "GetObject",
        url: "s3://b/scrape/x\r\n2026-01-01T00:00:00Z ERROR forged".to_string(),
        message: "no such key x\r\nforged too".to_string(),
    };
    let said = error.to_string();
    assert!(!said.contains(['\r', '\n']), "{said:?}");
    assert!(said.contains("x\\r\\n2026"), "{said}");
    let missing = FetchError::ParameterNotFound {
        name: "/p/\u{1b}[2Jconfig.yml".to_string(),
        var: "SOURCE_PROMETHEUS_CONFIG_FILE_PATH",
    };
    assert!(!missing.to_string().contains('\u{1b}'), "{missing}");
}
