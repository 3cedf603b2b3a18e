#!/usr/bin/env bash
# A real S3-compatible server for tests, on the loopback: moto's server mode, installed from
# PyPI into a virtual environment under the build directory the first time.
#
#   scripts/s3-server.sh DIR     # starts it; writes DIR/port and DIR/pid, creates bucket "cache"
#
# The caller stops it with `kill "$(cat DIR/pid)"`. Credentials it accepts: any, e.g.
# AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
venv=${CARGO_TARGET_DIR:-target}/moto-venv
if [ ! -x "$venv/bin/moto_server" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian keeps venv's pip bootstrap in a package of its own.
    rm -rf "$venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q 'moto[server]'
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
echo $! >"$dir/pid"
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.2
done
curl -sf -X PUT "http://127.0.0.1:$port/cache" >/dev/null || {
  echo "s3-server.sh: moto did not start: $(tail -n 5 "$dir/moto.log")" >&2
  exit 1
}
echo "$port" >"$dir/port"
