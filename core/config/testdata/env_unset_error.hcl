server {
  # Nobody sets this variable; the test checks that.
  public_url = env("RM_CONFIG_TEST_NEVER_SET")
}
