channel "ops" {
  plugin = "notify-ntfy"
}

alert "failed" {
  channels   = ["ops"]
  repeat_intervall = "1h"
}
