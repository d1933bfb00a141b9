#!/usr/bin/env bash
# Installs every danga binary, the systemd units and the example configs.
#
# usage: contrib/install.sh [--prefix DIR] [--destdir DIR] [--from DIR] [--no-build]
#   --prefix DIR   where things go (default /usr/local): DIR/bin (daemons and
#                  tools), DIR/lib/nagios/plugins (check_*),
#                  DIR/lib/systemd/system (units, ExecStart pointing at DIR/bin),
#                  DIR/etc/{perlbal,mogilefs} for prefix != /usr, else /etc
#                  (an existing config is never overwritten)
#   --destdir DIR  stage under DIR (packaging): files land in DIR/PREFIX/...
#   --from DIR     take the binaries from DIR (default target/release)
#   --no-build     do not run `cargo build --release` first
# Run from anywhere; needs cargo unless --no-build. Prints each file it installs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=/usr/local
destdir=""
from=""
build=1
while (($#)); do
    case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --destdir) destdir=${2:?--destdir needs a directory}; shift 2 ;;
    --destdir=*) destdir=${1#*=}; shift ;;
    --from) from=${2:?--from needs a directory}; shift 2 ;;
    --from=*) from=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (try --help)" >&2; exit 64 ;;
    esac
done
case $prefix in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 64 ;; esac
from=${from:-$root/target/release}

daemons=(memcached gearmand perlbal mogilefsd mogstored)
tools=(danga mogadm memcctl gearctl mogupload mogfetch mogdelete mogrename moglistkeys mogfileinfo moglistfids mogfiledebug mogstats)
checks=(check_memcached check_gearman check_perlbal check_mogilefs)

if ((build)); then
    (cd "$root" && cargo build --release --workspace --exclude danga-fuzz --bins)
fi
for b in "${daemons[@]}" "${tools[@]}" "${checks[@]}"; do
    [[ -x $from/$b ]] || { echo "install.sh: $from/$b is missing (build first, or --from)" >&2; exit 1; }
done

if [[ $prefix == /usr ]]; then etc=/etc; else etc=$prefix/etc; fi
bin=$prefix/bin
plugins=$prefix/lib/nagios/plugins
units=$prefix/lib/systemd/system

put() { # put MODE SRC DEST
    install -D -m "$1" "$2" "$destdir$3"
    echo "$3"
}

for b in "${daemons[@]}" "${tools[@]}"; do put 755 "$from/$b" "$bin/$b"; done
for b in "${checks[@]}"; do put 755 "$from/$b" "$plugins/$b"; done
for u in "$root"/contrib/systemd/*.service; do
    name=$(basename "$u")
    tmp=$(mktemp)
    sed -e "s#/usr/local/bin/#$bin/#g" -e "s#/etc/perlbal/#$etc/perlbal/#g" \
        -e "s#/etc/mogilefs/#$etc/mogilefs/#g" "$u" >"$tmp"
    put 644 "$tmp" "$units/$name"
    rm -f "$tmp"
done
for c in perlbal:perlbal.conf mogilefs:mogilefsd.conf mogilefs:mogstored.conf; do
    dir=${c%%:*} file=${c#*:}
    if [[ -e $destdir$etc/$dir/$file ]]; then
        echo "$etc/$dir/$file (kept: already there)"
    else
        put 644 "$root/contrib/conf/$file" "$etc/$dir/$file"
    fi
done
