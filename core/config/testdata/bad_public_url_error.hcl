server {
  public_url = "backup.example.com"
}
