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
use stack_common::printable::printable;

use crate::config::{S3Location, Source};

/// One fetched parameter or object.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// The parameter name, or `s3://bucket/key`.
    pub name: String,
    /// The name relative to the scrape-configs path (empty for the main config).
    pub relative: String,
    pub body: Vec<u8>,
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
}

const MAIN_VAR: &str = "SOURCE_PROMETHEUS_CONFIG_FILE_PATH";
const SCRAPE_VAR: &str = "SOURCE_PROMETHEUS_SCRAPE_CONFIGS_PATH";

fn url(location: &S3Location, key: &str) -> String {
    format!("s3://{}/{key}", location.bucket)
}

/// The last body and ETag fetched for one S3 key.
#[derive(Debug, Clone)]
pub struct Cached {
    etag: String,
    body: Vec<u8>,
}

/// Where the configuration comes from, with the state that makes S3 reads conditional.
#[derive(Debug)]
pub enum ConfigSource {
    Ssm {
        client: aws_sdk_ssm::Client,
        config_parameter: String,
        scrape_configs_path: Option<String>,
    },
    S3 {
        client: aws_sdk_s3::Client,
        config_object: S3Location,
        scrape_configs_prefix: Option<S3Location>,
        cache: HashMap<String, Cached>,
    },
}

impl ConfigSource {
    pub fn new(source: &Source, sdk: &aws_config::SdkConfig) -> Self {
        match source.clone() {
            Source::Ssm {
                config_parameter,
                scrape_configs_path,
            } => ConfigSource::Ssm {
                client: aws_sdk_ssm::Client::new(sdk),
                config_parameter,
                scrape_configs_path,
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
                Ok(Document {
                    name: config_parameter.clone(),
                    relative: String::new(),
                    body: value.as_bytes().to_vec(),
                    fresh: true,
                })
            }
            ConfigSource::S3 {
                client,
                config_object,
                cache,
                ..
            } => {
                let key = config_object.key.clone();
                get_object(client, config_object, &key, MAIN_VAR, cache, String::new()).await
            }
        }
    }

    /// Every parameter or object under the scrape-configs path, sorted by name.
    pub async fn scrape_configs(&mut self) -> Result<Vec<Document>, FetchError> {
        let mut documents = match self {
            ConfigSource::Ssm {
                client,
                scrape_configs_path: Some(path),
                ..
            } => ssm_by_path(client, path).await?,
            ConfigSource::S3 {
                client,
                scrape_configs_prefix: Some(prefix),
                cache,
                ..
            } => s3_by_prefix(client, prefix, cache).await?,
            _ => Vec::new(),
        };
        documents.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(documents)
    }
}

async fn ssm_by_path(
    client: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Vec<Document>, FetchError> {
    // GetParametersByPath wants the path without a trailing slash (except the root).
    let query = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let mut documents = Vec::new();
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
            documents.push(Document {
                relative: crate::names::relative_to(&name, query).to_string(),
                body: parameter.value().unwrap_or_default().as_bytes().to_vec(),
                name,
                fresh: true,
            });
        }
    }
    Ok(documents)
}

async fn s3_by_prefix(
    client: &aws_sdk_s3::Client,
    prefix: &S3Location,
    cache: &mut HashMap<String, Cached>,
) -> Result<Vec<Document>, FetchError> {
    let listed_url = url(prefix, &prefix.key);
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&prefix.bucket)
        .prefix(&prefix.key)
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
            if let Some(key) = object.key() {
                keys.push((
                    key.to_string(),
                    object.e_tag().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    // Forget objects that are gone, so the cache holds only what the prefix still has.
    cache.retain(|cached_key, _| {
        !cached_key.starts_with(&prefix.key) || keys.iter().any(|(key, _)| key == cached_key)
    });
    let mut documents = Vec::new();
    for (key, etag) in keys {
        let relative = crate::names::relative_to(&key, &prefix.key).to_string();
        match cache.get(&key) {
            Some(cached) if !etag.is_empty() && cached.etag == etag => documents.push(Document {
                name: url(prefix, &key),
                relative,
                body: cached.body.clone(),
                fresh: false,
            }),
            _ => {
                documents.push(get_object(client, prefix, &key, SCRAPE_VAR, cache, relative).await?)
            }
        }
    }
    Ok(documents)
}

/// GetObject with `If-None-Match` on the cached ETag; a 304 answers from the cache.
async fn get_object(
    client: &aws_sdk_s3::Client,
    location: &S3Location,
    key: &str,
    var: &'static str,
    cache: &mut HashMap<String, Cached>,
    relative: String,
) -> Result<Document, FetchError> {
    let object_url = url(location, key);
    let cached = cache.get(key);
    let answer = client
        .get_object()
        .bucket(&location.bucket)
        .key(key)
        .set_if_none_match(cached.map(|c| c.etag.clone()))
        .send()
        .await;
    let output = match answer {
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
    let etag = output.e_tag().unwrap_or_default().to_string();
    let body = output
        .body
        .collect()
        .await
        .map_err(|e| FetchError::S3 {
            operation: "GetObject",
            url: object_url.clone(),
            message: DisplayErrorContext(e).to_string(),
        })?
        .into_bytes()
        .to_vec();
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
