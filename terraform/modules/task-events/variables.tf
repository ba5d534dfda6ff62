variable "create" {
  description = "Create the rule and the queues (false creates nothing)."
  type        = bool
  default     = true
}

variable "name" {
  description = "Name prefix of the rule and the queues."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,60}$", var.name))
    error_message = "name is 1-60 letters, digits, '-' or '_' (an SQS queue name, with room for the -dlq suffix)."
  }
}

variable "consumers" {
  description = "Queues, one per consumer (each Prometheus replica's ecs-discoverer), each receiving every event: an EventBridge rule has at most 5 targets."
  type        = number
  default     = 1

  validation {
    condition     = var.consumers >= 1 && var.consumers <= 5 && floor(var.consumers) == var.consumers
    error_message = "consumers must be a whole number from 1 to 5."
  }
}

variable "clusters" {
  description = "ECS clusters (names or ARNs, of this account and region) whose task state changes the queue receives; empty means every cluster."
  type        = list(string)
  default     = []
}

variable "message_retention_seconds" {
  description = "How long an undelivered task state change is kept. The discoverer's reconciling cycle corrects whatever is lost, so an hour is plenty; older events are stale by then."
  type        = number
  default     = 3600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds is 60 to 1209600 (14 days), as SQS allows."
  }
}

variable "max_receive_count" {
  description = "Receives of a message before it moves to the dead-letter queue (a task the discoverer could not resolve comes back once per visibility timeout)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count is 1 to 1000."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
