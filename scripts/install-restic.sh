#!/usr/bin/env bash
# install-restic.sh makes sure a restic binary recent enough for the tests
# (>= 0.14, the version Debian ships) is available, and prints its path.
#
# It uses, in order: $RESTIC or $RESTIC_BINARY (a path or a command name),
# `restic` on PATH, and a restic previously installed into GOBIN by this
# script. Only when none of them is usable does it run
#   go install github.com/restic/restic/cmd/restic@v0.18.1
# which takes about a minute on a cold module cache.
#
# On success the only output is the absolute path of the binary, so callers
# can write: RESTIC="$(scripts/install-restic.sh)".
set -euo pipefail

readonly RESTIC_MODULE="github.com/restic/restic/cmd/restic"
readonly RESTIC_PIN="v0.18.1"
readonly MIN_MAJOR=0
readonly MIN_MINOR=14

die() {
	echo "install-restic: $*" >&2
	exit 1
}

# version_ok BIN succeeds when BIN runs and reports restic >= MIN_MAJOR.MIN_MINOR.
version_ok() {
	local bin=$1 out ver major minor
	out=$("$bin" version 2>/dev/null) || return 1
	# "restic 0.18.1 compiled with go1.25.1 on linux/amd64"
	ver=$(printf '%s\n' "$out" | awk '$1 == "restic" { print $2; exit }')
	[[ $ver =~ ^v?([0-9]+)\.([0-9]+) ]] || return 1
	major=${BASH_REMATCH[1]}
	minor=${BASH_REMATCH[2]}
	((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

# abs_path prints the absolute path of a command name or file path.
abs_path() {
	local p
	p=$(command -v -- "$1" 2>/dev/null) || return 1
	case $p in
	/*) ;;
	*) p="$PWD/$p" ;;
	esac
	printf '%s\n' "$p"
}

gobin() {
	local dir
	dir=$(go env GOBIN)
	if [[ -z $dir ]]; then
		dir="$(go env GOPATH | cut -d: -f1)/bin"
	fi
	printf '%s\n' "$dir"
}

candidates=()
for v in "${RESTIC:-}" "${RESTIC_BINARY:-}"; do
	if [[ -n $v ]]; then
		candidates+=("$v")
	fi
done
candidates+=(restic)

for c in "${candidates[@]}"; do
	if p=$(abs_path "$c") && version_ok "$p"; then
		printf '%s\n' "$p"
		exit 0
	fi
done

command -v go >/dev/null 2>&1 || die "no usable restic (>= ${MIN_MAJOR}.${MIN_MINOR}) found and 'go' is not on PATH to install one"

bindir=$(gobin)
exe=restic
if [[ $(go env GOOS) == windows ]]; then
	exe=restic.exe
fi
target="$bindir/$exe"

# A restic installed by an earlier run, with GOBIN not on PATH.
if [[ -x $target ]] && version_ok "$target"; then
	printf '%s\n' "$target"
	exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! GOBIN="$bindir" go install "${RESTIC_MODULE}@${RESTIC_PIN}" >"$log" 2>&1; then
	cat "$log" >&2
	die "go install ${RESTIC_MODULE}@${RESTIC_PIN} failed"
fi

version_ok "$target" || die "installed $target but it does not report restic >= ${MIN_MAJOR}.${MIN_MINOR}"
printf '%s\n' "$target"
