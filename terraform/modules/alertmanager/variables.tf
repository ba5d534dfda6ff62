variable "create" {
  description = "Create the Alertmanager (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name of the Alertmanager service; prefix of its resources."
  type        = string
  default     = "alertmanager"

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.name))
    error_message = "name must be 1-32 lowercase letters, digits or hyphens."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster the service runs in."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the service."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task (awsvpc), in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Give subnets in at least two availability zones."
  }
}

variable "replicas" {
  description = "Alertmanager tasks, one gossip cluster (the subnets' zones in turn): with 2 or more, every Prometheus sends to each, they share silences and the notification log, and one notification goes out per alert group while any one is up. 1 runs a single Alertmanager without a cluster listener."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 5 && floor(var.replicas) == var.replicas
    error_message = "replicas must be a whole number from 1 to 5."
  }
}

variable "cluster_peer_dns_name" {
  description = "DNS name every replica resolves to find its gossip peers: the Cloud Map service's A record, e.g. alertmanager.monitoring.local. Needed when replicas is 2 or more."
  type        = string
  default     = null

  validation {
    condition     = var.replicas == 1 || var.cluster_peer_dns_name != null
    error_message = "With replicas of 2 or more, set cluster_peer_dns_name (the Cloud Map service's DNS name, e.g. alertmanager.monitoring.local): the replicas find each other there."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups that may reach 9093: Prometheus, which sends alerts and scrapes Alertmanager."
  type        = list(string)
  default     = []
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks of operators allowed to reach the Alertmanager UI and API on 9093."
  type        = list(string)
  default     = []
}

variable "alertmanager_image" {
  description = "Alertmanager image."
  type        = string
  default     = "quay.io/prometheus/alertmanager:v0.27.0"
}

variable "reloader_image" {
  description = "config-reloader image (built from services/config-reloader/Dockerfile)."
  type        = string

  validation {
    condition     = length(var.reloader_image) > 0
    error_message = "Give the config-reloader image, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/config-reloader:0.1.0."
  }
}

variable "receiver" {
  description = "Where alerts go: a webhook URL (Slack-compatible relays, PagerDuty's Events API v2 proxy, your own) or an SNS topic ARN; exactly one. The default is a placeholder that delivers nothing: replace it."
  type = object({
    webhook_url   = optional(string)
    sns_topic_arn = optional(string)
  })
  default = { webhook_url = "https://alerts.example.invalid/replace-me" }

  validation {
    condition     = (var.receiver.webhook_url == null) != (var.receiver.sns_topic_arn == null)
    error_message = "receiver takes exactly one of webhook_url (an http:// or https:// URL) or sns_topic_arn."
  }

  validation {
    condition     = var.receiver.webhook_url == null || can(regex("^https?://[^\\s]+$", coalesce(var.receiver.webhook_url, "-")))
    error_message = "receiver.webhook_url must be an http:// or https:// URL."
  }

  validation {
    condition     = var.receiver.sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", coalesce(var.receiver.sns_topic_arn, "-")))
    error_message = "receiver.sns_topic_arn must be an SNS topic ARN, e.g. arn:aws:sns:us-east-1:123456789012:alerts."
  }
}

variable "group_wait" {
  description = "How long Alertmanager waits to group the first alerts of a group before it notifies (Prometheus duration)."
  type        = string
  default     = "30s"

  validation {
    condition     = can(regex("^[0-9]+(ms|s|m|h)$", var.group_wait))
    error_message = "group_wait must be a duration such as 30s or 1m."
  }
}

variable "cpu" {
  description = "Task CPU units (Fargate)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory, MiB (Fargate)."
  type        = number
  default     = 512
}

variable "ssm_path" {
  description = "SSM path of the config; alertmanager.yml is written at <ssm_path>/alertmanager.yml."
  type        = string
  default     = "/monitoring/alertmanager"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+[^/]$", var.ssm_path))
    error_message = "ssm_path must start with / and not end with /, e.g. /monitoring/alertmanager."
  }
}

variable "config_kms_key_arn" {
  description = "KMS key of the SecureString config parameter, or null for alias/aws/ssm."
  type        = string
  default     = null
}

variable "cloudmap_service_arn" {
  description = "Cloud Map service to register the tasks in (with A and SRV records), or null. Prometheus finds every Alertmanager through it, and the replicas find each other by its A record (cluster_peer_dns_name)."
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

variable "wait_for_steady_state" {
  description = "Make terraform apply wait until the service is stable (its task running), so a task that can't start fails the apply. Off only against an emulator that never runs tasks."
  type        = bool
  default     = true
}

variable "cpu_architecture" {
  description = "CPU architecture of the Fargate task: \"X86_64\" or \"ARM64\". Build and push the reloader image for the same platform."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be \"X86_64\" or \"ARM64\"."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
