#!/usr/bin/env bash
# install-protoc.sh makes sure the protobuf tool chain that scripts/gen-proto.sh
# uses is installed, at the pinned versions, so that regenerating the SDK's
# code gives byte-identical output on every machine:
#
#   protoc              PROTOC_VERSION, Debian bookworm's protobuf-compiler
#                       (installed with apt-get when missing and run as root)
#   protoc-gen-go       PROTOC_GEN_GO_VERSION, into .tools/bin
#   protoc-gen-go-grpc  PROTOC_GEN_GO_GRPC_VERSION, into .tools/bin
#
# The Go plugins go into the project-local .tools/bin (git-ignored), never into
# the user's GOBIN, so a different version installed elsewhere cannot leak into
# the generated code. Safe to run repeatedly: it only installs what is missing
# or at the wrong version. Progress goes to stderr; stdout stays empty.
set -euo pipefail

# The pins. scripts/gen-proto.sh reads them through `--print-pins`, so they
# live here only. Bumping one changes the generated code: run `make proto`.
readonly PROTOC_VERSION="3.21.12"
readonly PROTOC_GEN_GO_VERSION="v1.36.12"
readonly PROTOC_GEN_GO_GRPC_VERSION="v1.6.2"

if [[ ${1:-} == --print-pins ]]; then
	printf 'PROTOC_VERSION=%s\nPROTOC_GEN_GO_VERSION=%s\nPROTOC_GEN_GO_GRPC_VERSION=%s\n' \
		"$PROTOC_VERSION" "$PROTOC_GEN_GO_VERSION" "$PROTOC_GEN_GO_GRPC_VERSION"
	exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bindir="$root/.tools/bin"

log() { echo "install-protoc: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# protoc_version prints the version of the protoc on PATH ("3.21.12"), or
# nothing when there is none.
protoc_version() {
	command -v protoc >/dev/null 2>&1 || return 0
	protoc --version 2>/dev/null | awk '{ print $2 }'
}

have=$(protoc_version)
if [[ -z $have ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		die "protoc is not installed; run as root or install Debian's protobuf-compiler (${PROTOC_VERSION}) yourself"
	fi
	command -v apt-get >/dev/null 2>&1 || die "protoc is not installed and there is no apt-get; install protoc ${PROTOC_VERSION} yourself"
	log "installing protobuf-compiler with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	# Another apt-get (a parallel install script) may hold the lock: wait for it.
	apt=(apt-get -o DPkg::Lock::Timeout=600)
	if ! "${apt[@]}" install -y --no-install-recommends protobuf-compiler >&2; then
		"${apt[@]}" update >&2
		"${apt[@]}" install -y --no-install-recommends protobuf-compiler >&2
	fi
	have=$(protoc_version)
fi
if [[ $have != "$PROTOC_VERSION" ]]; then
	log "warning: protoc ${have} is installed, the pin is ${PROTOC_VERSION}; gen-proto.sh will refuse it"
fi

command -v go >/dev/null 2>&1 || die "'go' is not on PATH"
mkdir -p "$bindir"

# go_tool_version prints the module version a Go binary was built from.
go_tool_version() {
	[[ -x $1 ]] || return 0
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

install_tool() {
	local name=$1 pkg=$2 version=$3
	if [[ $(go_tool_version "$bindir/$name") == "$version" ]]; then
		return 0
	fi
	log "installing ${pkg}@${version} into .tools/bin"
	GOBIN="$bindir" GOFLAGS='' go install "${pkg}@${version}" >&2
}

install_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
