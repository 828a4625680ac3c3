channel "Ops Mail" {
  plugin = "notify-smtp"
}

channel "ops" {
  plugin = "../notify-smtp"
}
