server {
  tls {
    cert_file = "cert.pem"
    key_file  = file("no_such_file.pem")
  }
}
