server {
  tls {
    cert_file = "cert.pem"
  }
}
