server {
  data_dir = ""
}
