output "queue_url" {
  description = "URL of the queue, for ecs-discoverer's --events-queue-url (ECS_SD_EVENTS_QUEUE_URL)."
  value       = one(aws_sqs_queue.this[*].url)
}

output "queue_arn" {
  description = "ARN of the queue, for the discoverer's sqs:ReceiveMessage and sqs:DeleteMessage."
  value       = one(aws_sqs_queue.this[*].arn)
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue: task state changes the discoverer received max_receive_count times without applying."
  value       = one(aws_sqs_queue.dead_letters[*].arn)
}

output "rule_arn" {
  description = "ARN of the EventBridge rule (the only sender the queue policy allows)."
  value       = one(aws_cloudwatch_event_rule.this[*].arn)
}
