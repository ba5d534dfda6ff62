variable "endpoint" {
  description = "The AWS emulator endpoint for every service (moto server, or one LocalStack Pro), e.g. http://127.0.0.1:4566."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.endpoint))
    error_message = "endpoint must be an http:// or https:// URL."
  }
}

variable "localstack_endpoint" {
  description = "A LocalStack for SSM, S3, IAM, STS, KMS, Secrets Manager and CloudWatch Logs, beside the moto at `endpoint` for ECS, EC2, Cloud Map, Auto Scaling and AMP (the test bed's split); null: everything at `endpoint`."
  type        = string
  default     = null

  validation {
    condition     = var.localstack_endpoint == null || can(regex("^https?://", var.localstack_endpoint))
    error_message = "localstack_endpoint must be an http:// or https:// URL, or null."
  }
}

variable "vpc_cidr_block" {
  description = "The VPC's block: loopback (127.0.0.0/8), so whatever the emulator hands out (instances, ENIs) is scrapeable locally. The test bed gives each pytest-xdist worker its own (integration-tests/testbed/network.py)."
  type        = string
  default     = "127.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr_block)) && startswith(var.vpc_cidr_block, "127.")
    error_message = "vpc_cidr_block must be a CIDR block in 127.0.0.0/8 (loopback), e.g. 127.0.0.0/16."
  }
}

# The choices of examples/complete, so the plan matrix (integration-tests/tests/test_terraform.py) can
# plan each against the emulator.
variable "remote_write" {
  description = "\"none\", \"existing\" (give amp_workspace_arn) or \"create\"."
  type        = string
  default     = "none"
}

variable "amp_workspace_arn" {
  description = "AMP workspace ARN with remote_write = \"existing\"."
  type        = string
  default     = null
}

variable "prometheus_storage" {
  description = "\"instance-ebs\", \"fargate-ebs-lost-with-task\" or \"fargate-ephemeral-lost-with-task\"."
  type        = string
  default     = "instance-ebs"
}

variable "prometheus_replicas" {
  description = "Prometheus replicas."
  type        = number
  default     = 2
}

variable "alertmanager_replicas" {
  description = "Alertmanager replicas (one gossip cluster)."
  type        = number
  default     = 2
}

variable "prometheus_snapshot_schedule" {
  description = "Daily TSDB volume snapshots, or null. Neither emulator serves Data Lifecycle Manager: the tests plan it and apply without it."
  type = object({
    time  = string
    count = number
  })
  default = null
}

variable "enable_grafana" {
  description = "Run Grafana."
  type        = bool
  default     = true
}

variable "enable_alertmanager" {
  description = "Run Alertmanager."
  type        = bool
  default     = true
}

variable "alert_receiver" {
  description = "Where Alertmanager sends alerts; the end-to-end test points it at its own webhook sink."
  type = object({
    webhook_url   = optional(string)
    sns_topic_arn = optional(string)
  })
  default = { webhook_url = "https://alerts.example.invalid/replace-me" }
}

variable "alert_group_wait" {
  description = "Alertmanager's group_wait."
  type        = string
  default     = "30s"
}

variable "extra_rule_files" {
  description = "Rule files of your own (<name>.rules.yml => content); the end-to-end test adds one that fires."
  type        = map(string)
  default     = {}
}

variable "event_reconcile_interval" {
  description = "The stack's event_reconcile_interval (the discoverer's full cycle beside the events queue)."
  type        = string
  default     = "5m"
}

variable "discoverer_cache_ttl" {
  description = "The stack's discoverer_cache_ttl."
  type        = string
  default     = "5m"
}

variable "log_retention_days" {
  description = "Retention of the stack's container log groups, days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key of the stack's log groups, or null. The plan tests give one; applied, the emulator needs the key to exist."
  type        = string
  default     = null
}

variable "secret_kms_key_arn" {
  description = "KMS key of Grafana's secret and config bucket, or null (planned only, as log_kms_key_arn)."
  type        = string
  default     = null
}
