agent {
  server_url = "https://backup.example.com"
}
