#!/usr/bin/env bash
# One command from a fresh Debian machine (as root) to a running Berth: installs the
# packages, builds the release binaries, installs them in /usr/local/bin with their shell
# completion and manual pages, starts berthd (which starts shimd), loads a busybox image
# built offline and runs a container. One line per phase; the full output of every phase
# goes to the log it names.
set -euo pipefail
cd "$(dirname "$0")/.."

log=${BERTH_SETUP_LOG:-/var/log/berth-setup.log}
mkdir -p "$(dirname "$log")"
: > "$log"
echo "Setting up Berth (full log: $log)"
tty_progress=0
[ -t 1 ] && tty_progress=1

# phase DESCRIPTION COMMAND...: runs the command with its output in the log and prints one
# line: the description, then "done" with the time taken, or the log's tail on failure.
phase() {
  local what=$1 start=$SECONDS
  shift
  printf '  %-44s' "$what"
  echo "== $what" >> "$log"
  if "$@" >> "$log" 2>&1; then
    echo "done ($((SECONDS - start)) s)"
  else
    echo "FAILED"
    echo "--- last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}

# The build is the long phase: on a terminal, its line counts the crates compiled so far.
build() {
  local count=0 line
  cargo build --release --workspace --bins --message-format=json-render-diagnostics 2>&1 |
    while IFS= read -r line; do
      case $line in
        '{"reason":"compiler-artifact"'*)
          count=$((count + 1))
          if [ "$tty_progress" = 1 ]; then
            printf '\r  %-44s[%d crates] ' "building the release binaries" "$count" 2> /dev/null > /dev/tty || true
          fi ;;
        '{'*) ;;
        *) printf '%s\n' "$line" ;;
      esac
    done
  return "${PIPESTATUS[0]}"
}

install_binaries() {
  local b
  for b in berth-runtime berth-shim shimd berthctl berthd berth; do
    install -m 0755 "target/release/$b" /usr/local/bin/
  done
  # completion scripts where each shell looks for them, and the manual pages
  mkdir -p /usr/share/bash-completion/completions /usr/local/share/zsh/site-functions \
    /usr/share/fish/vendor_completions.d
  berth completion bash > /usr/share/bash-completion/completions/berth
  berth completion zsh > /usr/local/share/zsh/site-functions/_berth
  berth completion fish > /usr/share/fish/vendor_completions.d/berth.fish
  berth man-pages /usr/local/share/man/man1
  if command -v mandb > /dev/null; then mandb -q || true; fi
}

sock=/run/berth/berth.sock
start_berthd() {
  if berth version > /dev/null 2>&1; then
    echo "berthd is already running"
    return 0
  fi
  mkdir -p /var/log
  setsid berthd >> /var/log/berthd.log 2>&1 < /dev/null &
  for _ in $(seq 100); do
    [ -S "$sock" ] && berth version > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "berthd did not start; see /var/log/berthd.log"
  return 1
}

load_busybox() {
  if berth image inspect busybox:latest > /dev/null 2>&1; then
    echo "busybox:latest is already there"
    return 0
  fi
  local img=/var/lib/berth/fixtures
  scripts/busybox-image.sh "$img"
  berth load -i "$img/busybox-docker.tar"
}

phase "installing packages" scripts/install-deps.sh
phase "building the release binaries" build
phase "installing binaries, completion, man pages" install_binaries
phase "starting berthd (log: /var/log/berthd.log)" start_berthd
phase "loading a busybox image (offline)" load_busybox
printf '  %-44s' "running a container"
out=$(berth run --rm busybox echo "Hello from a Berth container" 2>> "$log") || {
  echo "FAILED (see $log)"
  exit 1
}
echo "$out"

cat <<'EOF'

Berth is running. Next steps:
  berth run --rm -it busybox sh                        a shell in a container
  berth run -d --name web -p 8080:80 busybox httpd -f -p 80
  DOCKER_HOST=unix:///run/berth/berth.sock docker ps   the docker CLI works too
  berth --help, man berth, man berth-run               every command and flag
  scripts/test.sh                                      the whole test suite
Shell completion is installed for bash, zsh and fish (open a new shell).
EOF
