server {
  download_limit_mib = 64
}
