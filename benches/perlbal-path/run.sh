#!/bin/bash
# The files one proxied GET's client task passes through, traced with gdb:
#   benches/perlbal-path/run.sh BIN [SERVER_SRC_DIR]
# BIN: a debug perlbal; SERVER_SRC_DIR: the crates/perlbal/src/server it
# was built from (default: this checkout's). Needs gdb, curl, python3;
# ports 18080 (perlbal) and 18081 (a python http.server backend).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BIN=$(realpath "$1")
SRC=${2:-$here/../../crates/perlbal/src/server}
W=$(mktemp -d)
mkdir -p "$W/www" && echo hello > "$W/www/x.txt"
cat > "$W/conf" <<CONF
CREATE POOL p
  POOL p ADD 127.0.0.1:18081
CREATE SERVICE web
  SET role = reverse_proxy
  SET listen = 127.0.0.1:18080
  SET pool = p
  SET persist_client = on
ENABLE web
CONF
(cd "$W/www" && exec python3 -m http.server 18081 --bind 127.0.0.1 >/dev/null 2>&1) &
BACKEND=$!
"$BIN" --config "$W/conf" >"$W/perlbal.log" 2>&1 &
PID=$!
sleep 1
curl -s -0 http://127.0.0.1:18080/x.txt >/dev/null # warm-up
(while [ ! -f "$W/ready" ]; do sleep 1; done; sleep 2
 curl -s -0 http://127.0.0.1:18080/x.txt >"$W/got"; sleep 1; kill -INT $PID) &
BIN=$BIN TRACE_OUT=$W/trace.json READY=$W/ready \
  timeout 600 gdb -p $PID -batch -x "$here/trace.py" >"$W/gdb.log" 2>&1 || true
kill $BACKEND 2>/dev/null || true
wait 2>/dev/null || true
grep -q hello "$W/got" || { echo "the GET failed: $W" >&2; exit 1; }
echo "call level:"; python3 "$here/path.py" "$W/trace.json" "$SRC"
echo "reader level:"; python3 "$here/path.py" "$W/trace.json" "$SRC" --reader
rm -rf "$W"
