output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "ec2_capacity_provider_name" {
  description = "Name of the EC2 capacity provider, or null without EC2 capacity."
  value       = one(aws_ecs_capacity_provider.ec2[*].name)
}

output "autoscaling_group_name" {
  description = "Name of the auto scaling group of the EC2 capacity, or null."
  value       = module.instances.autoscaling_group_name
}

output "instance_security_group_id" {
  description = "Security group of the container instances, or null."
  value       = one(aws_security_group.instances[*].id)
}

output "instance_role_name" {
  description = "IAM role of the container instances, or null."
  value       = module.instances.instance_role_name
}
