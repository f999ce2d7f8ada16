#!/usr/bin/env bash
# Installs what Whirl's tests need on a fresh Debian machine, where missing:
# bubblewrap (the action sandbox), slirp4netns and nftables (the isolated
# action network), redis-server and python3-redis (the read-py example).
# Idempotent; quiet when everything is present.
set -euo pipefail

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
[ -x /usr/sbin/nft ] || command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -d /usr/lib/python3/dist-packages/redis ] || need+=(python3-redis)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
# chromium: the console's browser tests drive it headless (chromedp).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
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
