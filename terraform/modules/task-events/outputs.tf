output "queues" {
  description = "The consumers' queues, in order: url for ecs-discoverer's --events-queue-url (ECS_SD_EVENTS_QUEUE_URL), arn for its sqs:ReceiveMessage and sqs:DeleteMessage. Empty when create is false."
  value       = [for q in aws_sqs_queue.this : { url = q.url, arn = q.arn }]
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue: task state changes the discoverer received max_receive_count times without applying."
  value       = one(aws_sqs_queue.dead_letters[*].arn)
}

output "rule_arn" {
  description = "ARN of the EventBridge rule (the only sender the queue policy allows)."
  value       = one(aws_cloudwatch_event_rule.this[*].arn)
}
