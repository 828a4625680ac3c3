# file() reads relative to this file's directory; try() falls back when
# env() fails because the variable is not set.
server {
  listen     = try(env("RM_CONFIG_TEST_NEVER_SET"), "127.0.0.1:9090")
  public_url = file("functions_public_url.txt")
}
