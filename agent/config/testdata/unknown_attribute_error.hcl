agent {
  server_url = "https://backup.example.com"
  host_id    = "h1"
  credential = "rma_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
  colour     = "blue"
}
