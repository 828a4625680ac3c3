#!/usr/bin/env bash
# release.sh builds the release archives into dist/. `make release` runs it.
#
# For each target (linux/amd64, linux/arm64, windows/amd64) it builds:
#   - restic-manager-agent with CGO_ENABLED=0, which always works;
#   - restic-manager with CGO_ENABLED=1 (mattn/go-sqlite3), natively when the
#     target is the host platform, otherwise only when the matching C cross
#     compiler is on PATH. Without one the server is skipped for that target
#     with a line saying which apt package provides it.
# and packs the binaries with LICENSE, README.md and config.hcl.example into
#   dist/restic-manager_<version>_<os>_<arch>.tar.gz   (.zip for windows)
# then writes dist/SHA256SUMS.
#
# Environment:
#   VERSION              release version (default: git describe --tags --always --dirty)
#   TARGETS              space-separated os/arch list (default: all three above)
#   REQUIRE_ALL_TARGETS  when 1, a skipped server build is an error, not a warning
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly MODULE="github.com/restic-manager/restic-manager"
readonly SERVER_PKG="./core/cmd/restic-manager"
readonly AGENT_PKG="./agent/cmd/restic-manager-agent"
readonly DIST="dist"
readonly EXTRA_FILES=(LICENSE README.md config.hcl.example)

log() { echo "release: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH"

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || true)}
VERSION=${VERSION:-dev}
[[ $VERSION =~ ^[A-Za-z0-9._+-]+$ ]] || die "VERSION=$VERSION may only contain letters, digits and . _ + -"

TARGETS=${TARGETS:-"linux/amd64 linux/arm64 windows/amd64"}
LDFLAGS="-s -w -X ${MODULE}/internal/version.Version=${VERSION}"
HOST="$(go env GOHOSTOS)/$(go env GOHOSTARCH)"

# Archive timestamps come from the last commit so that rebuilding the same
# commit gives the same tarballs.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# cross_cc TARGET prints the C cross compiler for TARGET.
cross_cc() {
	case $1 in
	linux/amd64) echo x86_64-linux-gnu-gcc ;;
	linux/arm64) echo aarch64-linux-gnu-gcc ;;
	windows/amd64) echo x86_64-w64-mingw32-gcc ;;
	*) return 1 ;;
	esac
}

# cross_pkg TARGET prints the Debian package that provides cross_cc TARGET.
cross_pkg() {
	case $1 in
	linux/amd64) echo gcc-x86-64-linux-gnu ;;
	linux/arm64) echo gcc-aarch64-linux-gnu ;;
	windows/amd64) echo gcc-mingw-w64-x86-64 ;;
	*) return 1 ;;
	esac
}

# build OS ARCH CGO CC OUT PKG
build() {
	local goos=$1 goarch=$2 cgo=$3 cc=$4 out=$5 pkg=$6
	local -a env=(GOOS="$goos" GOARCH="$goarch" CGO_ENABLED="$cgo")
	if [[ -n $cc ]]; then
		env+=(CC="$cc")
	fi
	env "${env[@]}" go build -trimpath -ldflags "$LDFLAGS" -o "$out" "$pkg"
}

# pack_tar NAME writes $DIST/NAME.tar.gz from $DIST/.stage/NAME and sets
# packed to the archive's file name.
pack_tar() {
	local name=$1
	local -a flags=()
	if tar --version 2>/dev/null | grep -q 'GNU tar'; then
		flags=(--sort=name --owner=0 --group=0 --numeric-owner "--mtime=@${SOURCE_DATE_EPOCH}")
	fi
	tar -C "$DIST/.stage" "${flags[@]}" -cf - "$name" | gzip -n -9 >"$DIST/$name.tar.gz"
	packed="$name.tar.gz"
}

# pack_zip NAME writes $DIST/NAME.zip (or NAME.tar.gz when there is no zip
# tool) and sets packed to the archive's file name.
pack_zip() {
	local name=$1
	rm -f "$DIST/$name.zip"
	if command -v zip >/dev/null 2>&1; then
		(cd "$DIST/.stage" && zip -q -r -X "../$name.zip" "$name")
	elif command -v python3 >/dev/null 2>&1; then
		(cd "$DIST/.stage" && python3 -m zipfile -c "../$name.zip" "$name")
	else
		log "note: neither zip nor python3 found; packing $name as .tar.gz instead of .zip"
		pack_tar "$name"
		return
	fi
	packed="$name.zip"
}

for f in "${EXTRA_FILES[@]}"; do
	[[ -f $f ]] || log "warning: $f is missing and will not be in the archives"
done
[[ -f LICENSE ]] || die "LICENSE is missing; the license requires it in every copy"

mkdir -p "$DIST"
rm -rf "$DIST/.stage"
rm -f "$DIST/SHA256SUMS" "$DIST"/restic-manager_"${VERSION}"_*

log "version $VERSION, host $HOST, targets: $TARGETS"

archives=()
skipped=()
for target in $TARGETS; do
	goos=${target%/*}
	goarch=${target#*/}
	[[ -n $goos && -n $goarch && $target == */* ]] || die "bad target '$target', want os/arch"
	exe=""
	if [[ $goos == windows ]]; then
		exe=".exe"
	fi

	name="restic-manager_${VERSION}_${goos}_${goarch}"
	stage="$DIST/.stage/$name"
	mkdir -p "$stage"

	log "building restic-manager-agent for $target"
	build "$goos" "$goarch" 0 "" "$stage/restic-manager-agent$exe" "$AGENT_PKG"

	# The server needs cgo: native for the host platform, otherwise a cross
	# compiler for the target.
	server=1
	cc=""
	if [[ $target != "$HOST" ]]; then
		cc=$(cross_cc "$target") || cc=""
		if [[ -z $cc ]] || ! command -v "$cc" >/dev/null 2>&1; then
			pkg=$(cross_pkg "$target") || pkg="a C cross compiler for $target"
			echo "skipping restic-manager for $target: needs a cgo cross compiler (apt-get install $pkg)"
			skipped+=("$target")
			server=0
		fi
	fi
	if ((server)); then
		log "building restic-manager for $target${cc:+ with CC=$cc}"
		build "$goos" "$goarch" 1 "$cc" "$stage/restic-manager$exe" "$SERVER_PKG"
	fi

	for f in "${EXTRA_FILES[@]}"; do
		if [[ -f $f ]]; then
			cp "$f" "$stage/"
		fi
	done

	# Same timestamps on every rebuild of a commit (GNU touch; best effort).
	find "$stage" -exec touch -h -d "@${SOURCE_DATE_EPOCH}" {} + 2>/dev/null || true

	packed=""
	if [[ $goos == windows ]]; then
		pack_zip "$name"
	else
		pack_tar "$name"
	fi
	archives+=("$packed")
done

rm -rf "$DIST/.stage"

if command -v sha256sum >/dev/null 2>&1; then
	(cd "$DIST" && sha256sum "${archives[@]}" >SHA256SUMS)
else
	(cd "$DIST" && shasum -a 256 "${archives[@]}" >SHA256SUMS)
fi

for a in "${archives[@]}"; do
	echo "$DIST/$a"
done
echo "$DIST/SHA256SUMS"

if ((${#skipped[@]} > 0)); then
	log "the server was not built for: ${skipped[*]}"
	if [[ ${REQUIRE_ALL_TARGETS:-0} == 1 ]]; then
		die "REQUIRE_ALL_TARGETS=1 and some server builds were skipped"
	fi
fi
