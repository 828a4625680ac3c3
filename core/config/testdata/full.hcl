# Every attribute and block, set.
server {
  listen          = "0.0.0.0:8443"
  public_url      = "https://backup.example.com"
  data_dir        = "/var/lib/restic-manager"
  secret_key_file = "/etc/restic-manager/secret.key"

  tls {
    cert_file = "/etc/restic-manager/tls/cert.pem"
    key_file  = "/etc/restic-manager/tls/key.pem"
  }
}

log {
  level  = "debug"
  format = "json"
}
