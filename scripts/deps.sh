#!/usr/bin/env bash
# Installs what Whirl's tests need on a fresh Debian machine, where missing:
# bubblewrap (the action sandbox), slirp4netns and nftables (the isolated
# action network), redis-server and python3-redis (the read-py example),
# the java, php and ruby runtimes (a JDK, Gson, php-cli, ruby),
# and the runtime libraries OpenWhisk's images bundle (docs/runtimes.md):
# Debian's python3-* packages for python actions, and the openwhisk client
# for Node.js actions, installed with npm ci from the lockfile in
# internal/runtimes/nodejs into Whirl's runtime library directory
# ($WHIRL_RUNTIME_LIB_DIR, else /var/cache/whirl/runtimes for root,
# ~/.cache/whirl/runtimes for others; never the repository). Idempotent; quiet when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
[ -x /usr/sbin/nft ] || command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -d /usr/lib/python3/dist-packages/redis ] || need+=(python3-redis)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
# The python bundle (runtimes.Bundle): package and the module it installs.
for pm in python3-requests:requests python3-bs4:bs4 python3-lxml:lxml \
  python3-dateutil:dateutil python3-simplejson:simplejson \
  python3-httplib2:httplib2 python3-kafka:kafka python3-scrapy:scrapy \
  python3-twisted:twisted python3-virtualenv:virtualenv; do
  [ -d "/usr/lib/python3/dist-packages/${pm#*:}" ] || need+=("${pm%%:*}")
done
# npm installs the Node.js bundle below.
command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1 || need+=(npm)
# chromium: the console's browser tests drive it headless (chromedp).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The java, php and ruby runtimes (docs/runtimes.md): a JDK (javac compiles
# the java launcher; ~115 MB, about 30 s to install), Gson (on java actions'
# class path, as in OpenWhisk's image), PHP's command line and Ruby.
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -f /usr/share/java/gson.jar ] || need+=(libgoogle-gson-java)
command -v php >/dev/null 2>&1 || need+=(php-cli)
command -v ruby >/dev/null 2>&1 || need+=(ruby)
# nats-server: the NATS bus tests start their own (with authorization).
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "deps: installing ${need[*]}"
  $sudo apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update -q >/dev/null 2>&1
    $sudo apt-get install -y -q "${need[@]}" >/dev/null
  }
fi

# Redis for the read-py example: start one where none answers.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "deps: starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
fi

# The Node.js bundle: npm ci from the committed lockfile, when the installed
# lockfile differs or the bundle is missing.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  lib="${XDG_CACHE_HOME:-$HOME/.cache}/whirl/runtimes"
  [ "$(id -u)" -eq 0 ] && lib=/var/cache/whirl/runtimes
  lib="${WHIRL_RUNTIME_LIB_DIR:-$lib}/nodejs"
  src=internal/runtimes/nodejs
  if ! cmp -s "$src/package-lock.json" "$lib/package-lock.json" || [ ! -f "$lib/node_modules/openwhisk/package.json" ]; then
    echo "deps: installing the Node.js runtime bundle (openwhisk) into $lib"
    mkdir -p "$lib"
    cp "$src/package.json" "$src/package-lock.json" "$lib/"
    (cd "$lib" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
