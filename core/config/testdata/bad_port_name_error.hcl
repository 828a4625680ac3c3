server {
  listen = ":http"
}
