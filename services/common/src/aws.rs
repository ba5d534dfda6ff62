//! AWS SDK configuration from the standard chain (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL`),
//! with optional role assumption.

use aws_config::{BehaviorVersion, SdkConfig};

/// A role to assume on top of the ambient credentials.
#[derive(Debug, Clone)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// Loads the SDK configuration. With `assume_role`, credentials come from STS AssumeRole using
/// the ambient credentials as the source.
pub async fn load(assume_role: Option<&AssumeRole>) -> SdkConfig {
    let base = aws_config::defaults(BehaviorVersion::latest()).load().await;
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
        .credentials_provider(provider)
        .load()
        .await
}

/// True when the endpoint was overridden (`AWS_ENDPOINT_URL`), i.e. we talk to an emulator.
pub fn has_custom_endpoint(config: &SdkConfig) -> bool {
    config.endpoint_url().is_some()
}
