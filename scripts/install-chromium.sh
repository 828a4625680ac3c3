#!/usr/bin/env bash
# install-chromium.sh makes sure a Chromium the browser tests can drive
# (chromedp) is available, and prints its path.
#
# It uses, in order: $CHROME_PATH, `chromium` and `chromium-browser` on PATH.
# When none exists and we are root on a system with apt-get, it installs
# Debian's `chromium` package; otherwise it fails and says what to do.
#
# On success the only output is the absolute path of the browser, so callers
# can write: CHROME_PATH="$(scripts/install-chromium.sh)".
set -euo pipefail

die() {
	echo "install-chromium: $*" >&2
	exit 1
}

find_chromium() {
	local c p
	if [[ -n ${CHROME_PATH:-} ]]; then
		if p=$(command -v -- "$CHROME_PATH" 2>/dev/null) && [[ -x $p ]]; then
			printf '%s\n' "$p"
			return 0
		fi
		echo "install-chromium: CHROME_PATH=$CHROME_PATH is not an executable; looking elsewhere" >&2
	fi
	for c in chromium chromium-browser; do
		if p=$(command -v -- "$c" 2>/dev/null); then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

if find_chromium; then
	exit 0
fi

if ((EUID != 0)); then
	die "chromium not found; install it (Debian: sudo apt-get install -y chromium) or set CHROME_PATH to a Chromium/Chrome binary"
fi
if ! command -v apt-get >/dev/null 2>&1; then
	die "chromium not found and apt-get is not available; install Chromium with your package manager or set CHROME_PATH"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$log" 2>&1; then
	cat "$log" >&2
	die "apt-get install chromium failed"
fi

find_chromium || die "apt-get installed chromium but no chromium binary is on PATH"
