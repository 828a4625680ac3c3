#!/usr/bin/env bash
# check-web.sh fails when the committed UI assets in web/static are stale:
# it rebuilds them from web/src, web/templates and the pins in
# web/package.json in a temporary copy (as `make web` does) and compares.
# It needs Node >= 18 and npm; when they are missing it installs Debian's
# nodejs and npm (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 18 ]
}

if ! node_ok; then
  echo "check-web: installing nodejs and npm with apt" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >&2
  node_ok || { echo "check-web: need Node >= 18 and npm to rebuild web/static" >&2; exit 1; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r web/package.json web/package-lock.json web/src web/templates "$tmp/"
mkdir "$tmp/static"
(cd "$tmp" && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent build >&2)

stale=0
for f in app.css htmx.min.js htmx.LICENSE; do
  if ! cmp -s "$tmp/static/$f" "web/static/$f"; then
    echo "check-web: web/static/$f is stale: run \`make web\` and commit web/static" >&2
    stale=1
  fi
done
[ "$stale" -eq 0 ] && echo "check-web: web/static is up to date" >&2
exit "$stale"
