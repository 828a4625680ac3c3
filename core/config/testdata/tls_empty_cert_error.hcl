server {
  tls {
    cert_file = ""
    key_file  = "key.pem"
  }
}
