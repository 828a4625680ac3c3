alerting {
  evaluate_every   = "100ms"
  delivery_retries = 11
}
