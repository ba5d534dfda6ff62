//! AWS SDK configuration from the standard chain (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`),
//! with optional role assumption.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// How long an AWS call may take. Without a bound, an endpoint that accepts and never answers
/// stalls a cycle (and `--once`, so an ECS init container) for ever.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A whole operation, retries included.
    pub operation: Duration,
}

impl Timeouts {
    fn config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3).min(self.operation))
            // One attempt: ECS, EC2, SSM and S3 answer a page in well under a second.
            .operation_attempt_timeout(Duration::from_secs(10).min(self.operation))
            .operation_timeout(self.operation)
            .build()
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            operation: Duration::from_secs(30),
        }
    }
}

/// A role to assume on top of the ambient credentials.
#[derive(Debug, Clone)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// Loads the SDK configuration. With `assume_role`, credentials come from STS AssumeRole using
/// the ambient credentials as the source.
pub async fn load(assume_role: Option<&AssumeRole>, timeouts: Timeouts) -> SdkConfig {
    let base = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts.config())
        .load()
        .await;
    let Some(role) = assume_role else {
        return base;
    };
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
        .session_name(&role.session_name)
        .configure(&base);
    if let Some(external_id) = &role.external_id {
        provider = provider.external_id(external_id);
    }
    let provider = provider.build().await;
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts.config())
        .credentials_provider(provider)
        .load()
        .await
}

/// No region anywhere in the chain: every call would fail with "missing signing region".
#[derive(Debug, thiserror::Error)]
#[error(
    "no AWS region: set AWS_REGION (e.g. AWS_REGION=us-east-1) or a region in the AWS profile (on ECS it comes from the task's environment or the instance metadata)"
)]
pub struct MissingRegion;

/// Fails at start-up, with the fix, when no region was found.
pub fn require_region(config: &SdkConfig) -> Result<(), MissingRegion> {
    config.region().map(|_| ()).ok_or(MissingRegion)
}

/// True when the endpoint was overridden (`AWS_ENDPOINT_URL`), i.e. we talk to an emulator.
pub fn has_custom_endpoint(config: &SdkConfig) -> bool {
    config.endpoint_url().is_some()
}
