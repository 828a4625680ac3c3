server {
  plugin_dir = "/srv/plugins"
}

plugin "absolute" {
  command = "/usr/bin/notify-log"
  sha256  = "e83b284a5b5c7650415fe63912d78824acbd82692a1bcf6c4d3c2399fc0dc527"
}

plugin "parent" {
  command = "bin/../../notify-log"
  sha256  = "e83b284a5b5c7650415fe63912d78824acbd82692a1bcf6c4d3c2399fc0dc527"
}
