# shellcheck shell=bash
# Shell helpers for scripts that run nix-ingest-binary-cache (source it: `. scripts/binary-cache-lib.sh`).
#
#   bc_start LOG BIN ARGS…   # starts `BIN ARGS… --listen 127.0.0.1:0` in the background, its
#                            # standard output and error in LOG, and waits (up to 10 s) for the
#                            # port it prints; sets BC_PID and BC_PORT. Returns 1 if it did not
#                            # start (the log says why), its process then in BC_PID all the same.
#   bc_stop PID              # ends the service PID (SIGTERM) and waits for it; no error if it is
#                            # gone already
#
# Nothing here exits the calling script or installs traps: the caller keeps BC_PID to end the
# service in its own cleanup.

bc_start() {
  local log=$1
  shift
  # Made before the service starts: the loop below may read it before the service has written.
  : >"$log"
  "$@" --listen 127.0.0.1:0 >"$log" 2>&1 &
  BC_PID=$!
  BC_PORT=
  local _
  for _ in $(seq 100); do
    BC_PORT=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$log")
    [ -z "$BC_PORT" ] || return 0
    kill -0 "$BC_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

bc_stop() {
  [ -n "${1:-}" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
