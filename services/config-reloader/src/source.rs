//! The configuration sources, SSM Parameter Store and S3, behind one interface.
//!
//! - SSM: `GetParameter` for the main config and `GetParametersByPath` (recursive, paginated)
//!   for the scrape configs, both decrypted, so SecureString values arrive as plain text.
//! - S3: `GetObject` with `If-None-Match` for the main config, and `ListObjectsV2` for the
//!   scrape configs, whose ETags tell which objects changed; only those are downloaded.
//!
//! Values never reach a log line: [`Document`]'s `Debug` leaves the body out, and errors name
//! the parameter or key, never the content.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use stack_common::printable::printable;

use crate::config::{S3Location, Source};
use crate::names::{NameError, local_name, relative_to};

/// One fetched parameter or object.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// The parameter name, or `s3://bucket/key`.
    pub name: String,
    /// The name relative to the scrape-configs path (empty for the main config).
    pub relative: String,
    /// Shared with the S3 cache, so a cached object is held once.
    pub body: Bytes,
    /// False when the source said "not modified" and `body` is the last one fetched.
    pub fresh: bool,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("name", &self.name)
            .field("relative", &self.relative)
            .field("bytes", &self.body.len())
            .field("fresh", &self.fresh)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "SSM parameter '{}' does not exist: create it (aws ssm put-parameter --name '{}') \
         or fix {var}", printable(.name), printable(.name)
    )]
    ParameterNotFound { name: String, var: &'static str },
    #[error("SSM {operation} for '{}' failed: {}", printable(.name), printable(.message))]
    Ssm {
        operation: &'static str,
        name: String,
        message: String,
    },
    #[error("S3 object '{}' does not exist: upload it or fix {var}", printable(.url))]
    NoSuchKey { url: String, var: &'static str },
    #[error("S3 bucket '{}' (in '{}') does not exist: create it or fix {var}", printable(.bucket), printable(.url))]
    NoSuchBucket {
        bucket: String,
        url: String,
        var: &'static str,
    },
    #[error("S3 {operation} for '{}' failed: {}", printable(.url), printable(.message))]
    S3 {
        operation: &'static str,
        url: String,
        message: String,
    },
    #[error(
        "'{}' is larger than the cap of {cap} bytes per parameter or object (at least {bytes} \
         bytes): make it smaller, or raise CONFIG_MAX_OBJECT_BYTES; the old file stays",
        printable(.name)
    )]
    TooLarge { name: String, bytes: u64, cap: u64 },
    #[error("refused {}: {error}", printable(.name))]
    BadName { name: String, error: NameError },
    #[error(
        "refused s3://{}/{}: its URL-encoded key does not decode to UTF-8 text: rename it",
        printable(.bucket), printable(.encoded_key)
    )]
    UndecodableKey { bucket: String, encoded_key: String },
}

/// The scrape configs of one pass: those fetched, and those refused one by one (a name that is
/// no file name, an object over the cap), which don't hold the others back.
#[derive(Debug, Default)]
pub struct ScrapeConfigs {
    pub documents: Vec<Document>,
    pub refused: Vec<FetchError>,
}

/// The default for [`crate::config::Config::max_object_bytes`]: far above any Prometheus
/// config seen in practice (SSM's own cap is 8 KB), far below what the sidecar's memory holds.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 8 * 1024 * 1024;

const MAIN_VAR: &str = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH";
const SCRAPE_VAR: &str = "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH";

fn url(location: &S3Location, key: &str) -> String {
    format!("s3://{}/{key}", location.bucket)
}

/// The last body and ETag fetched for one S3 key.
#[derive(Debug, Clone)]
pub struct Cached {
    etag: String,
    body: Bytes,
}

/// Where the configuration comes from, with the state that makes S3 reads conditional.
#[derive(Debug)]
pub enum ConfigSource {
    Ssm {
        client: aws_sdk_ssm::Client,
        config_parameter: String,
        scrape_configs_path: Option<String>,
        max_object_bytes: u64,
    },
    S3 {
        client: aws_sdk_s3::Client,
        config_object: S3Location,
        scrape_configs_prefix: Option<S3Location>,
        cache: HashMap<String, Cached>,
        max_object_bytes: u64,
    },
}

impl ConfigSource {
    pub fn new(source: &Source, sdk: &aws_config::SdkConfig, max_object_bytes: u64) -> Self {
        match source.clone() {
            Source::Ssm {
                config_parameter,
                scrape_configs_path,
            } => ConfigSource::Ssm {
                client: aws_sdk_ssm::Client::new(sdk),
                config_parameter,
                scrape_configs_path,
                max_object_bytes,
            },
            Source::S3 {
                config_object,
                scrape_configs_prefix,
            } => ConfigSource::S3 {
                client: aws_sdk_s3::Client::from_conf(
                    // Emulators serve buckets on paths, not on bucket.host names.
                    aws_sdk_s3::config::Builder::from(sdk)
                        .force_path_style(stack_common::aws::has_custom_endpoint(sdk))
                        .build(),
                ),
                config_object,
                scrape_configs_prefix,
                cache: HashMap::new(),
                max_object_bytes,
            },
        }
    }

    /// `ssm` or `s3`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ConfigSource::Ssm { .. } => "ssm",
            ConfigSource::S3 { .. } => "s3",
        }
    }

    pub fn has_scrape_configs(&self) -> bool {
        match self {
            ConfigSource::Ssm {
                scrape_configs_path,
                ..
            } => scrape_configs_path.is_some(),
            ConfigSource::S3 {
                scrape_configs_prefix,
                ..
            } => scrape_configs_prefix.is_some(),
        }
    }

    /// The main config.
    pub async fn main_config(&mut self) -> Result<Document, FetchError> {
        match self {
            ConfigSource::Ssm {
                client,
                config_parameter,
                max_object_bytes,
                ..
            } => {
                let answer = client
                    .get_parameter()
                    .name(config_parameter.as_str())
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| {
                        if e.as_service_error()
                            .is_some_and(|s| s.is_parameter_not_found())
                        {
                            FetchError::ParameterNotFound {
                                name: config_parameter.clone(),
                                var: MAIN_VAR,
                            }
                        } else {
                            FetchError::Ssm {
                                operation: "GetParameter",
                                name: config_parameter.clone(),
                                message: DisplayErrorContext(e).to_string(),
                            }
                        }
                    })?;
                let value = answer
                    .parameter()
                    .and_then(|p| p.value())
                    .unwrap_or_default();
                within_cap(config_parameter, value.len(), *max_object_bytes)?;
                Ok(Document {
                    name: config_parameter.clone(),
                    relative: String::new(),
                    body: Bytes::copy_from_slice(value.as_bytes()),
                    fresh: true,
                })
            }
            ConfigSource::S3 {
                client,
                config_object,
                cache,
                max_object_bytes,
                ..
            } => {
                let key = config_object.key.clone();
                let object = Object {
                    location: config_object,
                    key: &key,
                    var: MAIN_VAR,
                    cap: *max_object_bytes,
                };
                get_object(client, object, cache, String::new()).await
            }
        }
    }

    /// Every parameter or object under the scrape-configs path, sorted by name. `Err` when
    /// the path can't be read as a whole; single entries that can't be used are in `refused`.
    pub async fn scrape_configs(&mut self) -> Result<ScrapeConfigs, FetchError> {
        let mut found = match self {
            ConfigSource::Ssm {
                client,
                scrape_configs_path: Some(path),
                max_object_bytes,
                ..
            } => ssm_by_path(client, path, *max_object_bytes).await?,
            ConfigSource::S3 {
                client,
                scrape_configs_prefix: Some(prefix),
                cache,
                max_object_bytes,
                ..
            } => s3_by_prefix(client, prefix, cache, *max_object_bytes).await?,
            _ => ScrapeConfigs::default(),
        };
        found.documents.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}

/// `Err(TooLarge)` naming `name` when `bytes` (as many as known so far) are over `cap`.
fn within_cap(name: &str, bytes: impl TryInto<u64>, cap: u64) -> Result<(), FetchError> {
    let bytes = bytes.try_into().unwrap_or(u64::MAX);
    if bytes > cap {
        return Err(FetchError::TooLarge {
            name: name.to_string(),
            bytes,
            cap,
        });
    }
    Ok(())
}

async fn ssm_by_path(
    client: &aws_sdk_ssm::Client,
    path: &str,
    cap: u64,
) -> Result<ScrapeConfigs, FetchError> {
    // GetParametersByPath wants the path without a trailing slash (except the root).
    let query = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let mut found = ScrapeConfigs::default();
    let mut pages = client
        .get_parameters_by_path()
        .path(query)
        .recursive(true)
        .with_decryption(true)
        .max_results(10)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| FetchError::Ssm {
            operation: "GetParametersByPath",
            name: path.to_string(),
            message: DisplayErrorContext(e).to_string(),
        })?;
        for parameter in page.parameters() {
            let name = parameter.name().unwrap_or_default().to_string();
            let value = parameter.value().unwrap_or_default();
            if let Err(refusal) = within_cap(&name, value.len(), cap) {
                found.refused.push(refusal);
                continue;
            }
            found.documents.push(Document {
                relative: relative_to(&name, query).to_string(),
                body: Bytes::copy_from_slice(value.as_bytes()),
                name,
                fresh: true,
            });
        }
    }
    Ok(found)
}

async fn s3_by_prefix(
    client: &aws_sdk_s3::Client,
    prefix: &S3Location,
    cache: &mut HashMap<String, Cached>,
    cap: u64,
) -> Result<ScrapeConfigs, FetchError> {
    let listed_url = url(prefix, &prefix.key);
    let mut found = ScrapeConfigs::default();
    let mut listed = Vec::new();
    // URL-encoded keys: a key with a character XML can't carry (NUL, ESC) would otherwise make
    // the whole listing unparseable, and with it every scrape config stale.
    let mut pages = client
        .list_objects_v2()
        .bucket(&prefix.bucket)
        .prefix(&prefix.key)
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) {
                FetchError::NoSuchBucket {
                    bucket: prefix.bucket.clone(),
                    url: listed_url.clone(),
                    var: SCRAPE_VAR,
                }
            } else {
                FetchError::S3 {
                    operation: "ListObjectsV2",
                    url: listed_url.clone(),
                    message: DisplayErrorContext(e).to_string(),
                }
            }
        })?;
        for object in page.contents() {
            let Some(encoded_key) = object.key() else {
                continue;
            };
            let Some(key) = decode_listed_key(encoded_key) else {
                found.refused.push(FetchError::UndecodableKey {
                    bucket: prefix.bucket.clone(),
                    encoded_key: encoded_key.to_string(),
                });
                continue;
            };
            let size = object.size().and_then(|s| u64::try_from(s).ok());
            listed.push((key, object.e_tag().unwrap_or_default().to_string(), size));
        }
    }
    // Forget objects that are gone, so the cache holds only what the prefix still has.
    cache.retain(|cached_key, _| {
        !cached_key.starts_with(&prefix.key) || listed.iter().any(|(key, ..)| key == cached_key)
    });
    for (key, etag, size) in listed {
        let object_url = url(prefix, &key);
        let relative = relative_to(&key, &prefix.key).to_string();
        if key.ends_with('/') && size == Some(0) {
            tracing::info!(
                object = %printable(&object_url),
                "skipping an S3 folder marker (a zero-byte key ending in '/'): no file is written for it"
            );
            continue;
        }
        if let Err(error) = local_name(&relative) {
            found.refused.push(FetchError::BadName {
                name: object_url,
                error,
            });
            continue;
        }
        if let Some(size) = size
            && let Err(refusal) = within_cap(&object_url, size, cap)
        {
            found.refused.push(refusal);
            continue;
        }
        if let Some(cached) = cache.get(&key)
            && !etag.is_empty()
            && cached.etag == etag
        {
            found.documents.push(Document {
                name: object_url,
                relative,
                body: cached.body.clone(),
                fresh: false,
            });
            continue;
        }
        let object = Object {
            location: prefix,
            key: &key,
            var: SCRAPE_VAR,
            cap,
        };
        match get_object(client, object, cache, relative).await {
            Ok(document) => found.documents.push(document),
            Err(refusal @ FetchError::TooLarge { .. }) => found.refused.push(refusal),
            Err(error) => return Err(error),
        }
    }
    Ok(found)
}

/// A key from a listing made with `EncodingType=url`: percent-encoded, with `+` for a space
/// (as the AWS CLI decodes it). `None` when the bytes are no UTF-8 text.
fn decode_listed_key(encoded: &str) -> Option<String> {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

/// One S3 object to read, and what to name when it can't be.
#[derive(Debug, Clone, Copy)]
struct Object<'a> {
    location: &'a S3Location,
    key: &'a str,
    /// The variable that names it, for the error message.
    var: &'static str,
    cap: u64,
}

/// GetObject with `If-None-Match` on the cached ETag; a 304 answers from the cache. The body is
/// read chunk by chunk and given up past the cap, so an object of any size costs at most the cap.
async fn get_object(
    client: &aws_sdk_s3::Client,
    object: Object<'_>,
    cache: &mut HashMap<String, Cached>,
    relative: String,
) -> Result<Document, FetchError> {
    let Object {
        location,
        key,
        var,
        cap,
    } = object;
    let object_url = url(location, key);
    let cached = cache.get(key);
    let answer = client
        .get_object()
        .bucket(&location.bucket)
        .key(key)
        .set_if_none_match(cached.map(|c| c.etag.clone()))
        .send()
        .await;
    let mut output = match answer {
        Ok(output) => output,
        Err(e) => {
            if let Some(cached) = cached
                && e.raw_response().is_some_and(|r| r.status().as_u16() == 304)
            {
                return Ok(Document {
                    name: object_url,
                    relative,
                    body: cached.body.clone(),
                    fresh: false,
                });
            }
            let code = e
                .as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s))
                .map(str::to_string);
            return Err(match (e.as_service_error(), code.as_deref()) {
                (Some(GetObjectError::NoSuchKey(_)), _) => FetchError::NoSuchKey {
                    url: object_url,
                    var,
                },
                (_, Some("NoSuchBucket")) => FetchError::NoSuchBucket {
                    bucket: location.bucket.clone(),
                    url: object_url,
                    var,
                },
                _ => FetchError::S3 {
                    operation: "GetObject",
                    url: object_url,
                    message: DisplayErrorContext(e).to_string(),
                },
            });
        }
    };
    let announced = output.content_length().and_then(|l| u64::try_from(l).ok());
    if let Some(length) = announced {
        within_cap(&object_url, length, cap)?;
    }
    let etag = output.e_tag().unwrap_or_default().to_string();
    let mut body = Vec::with_capacity(
        announced
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or_default(),
    );
    while let Some(chunk) = output.body.try_next().await.map_err(|e| FetchError::S3 {
        operation: "GetObject",
        url: object_url.clone(),
        message: DisplayErrorContext(e).to_string(),
    })? {
        body.extend_from_slice(&chunk);
        within_cap(&object_url, body.len(), cap)?;
    }
    let body = Bytes::from(body);
    if !etag.is_empty() {
        cache.insert(
            key.to_string(),
            Cached {
                etag,
                body: body.clone(),
            },
        );
    }
    Ok(Document {
        name: object_url,
        relative,
        body,
        fresh: true,
    })
}

#[cfg(test)]
mod tests;
