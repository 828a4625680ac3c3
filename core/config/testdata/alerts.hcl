channel "ops-mail" {
  plugin = "notify-smtp"
}

channel "oncall-phone" {
  plugin = "notify-ntfy"
}

alerting {
  evaluate_every   = "2s"
  delivery_retries = 1
}

alert "backup-failed" {
  on              = "job_failed"
  kinds           = ["backup", "check"]
  tags            = ["prod"]
  channels        = ["oncall-phone", "ops-mail"]
  min_severity    = "critical"
  repeat_interval = "30m"
}

alert "stale" {
  on           = "backup_stale"
  max_age      = "26h"
  repositories = ["offsite"]
  channels     = ["ops-mail"]
}

alert "offline" {
  on       = "host_offline"
  channels = ["ops-mail"]
  enabled  = false
}
