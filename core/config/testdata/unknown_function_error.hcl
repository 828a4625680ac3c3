server {
  data_dir = envv("HOME")
}
