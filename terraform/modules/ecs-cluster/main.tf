resource "aws_ecs_cluster" "this" {
  name = var.name
  tags = var.tags

  setting {
    name  = "containerInsights"
    value = var.enable_container_insights ? "enabled" : "disabled"
  }
}

# --- EC2 capacity ------------------------------------------------------------------------

resource "aws_security_group" "instances" {
  count       = var.enable_ec2_capacity ? 1 : 0
  name        = "${var.name}-ecs-instances"
  description = "ECS container instances of ${var.name}: exporters reachable from Prometheus only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

# No ingress here: whoever scrapes the instances adds its rule to this group (the prometheus
# module's scrape_targets), so only Prometheus reaches the exporters and the dynamic host ports.

resource "aws_vpc_security_group_egress_rule" "all" {
  count             = var.enable_ec2_capacity ? 1 : 0
  security_group_id = aws_security_group.instances[0].id
  description       = "ECS agent, image pulls and AWS APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

module "instances" {
  source = "../ecs-instances"
  create = var.enable_ec2_capacity

  name                       = "${var.name}-ecs"
  cluster_name               = aws_ecs_cluster.this.name
  subnet_ids                 = var.subnet_ids
  security_group_ids         = aws_security_group.instances[*].id
  instance_type              = var.instance_type
  min_size                   = var.min_size
  max_size                   = var.max_size
  desired_capacity           = var.desired_capacity
  protect_from_scale_in      = var.enable_managed_scaling
  ami_ssm_parameter          = var.ami_ssm_parameter
  root_volume_size           = var.root_volume_size
  enable_detailed_monitoring = var.enable_detailed_monitoring
  tags                       = var.tags
}

# State of the version before ecs-instances moves over.
moved {
  from = aws_launch_template.this
  to   = module.instances.aws_launch_template.this
}

moved {
  from = aws_autoscaling_group.this
  to   = module.instances.aws_autoscaling_group.this
}

moved {
  from = aws_iam_role.instance
  to   = module.instances.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy_attachment.instance_ecs
  to   = module.instances.aws_iam_role_policy_attachment.ecs
}

moved {
  from = aws_iam_role_policy_attachment.instance_ssm
  to   = module.instances.aws_iam_role_policy_attachment.ssm
}

moved {
  from = aws_iam_instance_profile.instance
  to   = module.instances.aws_iam_instance_profile.this
}

resource "aws_ecs_capacity_provider" "ec2" {
  count = var.enable_ec2_capacity ? 1 : 0
  name  = "${var.name}-ec2"
  tags  = var.tags

  auto_scaling_group_provider {
    auto_scaling_group_arn         = module.instances.autoscaling_group_arn
    managed_termination_protection = var.enable_managed_scaling ? "ENABLED" : "DISABLED"

    managed_scaling {
      status          = var.enable_managed_scaling ? "ENABLED" : "DISABLED"
      target_capacity = 100
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name = aws_ecs_cluster.this.name
  capacity_providers = concat(
    ["FARGATE", "FARGATE_SPOT"],
    aws_ecs_capacity_provider.ec2[*].name,
  )

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}
