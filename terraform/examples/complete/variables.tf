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
  description = "\"none\", \"existing\" or \"create\" (a new Amazon Managed Service for Prometheus workspace)."
  type        = string
  default     = "none"
}
