channel "ops" {
  plugn = "notify-ntfy"
}
