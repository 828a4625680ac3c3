# External plugins and notification channels.
server {
  plugin_dir = "/usr/local/lib/restic-manager/plugins"
}

plugin "notify-log" {
  command = "notify-log"
  sha256  = "e83b284a5b5c7650415fe63912d78824acbd82692a1bcf6c4d3c2399fc0dc527"
}

plugin "notify-teams" {
  command = "teams/notify-teams"
  args    = ["--verbose"]
  sha256  = "E83B284A5B5C7650415FE63912D78824ACBD82692A1BCF6C4D3C2399FC0DC527"
}

channel "audit-log" {
  plugin = "notify-log"
  config {
    path         = "/var/log/restic-manager/notifications.jsonl"
    min_severity = "warning"
  }
}

channel "ops_push" {
  plugin = "notify-ntfy"
  config {
    server = "https://ntfy.example.com"
    topic  = "backups"
    token  = env("RM_CONFIG_TEST_NTFY_TOKEN")
  }
}

channel "bare" {
  plugin = "notify-teams"
}
