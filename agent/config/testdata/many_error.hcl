agent {
  server_url         = "ftp://backup.example.com"
  host_id            = "h1"
  credential         = "rmt_not_an_agent_credential"
  server_fingerprint = "abc"

  log {
    level = "loud"
  }
}
