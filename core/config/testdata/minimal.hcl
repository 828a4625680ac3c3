# Only the data directory; the secret key follows it.
server {
  data_dir = "/srv/rm"
}
