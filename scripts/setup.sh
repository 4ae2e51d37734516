#!/usr/bin/env bash
# Installs what svcplane needs on a fresh Debian machine, then builds it. Safe to re-run.
#   Debian packages: the kernel tools the cluster drives (ip, nft, iptables, conntrack), the
#   clients the tests and the demo use (curl, dig/nslookup, socat for UDP checks), openssl for the
#   cluster certificates, etcd for the etcd store; containerd and runc (one containerd per node),
#   mmdebstrap and busybox-static to build the built-in images, netcat for the outside client;
#   with --bench also the peers the benchmarks compare against.
#   npm dependencies (npm ci), the TypeScript build (dist/) and the bundle the components run
#   (dist/bundle: a process loads it in half the CPU time of dist/src's files).
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(nftables iptables iproute2 conntrack dnsutils curl iputils-ping procps util-linux openssl socat etcd-server etcd-client
      containerd runc umoci skopeo mmdebstrap busybox-static containernetworking-plugins netcat-openbsd)
if [[ "${1:-}" == "--bench" ]]; then PKGS+=(haproxy dnsmasq-base wrk iperf3 dnsperf); fi

missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# etcd-server's package starts a system etcd on 2379; svcplane runs its own members (on free
# ports from 20000), so it is only in the way: stopped through its service manager. Without
# systemd it is left running; no process is ever stopped by name (it could be anyone's etcd).
# The same for the system containerd the containerd package starts: each node runs its own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now etcd >/dev/null 2>&1 || true
  systemctl disable --now containerd >/dev/null 2>&1 || true
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building" >&2
npx tsc -p tsconfig.build.json
node scripts/bundle.mjs
# The built-in images (OCI layout in /var/lib/svcplane/images): the first build bootstraps Debian
# from the package archive (a few minutes); afterwards only layers whose inputs changed are redone.
echo "setup: building the built-in images" >&2
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
$SUDO bin/svcplane image build -q
