server {
  public_url = "ftp://backup.example.com"
}
