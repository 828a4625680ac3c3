#!/usr/bin/env bash
# install-test-tools.sh makes sure the command-line tools the tests run for
# real, and that neither Go modules nor the other install scripts bring, are
# on PATH:
#
#   sqlite3   the hook examples of docs/hooks.md dump a live SQLite database
#             (core/cmd/restic-manager/e2e_hook_examples_test.go,
#             agent/hooks/examples_test.go); Debian's `sqlite3` package.
#
# A missing tool is installed with apt-get when we are root on a system that
# has it; otherwise the script fails and says what to install. Safe to run
# repeatedly: it installs only what is missing. Progress goes to stderr;
# stdout stays empty.
set -euo pipefail

# command -> Debian package
declare -A tools=([sqlite3]=sqlite3)

log() { echo "install-test-tools: $*" >&2; }
die() {
	log "$*"
	exit 1
}

missing=()
for cmd in "${!tools[@]}"; do
	command -v -- "$cmd" >/dev/null 2>&1 || missing+=("${tools[$cmd]}")
done
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
	die "missing ${missing[*]}; install it (Debian: sudo apt-get install -y ${missing[*]})"
fi
log "installing ${missing[*]} with apt-get"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$out" 2>&1; then
	cat "$out" >&2
	die "apt-get install ${missing[*]} failed"
fi
for cmd in "${!tools[@]}"; do
	command -v -- "$cmd" >/dev/null 2>&1 || die "apt-get installed ${tools[$cmd]} but $cmd is not on PATH"
done
