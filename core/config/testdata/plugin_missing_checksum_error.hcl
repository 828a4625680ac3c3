server {
  plugin_dir = "/srv/plugins"
}

plugin "notify-log" {
  command = "notify-log"
}
