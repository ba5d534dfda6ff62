output "task_role_arn" {
  description = "ARN of the task role (what the containers may call), or null when they call nothing."
  value       = one(aws_iam_role.task[*].arn)
}

output "execution_role_arn" {
  description = "ARN of the execution role (image pulls, logs, secrets)."
  value       = one(aws_iam_role.execution[*].arn)
}

output "task_policy_json" {
  description = "The task role's policy document, or null when it grants nothing."
  value       = one(data.aws_iam_policy_document.task[*].json)
}
