#!/bin/bash
# Checks the parser corpus (tests/corpus/NAME.Dockerfile + NAME.expect) against a real
# dockerd's classic builder, to keep the expectations honest.
# Usage: DOCKER_HOST=unix:///path/to/dockerd.sock tests/check-dockerd.sh [NAME...]
# The daemon needs an image tagged busybox:latest (scripts/busybox-image.sh makes one).
# Expectations: "steps" (the build succeeds and prints these Step texts), "error" (the
# daemon refuses the Dockerfile with this message), "dispatch-error" (steps run, then the
# build stops with this message).
set -u -o pipefail
corpus="$(cd "$(dirname "$0")" && pwd)/corpus"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$corpus"/*.Dockerfile; do names+=("$(basename "$f" .Dockerfile)"); done
fi
fail=0
pass=0
for name in "${names[@]}"; do
  ctx=$(mktemp -d)
  cp "$corpus/$name.Dockerfile" "$ctx/Dockerfile"
  out=$(DOCKER_BUILDKIT=0 docker build --network none --no-cache "$ctx" 2>&1 | sed 's/\x1b\[[0-9;]*m//g')
  rc=$?
  rm -rf "$ctx"
  kind=$(head -n1 "$corpus/$name.expect")
  ok=1
  case "$kind" in
    steps)
      total=$(($(wc -l < "$corpus/$name.expect") - 1))
      want=$(tail -n +2 "$corpus/$name.expect" | awk -v t="$total" '{ printf "Step %d/%d : %s\n", NR, t, $0 }')
      got=$(printf '%s\n' "$out" | grep '^Step ')
      [ "$rc" -eq 0 ] && [ "$want" = "$got" ] || ok=0 ;;
    error)
      want="Error response from daemon: $(tail -n +2 "$corpus/$name.expect")"
      printf '%s\n' "$out" | grep -qxF -- "$want" || ok=0 ;;
    dispatch-error)
      want=$(tail -n +2 "$corpus/$name.expect")
      got=$(printf '%s\n' "$out" | grep -v '^$' | tail -n1)
      [ "$rc" -ne 0 ] && [ "$want" = "$got" ] || ok=0 ;;
    *) ok=0 ;;
  esac
  if [ $ok -eq 1 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "MISMATCH $name (rc=$rc)"
    printf '%s\n' "$out" | grep -v -e '^ --->' -e '^Removing' -e DEPRECATED -e BuildKit -e buildx -e '^ *$' | cut -c1-300 | sed 's/^/    /'
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
