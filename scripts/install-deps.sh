#!/usr/bin/env bash
# Installs every system package Berth's build, tests and benchmarks need on a fresh Debian
# machine (bookworm or newer). Idempotent; run as root. Package services are kept from
# starting on install: the tests start their own daemons on private sockets.
set -euo pipefail

PKGS=(
  build-essential pkg-config jq curl ca-certificates
  busybox-static            # fixture rootfs for every test
  runc crun containerd      # peers for side-by-side checks and OCI-generic shim tests
  docker.io                 # dockerd for benchmarks (the docker CLI is used as a client)
  docker-registry skopeo umoci   # a real registry on loopback, image fixtures
  apache2-utils openssl     # htpasswd (bcrypt) and certificates for registry auth/TLS tests
  nftables iptables iproute2 # NAT for networks; ip for checks in tests
  docker-compose            # compose 1.29 client tests
  python3-venv python3-pip  # docker-py client tests
  hyperfine                 # benchmarks
  time procps               # peak RSS in bench/runtime-lifecycle.sh; ps for `berth-runtime ps`
  zsh fish                  # the berth CLI's completion scripts are loaded by each shell in tests
)

missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  # policy-rc.d: do not start packaged services (dockerd, containerd, registry) on install.
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy = 1 ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ $had_policy = 1 ] || rm -f /usr/sbin/policy-rc.d
fi
