variable "create" {
  description = "Create Grafana and everything it needs (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the Grafana service; prefix of its resources."
  type        = string
  default     = "grafana"

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.name))
    error_message = "name must be 1-32 lowercase letters, digits or hyphens."
  }
}

variable "cluster_arn" {
  description = "ECS cluster the service runs in."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task, in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to reach Grafana on 3000: Prometheus (which scrapes /metrics), and the container instances for SSM port forwarding."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks of operators allowed to reach Grafana on 3000."
  type        = list(string)
  default     = []
}

variable "grafana_image" {
  description = "Grafana image."
  type        = string
  default     = "docker.io/grafana/grafana-oss:11.2.0"
}

variable "reloader_image" {
  description = "config-reloader image, which delivers the provisioning files from S3."
  type        = string

  validation {
    condition     = length(var.reloader_image) > 0
    error_message = "Give the config-reloader image."
  }
}

variable "prometheus_url" {
  description = "URL of Prometheus for the provisioned datasource, e.g. http://prometheus.monitoring.internal:9090."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.prometheus_url))
    error_message = "prometheus_url must be an http:// or https:// URL."
  }
}

variable "amp_data_source" {
  description = "A second data source, the AMP workspace Prometheus remote-writes to (the long view, de-duplicated across replicas), queried with SigV4 as the task role, which gets aps:QueryMetrics on it: { url = the workspace's query URL, workspace_arn }. null for none."
  type = object({
    url           = string
    workspace_arn = string
  })
  default = null

  validation {
    condition     = var.amp_data_source == null || can(regex("^https://", var.amp_data_source.url))
    error_message = "amp_data_source.url must be the workspace's https:// query URL, e.g. https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1234."
  }
}

variable "config_bucket_id" {
  description = "Existing S3 bucket (name) for the provisioning files; null creates a private, versioned, encrypted one."
  type        = string
  default     = null
}

variable "config_prefix" {
  description = "Key prefix for the provisioning files in the bucket."
  type        = string
  default     = "grafana/"

  validation {
    condition     = endswith(var.config_prefix, "/") && !startswith(var.config_prefix, "/")
    error_message = "config_prefix ends with '/' and has no leading '/', e.g. grafana/."
  }
}

variable "dashboards_dir" {
  description = "Directory whose *.json files are provisioned as dashboards (the repository's dashboards/)."
  type        = string
}

variable "admin_password_secret_arn" {
  description = "Secrets Manager secret holding the admin password; null creates one with a random password."
  type        = string
  default     = null
}

variable "admin_password_version" {
  description = "Version of the created admin password: raise it to have Terraform write a new random password (the password itself is never in state)."
  type        = number
  default     = 1

  validation {
    condition     = var.admin_password_version >= 1 && floor(var.admin_password_version) == var.admin_password_version
    error_message = "admin_password_version must be a whole number, 1 or more."
  }
}

variable "secret_kms_key_arn" {
  description = "KMS key for the created admin secret and config bucket, or null for the AWS managed keys."
  type        = string
  default     = null
}

variable "cloudmap_service_arn" {
  description = "Cloud Map service to register the task in, or null."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log group, days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the log group, or null."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "wait_for_steady_state" {
  description = "Make terraform apply wait until the service is stable (its tasks running), so a task that can't start fails the apply. Off only against an emulator that never runs tasks."
  type        = bool
  default     = true
}

variable "cpu_architecture" {
  description = "CPU architecture of the Fargate task: \"X86_64\" or \"ARM64\". Build and push the images for the same platform (docker build --platform linux/amd64 or linux/arm64)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be \"X86_64\" or \"ARM64\"."
  }
}
