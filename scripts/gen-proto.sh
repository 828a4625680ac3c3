#!/usr/bin/env bash
# gen-proto.sh regenerates the SDK's protobuf and gRPC code from
# sdk/*/proto/*.proto (`make proto`). The generated *.pb.go files are
# committed; sdk/proto_test.go regenerates them into a temporary directory and
# fails when they differ from the committed ones.
#
# Usage: scripts/gen-proto.sh [OUT_DIR]
#
# OUT_DIR defaults to the repository root, i.e. the files are rewritten in
# place next to their .proto files (paths=source_relative).
#
# The tools are the ones scripts/install-protoc.sh installs, at its pinned
# versions: protoc from PATH (its version must equal the pin, because it is
# written into every generated file), protoc-gen-go and protoc-gen-go-grpc from
# the project-local .tools/bin. Run scripts/install-protoc.sh first.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root}
bindir="$root/.tools/bin"

die() {
	echo "gen-proto: $*" >&2
	exit 1
}

eval "$("$root/scripts/install-protoc.sh" --print-pins)"

command -v protoc >/dev/null 2>&1 || die "protoc is not installed: run scripts/install-protoc.sh"
have=$(protoc --version | awk '{ print $2 }')
[[ $have == "$PROTOC_VERSION" ]] ||
	die "protoc ${have} found, ${PROTOC_VERSION} is pinned (its version is written into the generated code): run scripts/install-protoc.sh"

for tool in protoc-gen-go protoc-gen-go-grpc; do
	[[ -x $bindir/$tool ]] || die "$bindir/$tool is missing: run scripts/install-protoc.sh"
done
check_tool() {
	local got
	got=$(go version -m "$bindir/$1" | awk '$1 == "mod" { print $3; exit }')
	[[ $got == "$2" ]] || die "$bindir/$1 is ${got:-unknown}, ${2} is pinned: run scripts/install-protoc.sh"
}
check_tool protoc-gen-go "$PROTOC_GEN_GO_VERSION"
check_tool protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$root"
shopt -s nullglob
protos=(sdk/*/proto/*.proto)
((${#protos[@]} > 0)) || die "no sdk/*/proto/*.proto files"

protoc \
	--proto_path=. \
	--plugin=protoc-gen-go="$bindir/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bindir/protoc-gen-go-grpc" \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	"${protos[@]}"
