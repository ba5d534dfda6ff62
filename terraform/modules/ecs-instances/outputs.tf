output "autoscaling_group_name" {
  description = "Name of the auto scaling group, or null."
  value       = one(aws_autoscaling_group.this[*].name)
}

output "autoscaling_group_arn" {
  description = "ARN of the auto scaling group (for a capacity provider), or null."
  value       = one(aws_autoscaling_group.this[*].arn)
}

output "launch_template_id" {
  description = "ID of the launch template, or null."
  value       = one(aws_launch_template.this[*].id)
}

output "instance_role_name" {
  description = "IAM role of the instances, or null."
  value       = one(aws_iam_role.this[*].name)
}

output "user_data" {
  description = "The instances' boot script, as the launch template carries it (base64-decoded)."
  value       = local.user_data
}
