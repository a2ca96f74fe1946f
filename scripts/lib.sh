#!/usr/bin/env bash
# scripts/lib.sh: what scripts/demo, scripts/test and scripts/bench share.
# Installs the Debian 12 packages a step needs, when they are missing, and builds.

set -euo pipefail

PF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages every build needs; callers add their own.
PF_BUILD_PKGS=(meson ninja-build pkg-config gcc libc6-dev python3 liburing-dev libnuma-dev
	libxxhash-dev libjansson-dev libyaml-dev libsodium-dev libmicrohttpd-dev
	libsystemd-dev)

pf_log() {
	printf '==> %s\n' "$*" >&2
}

# pf_need_pkgs PKG...: apt-get install whatever of PKG is not installed yet.
pf_need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		pf_log "missing Debian packages: ${missing[*]} (run as root, or install them)"
		return 1
	fi
	pf_log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
		apt-get update -q >&2
		apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	fi
}

# pf_build DIR [meson options...]: configure DIR once (or again if options changed), build.
pf_build() {
	local dir=$1
	shift
	if [ -f "$PF_ROOT/$dir/build.ninja" ]; then
		meson configure "$PF_ROOT/$dir" "$@" >/dev/null
	else
		meson setup "$PF_ROOT/$dir" "$PF_ROOT" "$@" >&2
	fi
	ninja -C "$PF_ROOT/$dir" >&2
}
