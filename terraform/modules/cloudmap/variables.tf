variable "create" {
  description = "Create the namespace and its services (false creates nothing)."
  type        = bool
  default     = true
}

variable "namespace_name" {
  description = "Private DNS namespace for the stack and your services, e.g. monitoring.internal."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", var.namespace_name))
    error_message = "namespace_name must be a DNS name with at least two labels, e.g. monitoring.internal."
  }
}

variable "vpc_id" {
  description = "VPC the private namespace resolves in."
  type        = string
}

variable "services" {
  description = "Cloud Map services to create: name => optional metrics path (the METRICS_PATH tag the config-reloader and ecs-discoverer read)."
  type = map(object({
    metrics_path = optional(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for name, s in var.services : can(regex("^[a-z0-9-]{1,63}$", name)) && (s.metrics_path == null || startswith(coalesce(s.metrics_path, "/"), "/"))])
    error_message = "Service names are DNS labels (a-z, 0-9, -) and metrics paths start with '/'."
  }
}

variable "dns_ttl" {
  description = "TTL of the A and SRV records, in seconds."
  type        = number
  default     = 10

  validation {
    condition     = var.dns_ttl >= 0 && var.dns_ttl <= 3600
    error_message = "dns_ttl must be between 0 and 3600 seconds."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
