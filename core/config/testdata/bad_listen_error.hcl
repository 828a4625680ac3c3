server {
  listen = "localhost"
}
