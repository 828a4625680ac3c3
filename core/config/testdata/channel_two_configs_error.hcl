channel "ops" {
  plugin = "notify-ntfy"
  config {
    topic = "backups"
  }
  config {
    topic = "more"
  }
}
