channel "ops" {
  plugin = "notify-ntfy"
}

alert "offline" {
  on       = "host_offline"
  channels = ["ops"]
}

alert "offline" {
  on       = "host_offline"
  channels = ["ops"]
  after    = "1h"
}
