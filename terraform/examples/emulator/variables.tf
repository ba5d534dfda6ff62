variable "endpoint" {
  description = "The AWS emulator endpoint (moto server or LocalStack), e.g. http://127.0.0.1:4566."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.endpoint))
    error_message = "endpoint must be an http:// or https:// URL."
  }
}
