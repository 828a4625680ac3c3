channel "ops" {
  plugin = "notify-ntfy"
}

channel "ops" {
  plugin = "notify-smtp"
}
