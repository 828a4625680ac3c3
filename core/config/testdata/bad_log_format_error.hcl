log {
  format = "xml"
}
