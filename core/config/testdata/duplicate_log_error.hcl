log {
  level = "info"
}

log {
  level = "debug"
}
