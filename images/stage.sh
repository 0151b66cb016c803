#!/usr/bin/env bash
# Stages the root filesystems of the quick-start images from the host's Debian packages:
#   OUT/busybox/  busybox-static with every applet as a symlink
#   OUT/nginx/    Debian's nginx binary, its shared libraries (found with ldd), a config
#                 serving images/index.html on port 80, and the users and dirs it needs
# Needs root (ownership) and the packages busybox-static and nginx(-light) installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: stage.sh OUTDIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

common_base() {
    local r="$1"
    rm -rf "$r"
    mkdir -p "$r"/{etc,root,tmp,proc,sys,dev,run,var/tmp,usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,home}
    # Debian's merged /usr.
    ln -s usr/bin "$r/bin"
    ln -s usr/sbin "$r/sbin"
    ln -s usr/lib "$r/lib"
    ln -s usr/lib64 "$r/lib64"
    chmod 1777 "$r/tmp" "$r/var/tmp"
    chmod 700 "$r/root"
    cat >"$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
P
    cat >"$r/etc/group" <<'G'
root:x:0:
daemon:x:1:
www-data:x:33:
nogroup:x:65534:
G
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
}

# --- busybox ---
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is not installed" >&2; exit 1; }
r="$out/busybox"
common_base "$r"
install -m 0755 "$bb" "$r/usr/bin/busybox"
"$bb" --list-full | while read -r applet; do
    # Paths are like bin/ls, sbin/ifconfig, usr/bin/awk; with merged /usr they all live in usr/.
    name="${applet##*/}"
    case "$applet" in
        sbin/*|usr/sbin/*) dir=usr/sbin ;;
        *) dir=usr/bin ;;
    esac
    [ "$name" = busybox ] && continue
    [ -e "$r/$dir/$name" ] || ln -s /usr/bin/busybox "$r/$dir/$name"
done

# --- nginx ---
ngx=/usr/sbin/nginx
[ -x "$ngx" ] || { echo "nginx is not installed" >&2; exit 1; }
r="$out/nginx"
common_base "$r"
install -m 0755 "$ngx" "$r/usr/sbin/nginx"
# Shared libraries and the loader, at their /usr paths (lib -> usr/lib covers /lib paths).
ldd "$ngx" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
    dest="$lib"
    case "$dest" in /lib/*|/lib64/*) dest="/usr$dest" ;; esac
    mkdir -p "$r$(dirname "$dest")"
    cp -L "$lib" "$r$dest"
done
mkdir -p "$r/etc/nginx" "$r/usr/share/nginx/html" "$r/var/log/nginx" "$r/var/www" \
    "$r"/var/lib/nginx/{body,proxy,fastcgi,uwsgi,scgi}
install -m 0644 "$here/nginx.conf" "$r/etc/nginx/nginx.conf"
install -m 0644 /etc/nginx/mime.types "$r/etc/nginx/mime.types"
install -m 0644 "$here/index.html" "$r/usr/share/nginx/html/index.html"
# Logs go to the container's stdout/stderr, as in the official image.
ln -s /dev/stdout "$r/var/log/nginx/access.log"
ln -s /dev/stderr "$r/var/log/nginx/error.log"
chown -R 33:33 "$r/var/lib/nginx"
echo "staged $out/busybox $out/nginx"
