channel "ops" {
  config {
    topic = "backups"
  }
}
