variable "create" {
  description = "Create the roles (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name prefix of the roles (e.g. the service name)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9+=,.@_-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters valid in an IAM role name."
  }
}

variable "enable_discoverer" {
  description = "Grant the read-only ECS, EC2 and Cloud Map actions that ecs-discoverer calls."
  type        = bool
  default     = false
}

variable "config_ssm_paths" {
  description = "SSM parameter paths the config-reloader reads (e.g. [\"/prometheus\"]): the parameter at the path and everything below it."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.config_ssm_paths : startswith(p, "/") && !endswith(p, "/")])
    error_message = "Each SSM path starts with '/' and has no trailing '/', e.g. /prometheus."
  }
}

variable "ssm_kms_key_arns" {
  description = "Customer managed KMS keys of SecureString config parameters (not needed for alias/aws/ssm)."
  type        = list(string)
  default     = []
}

variable "config_bucket_arn" {
  description = "ARN of the S3 bucket holding configuration, or null."
  type        = string
  default     = null
}

variable "config_s3_prefixes" {
  description = "Key prefixes in the config bucket that the config-reloader reads (e.g. [\"grafana/\"])."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.config_s3_prefixes : !startswith(p, "/")])
    error_message = "S3 key prefixes have no leading '/', e.g. grafana/."
  }
}

variable "enable_cloudmap_reader" {
  description = "Grant the Cloud Map reads of the config-reloader's cloudmap.json (without the rest of the discoverer's actions)."
  type        = bool
  default     = false
}

variable "enable_remote_write" {
  description = "Grant aps:RemoteWrite on amp_workspace_arn. A bool known at plan, so a workspace created in the same apply (ARN unknown until then) works."
  type        = bool
  default     = false
}

variable "enable_amp_query" {
  description = "Grant the queries of Grafana's AMP data source (aps:QueryMetrics, GetSeries, GetLabels, GetMetricMetadata) on amp_workspace_arn. A bool known at plan, as enable_remote_write."
  type        = bool
  default     = false
}

variable "amp_workspace_arn" {
  description = "Amazon Managed Service for Prometheus workspace that Prometheus remote-writes to or Grafana queries; required with enable_remote_write or enable_amp_query."
  type        = string
  default     = null

  validation {
    condition     = !(var.enable_remote_write || var.enable_amp_query) || var.amp_workspace_arn != null
    error_message = "enable_remote_write and enable_amp_query need amp_workspace_arn: the ARN of the workspace written to or queried."
  }
}

variable "execution_secret_arns" {
  description = "Secrets Manager secrets or SSM parameters the execution role injects as container secrets."
  type        = list(string)
  default     = []
}

variable "execution_kms_key_arns" {
  description = "Customer KMS keys of execution_secret_arns: the execution role may decrypt with them through Secrets Manager and SSM."
  type        = list(string)
  default     = []
}

variable "s3_kms_key_arns" {
  description = "Customer KMS keys of the SSE-KMS config objects under config_s3_prefixes: the task role may decrypt with them through S3."
  type        = list(string)
  default     = []
}

variable "sns_topic_arns" {
  description = "SNS topics the task may publish to (Alertmanager's SNS receiver)."
  type        = list(string)
  default     = []
}

variable "events_queue_arns" {
  description = "SQS queues of ECS task state changes that ecs-discoverer reads (--events-queue-url): receive, delete and read attributes, on these queues only."
  type        = list(string)
  default     = []
}

variable "log_group_arns" {
  description = "CloudWatch log groups the execution role writes container logs to."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
