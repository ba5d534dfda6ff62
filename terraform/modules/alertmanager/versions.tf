terraform {
  # 1.11: write-only arguments (the Grafana admin secret) and cross-variable validation (1.9).
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Only what the tests run: 5.x from 5.100 (terraform/README.md, Provider). 6.x is not
      # claimed: the mirror holds 5.100 only, and 6.4 broke aws_ecs_service's steady-state wait.
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
