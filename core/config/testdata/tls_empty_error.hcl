server {
  tls {
  }
}
