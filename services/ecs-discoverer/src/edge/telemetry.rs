//! The SDK clients' telemetry and policy: every attempt counted by operation (and the throttled
//! ones, by the SDK's own list of throttling codes), patient retries, and the three clients the
//! discoverer uses, built one way.

use std::sync::Arc;
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use stack_common::cloudmap::{self, CloudMap};

use crate::events::{ApiCallAttempted, InternalEvent};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// Counts every attempt of every AWS call by operation, and the throttled ones, on `/metrics`.
#[derive(Debug, Clone)]
pub struct ApiCallRecorder {
    pub metrics: Arc<Metrics>,
}

impl Intercept for ApiCallRecorder {
    fn name(&self) -> &'static str {
        "ApiCallRecorder"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let throttled = context.response().is_some_and(|response| {
            let status = response.status().as_u16();
            // Only an error answer's body is read: success bodies can be hundreds of kB.
            status == 429
                || (status >= 400
                    && error_code(
                        response.headers().get("x-amzn-errortype"),
                        response.body().bytes().unwrap_or_default(),
                    )
                    .is_some_and(is_throttling))
        });
        ApiCallAttempted {
            service: metadata.service(),
            operation: metadata.name(),
            throttled,
        }
        .emit(&self.metrics);
        Ok(())
    }
}

/// Whether an AWS error code means throttling, by the SDK's own list (ECS answers 400
/// `ThrottlingException`, EC2 503 `RequestLimitExceeded`, S3 503 `SlowDown`).
pub fn is_throttling(code: &str) -> bool {
    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code)
}

/// The error code of an AWS error answer: the `x-amzn-errortype` header or `__type` of the JSON
/// protocols (ECS, Cloud Map), or `<Code>` of the XML ones (EC2, S3). The SDK parses the same
/// after the interceptor has run; here only the code is needed, so it's found in place.
pub fn error_code<'b>(header: Option<&'b str>, body: &'b [u8]) -> Option<&'b str> {
    let code = |raw: &'b str| {
        let raw = raw.split(':').next().unwrap_or(raw);
        raw.rsplit('#').next().unwrap_or(raw).trim()
    };
    if let Some(header) = header.filter(|h| !h.is_empty()) {
        return Some(code(header));
    }
    let body = std::str::from_utf8(body).ok()?;
    let raw = if let Some((_, rest)) = body.split_once("<Code>") {
        rest.split('<').next()
    } else if let Some((_, rest)) = body.split_once("\"__type\"") {
        // `:"ThrottlingException",...`: the first quoted string after the key.
        rest.split('"').nth(1)
    } else {
        None
    };
    raw.map(code).filter(|c| !c.is_empty())
}

/// Patient retries: standard mode retries throttling and transient errors with exponential
/// backoff and jitter.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(8)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(20))
}

/// Clients configured for the discoverer: the call recorder and patient throttling retries.
pub fn clients(
    config: &aws_config::SdkConfig,
    metrics: &Arc<Metrics>,
) -> (aws_sdk_ecs::Client, aws_sdk_ec2::Client) {
    let retry = retry_config();
    let recorder = ApiCallRecorder {
        metrics: metrics.clone(),
    };
    let ecs = aws_sdk_ecs::config::Builder::from(config)
        .retry_config(retry.clone())
        .interceptor(recorder.clone())
        .build();
    let ec2 = aws_sdk_ec2::config::Builder::from(config)
        .retry_config(retry)
        .interceptor(recorder)
        .build();
    (
        aws_sdk_ecs::Client::from_conf(ecs),
        aws_sdk_ec2::Client::from_conf(ec2),
    )
}

/// The events queue's client, recorded as the others. Its calls outlast the other clients'
/// timeouts by design (a long poll waits up to 20 s), and it retries little: the listener
/// has its own backoff, and the cycles go on meanwhile.
pub fn sqs_client(config: &aws_config::SdkConfig, metrics: &Arc<Metrics>) -> aws_sdk_sqs::Client {
    let wait = crate::task_events::queue::WAIT;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(wait + Duration::from_secs(10))
        .operation_timeout(wait + Duration::from_secs(30))
        .build();
    let sqs = aws_sdk_sqs::config::Builder::from(config)
        .retry_config(retry_config().with_max_attempts(3))
        .timeout_config(timeouts)
        .interceptor(ApiCallRecorder {
            metrics: metrics.clone(),
        })
        .build();
    aws_sdk_sqs::Client::from_conf(sqs)
}

/// The Cloud Map client, recorded and retried as the ECS and EC2 ones, and paced in its
/// buckets of `limiter`.
pub fn cloudmap_client(
    config: &aws_config::SdkConfig,
    metrics: &Arc<Metrics>,
    limiter: Arc<RateLimiter>,
) -> CloudMap {
    let client = aws_sdk_servicediscovery::Client::from_conf(
        cloudmap::client_config(config)
            .retry_config(retry_config())
            .interceptor(ApiCallRecorder {
                metrics: metrics.clone(),
            })
            .build(),
    );
    CloudMap::new(client).with_pacer(crate::ratelimit::cloudmap_pacer(limiter))
}
