# Every attribute.
agent {
  server_url         = "https://backup.example.com/rm/"
  host_id            = "3f1c2e6a-0000-4000-8000-000000000001"
  credential         = "rma_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
  server_fingerprint = "SHA256:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
  state_dir          = "state"
  restic_binary      = "/usr/local/bin/restic"

  log {
    level  = "debug"
    format = "json"
  }
}
