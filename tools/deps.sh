#!/bin/bash
# Install the Debian packages the project needs, only those that are missing.
# Usage: tools/deps.sh [GROUP...]   groups: kernel vm selftests userspace
#                                    containers bench systemd
#                                    (default: all but bench)
set -euo pipefail

: "${KERNEL_PKG_VERSION:=6.12.117-1~deb12u1}"

pkgs_kernel="build-essential flex bison bc libelf-dev libssl-dev cpio
	xz-utils rsync kmod git ccache python3 perl
	python3-ply python3-git linux-source-6.12=$KERNEL_PKG_VERSION"
pkgs_vm="qemu-system-x86 util-linux procps e2fsprogs coreutils"
pkgs_selftests="libnuma-dev libcap-dev liburing-dev stress-ng"
pkgs_userspace="build-essential pkg-config libcgroup-dev python3 libjson-c-dev
	cgroup-tools jq"
# Container runtimes for the user-space VM tests (selftests/suites/userspace.suite).
pkgs_containers="crun runc podman"
# make bench: the workloads run in the VM from the host's root, the plots.
pkgs_bench="build-essential python3 redis-server redis-tools afl++ clang
	gnuplot-nox"
# make systemd (systemd-units/build-systemd): what Debian's systemd 252 needs
# to build PID 1, systemctl, systemd-run and their unit tests (a subset of
# its Build-Depends: no documentation, EFI, crypto or network extras), and
# dpkg-dev for apt-get source.  The group also sets up deb-src (below).
pkgs_systemd="build-essential dpkg-dev meson ninja-build gperf pkg-config
	python3-jinja2 gawk ccache libmount-dev libcap-dev libacl1-dev
	libpam0g-dev libseccomp-dev libapparmor-dev libkmod-dev libaudit-dev
	libselinux1-dev libblkid-dev libzstd-dev liblz4-dev liblzma-dev"

groups=${*:-kernel vm selftests userspace containers}

# The systemd group fetches Debian's systemd source: deb-src entries for
# bookworm, its updates and security archives, when apt has none.
deb_src=/etc/apt/sources.list.d/cowpte-deb-src.sources
case " $groups " in
*" systemd "*)
	if ! apt-cache showsrc systemd 2>/dev/null | grep '^Package: systemd$' >/dev/null; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "deps.sh: apt has no deb-src entries: run 'sudo tools/deps.sh systemd'" >&2
			exit 1
		fi
		echo "deps.sh: adding $deb_src"
		cat > "$deb_src" <<-EOF
		Types: deb-src
		URIs: http://deb.debian.org/debian
		Suites: bookworm bookworm-updates
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

		Types: deb-src
		URIs: http://deb.debian.org/debian-security
		Suites: bookworm-security
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
		EOF
		apt-get update -qq
	fi
	;;
esac
want=()
for g in $groups; do
	v="pkgs_$g"
	[ -n "${!v+x}" ] || { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
	for p in ${!v}; do want+=("$p"); done
done

missing=()
for p in "${want[@]}"; do
	name=${p%%=*}
	ver=
	[ "$name" = "$p" ] || ver=${p#*=}
	have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
	case "$have" in
	"install ok installed $ver"*) ;;
	*) missing+=("$p") ;;
	esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run 'sudo tools/deps.sh' or install them yourself" >&2
	exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
	case " ${missing[*]} " in
	*" linux-source-6.12="*)
		echo "deps.sh: could not install linux-source-6.12=$KERNEL_PKG_VERSION." >&2
		echo "deps.sh: if Debian no longer carries that version, list the" >&2
		echo "deps.sh: available ones with 'apt-cache policy linux-source-6.12'," >&2
		echo "deps.sh: rerun with KERNEL_PKG_VERSION=<version> and check that" >&2
		echo "deps.sh: kernel/patches still apply ('make kernel-tree')." >&2
		;;
	esac
	exit 1
fi
