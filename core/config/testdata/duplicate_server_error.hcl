server {
  listen = "127.0.0.1:8080"
}

server {
  listen = "127.0.0.1:9090"
}
