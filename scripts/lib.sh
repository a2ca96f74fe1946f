#!/usr/bin/env bash
# scripts/lib.sh: what scripts/demo, scripts/test and scripts/bench share.
# Installs the Debian 12 packages a step needs, when they are missing, and builds.

set -euo pipefail

PF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages every build needs; callers add their own.
PF_BUILD_PKGS=(meson ninja-build pkg-config gcc libc6-dev python3 liburing-dev libnuma-dev
	libxxhash-dev libjansson-dev libyaml-dev libsodium-dev libmicrohttpd-dev
	libsystemd-dev libcurl4-openssl-dev)

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

# pf_need_pkgs_nostart PKG...: pf_need_pkgs for packages that ship a service (etcd-server):
# installed without starting it (a policy-rc.d that refuses, for the install only), since
# the tests start their own, on ports of their own, and leave nothing running.
pf_need_pkgs_nostart() {
	local policy=/usr/sbin/policy-rc.d had=false rc=0
	[ -e "$policy" ] && had=true
	if ! $had && [ "$(id -u)" -eq 0 ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
	fi
	pf_need_pkgs "$@" || rc=$?
	$had || rm -f "$policy"
	return $rc
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
