channel "ops" {
  plugin = "notify-ntfy"
}

alert "backup-failed" {
  on           = "job_failure"
  channels     = ["ops", "pager"]
  min_severity = "high"
}

alert "stale" {
  on       = "backup_stale"
  channels = ["ops"]
  max_age  = "a day"
  kinds    = ["backup"]
}

alert "Offline Hosts" {
  on       = "host_offline"
  channels = ["ops"]
  after    = "5m"
}
