variable "name" {
  description = "Name prefix for every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,32}$", var.name))
    error_message = "name must be 1-32 letters, digits or hyphens."
  }
}

variable "cidr_block" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0))
    error_message = "cidr_block must be a valid IPv4 CIDR block, e.g. 10.40.0.0/16."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread the subnets over (at least two)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Give at least two availability zones: a single-AZ stack loses monitoring with its AZ."
  }
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway per AZ so private subnets reach AWS APIs and image registries."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone instead of one per zone: saves about USD 33 a month (us-east-1) for each zone beyond the first, at the price of every zone losing egress when that one zone fails."
  type        = bool
  default     = false
}

variable "enable_s3_gateway_endpoint" {
  description = "An S3 gateway endpoint on the private route tables, so ECR image layers (served from S3) and S3 config reads bypass NAT data processing (USD 0.045/GB). The endpoint is free."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "VPC flow logs (rejected and accepted traffic) to a CloudWatch log group."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group, days."
  type        = number
  default     = 90
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the flow log group, or null for CloudWatch's default encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
