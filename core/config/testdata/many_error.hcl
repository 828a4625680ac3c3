# Every problem is reported, in source order, not just the first.
server {
  listen     = "127.0.0.1"
  public_url = "mailto:ops@example.com"
  data_dir   = ""
}

log {
  level  = "loud"
  format = "yaml"
}
