agent {
  server_url = "http://127.0.0.1:8080"
  host_id    = "h1"
  credential = "rma_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
}
