terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Pinned to what CI applies against the emulator; the modules accept anything below 7.0.
      version = "5.100.0"
    }
  }
}
