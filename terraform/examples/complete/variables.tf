variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "availability_zones" {
  description = "Availability zones (at least two) of the region."
  type        = list(string)
  default     = ["us-east-1a", "us-east-1b"]
}

variable "discoverer_image" {
  description = "ecs-discoverer image you pushed, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-discoverer:0.1.0."
  type        = string
}

variable "reloader_image" {
  description = "config-reloader image you pushed."
  type        = string
}

variable "operator_cidr_blocks" {
  description = "CIDR blocks (VPN, bastion) allowed to reach Prometheus and Grafana."
  type        = list(string)
  default     = []
}

variable "remote_write" {
  description = "\"none\", \"existing\" (give amp_workspace_arn) or \"create\" (a new Amazon Managed Service for Prometheus workspace). The TSDB in the task is lost with the task, so remote write is the durable path; \"create\" by default."
  type        = string
  default     = "create"
}

variable "amp_workspace_arn" {
  description = "Your AMP workspace's ARN, with remote_write = \"existing\"."
  type        = string
  default     = null

  validation {
    condition     = var.remote_write != "existing" || var.amp_workspace_arn != null
    error_message = "remote_write = \"existing\" needs amp_workspace_arn (arn:aws:aps:<region>:<account>:workspace/ws-...)."
  }
}

variable "alert_receiver" {
  description = "Where Alertmanager sends alerts: { webhook_url = \"https://...\" } or { sns_topic_arn = \"arn:aws:sns:...\" }. The default is a placeholder that delivers nothing; a plan warns while it is set."
  type = object({
    webhook_url   = optional(string)
    sns_topic_arn = optional(string)
  })
  default = { webhook_url = "https://alerts.example.invalid/replace-me" }
}
