#!/usr/bin/env bash
# make e2e-kubernetes: Whirl on a real one-node Kubernetes cluster, built on
# this machine (docs/kubernetes.md, "The end-to-end run").
#
#   1. installs Debian's containerd, runc, CNI plugins and iptables where
#      missing;
#   2. builds (once, cached in bin/kube, gitignored) kube-apiserver, etcd,
#      controller-manager, scheduler, kubelet and kube-proxy from the
#      module proxy in the tools module tools/kube, and Helm;
#   3. builds Whirl's images without Docker (tools/ociimage) and imports
#      them into the run's own containerd;
#   4. brings the cluster, a PostgreSQL and a NATS JetStream up inside a
#      network namespace it creates, with state under one directory of
#      its own and the cgroup root whirl-e2e-kube;
#   5. runs the tests tagged e2e_kubernetes inside the namespace and
#      prints go test's summary;
#   6. on any exit, stops every process by the PID it recorded and removes
#      what it created.
#
# Environment: E2E_KEEP=1 keeps the state directory (logs) after the run;
# E2E_RUN=<regexp> is passed to go test -run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

K8S_VERSION=v1.37.2
HELM_MODULE=helm.sh/helm/v4/cmd/helm@v4.3.1
BIN=$ROOT/bin/kube                 # cached binaries (gitignored)
NS=whirl-e2e-kube                  # network namespace
CG=whirl-e2e-kube                  # cgroup root of the kubelet's pods
S=/var/lib/whirl-e2e-kube          # every file of the run
NODE_IP=10.250.0.1 PEER_IP=10.250.0.2
POD_CIDR=10.251.0.0/24 POD_GW=10.251.0.1
SVC_CIDR=10.252.0.0/16 SVC_API=10.252.0.1
TOKEN=whirl-e2e-admin-token
# Fixed paths some component writes whatever it is configured with.
HOST_PATHS="/var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd"

log() { printf 'e2e-kubernetes: %s\n' "$*" >&2; }
stamp() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(stamp)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- deps
deps() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null || need+=(iptables)
  command -v nsenter >/dev/null || need+=(util-linux)
  command -v openssl >/dev/null || need+=(openssl)
  [ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null || need+=(nats-server)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    # Debian's containerd package enables a system service: keep it off,
    # the run starts its own.
    local hadpolicy=0; [ -e /usr/sbin/policy-rc.d ] && hadpolicy=1
    [ $hadpolicy = 1 ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
      apt-get update -q >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
    }
    [ $hadpolicy = 1 ] || rm -f /usr/sbin/policy-rc.d
  fi
}

# ---------------------------------------------------------------- tools
tools() {
  mkdir -p "$BIN"
  local stampfile="$BIN/.built-$K8S_VERSION-$(sha256sum tools/kube/go.sum tools/kube/go.mod | sha256sum | cut -c1-12)"
  if [ ! -e "$stampfile" ]; then
    local t0; t0=$(stamp)
    log "building Kubernetes $K8S_VERSION components into $BIN (once per machine; minutes)"
    (cd tools/kube && go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" -o "$BIN/" ./cmd/...)
    touch "$stampfile"
    log "built the components in $(since "$t0") s"
  fi
  if [ ! -x "$BIN/helm" ]; then
    local t0; t0=$(stamp)
    log "building Helm ($HELM_MODULE)"
    GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "$HELM_MODULE"
    log "built Helm in $(since "$t0") s"
  fi
  (cd tools/ociimage && CGO_ENABLED=0 go build -trimpath -o "$BIN/ociimage" .)
}

# ---------------------------------------------------------------- images
images() {
  local t0; t0=$(stamp)
  local d=$S/images; mkdir -p "$d/root/pause"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$d/whirl" ./cmd/whirl
  cp "$BIN/ociimage" "$d/root/pause/pause"
  "$BIN/ociimage" -o "$d/pause.tar" -tag localhost/pause:e2e -add "$d/root/pause/pause:/pause" -entrypoint /pause
  # Whirl's image: the static binary and the host's python3 with its
  # libraries (what deploy/Dockerfile's image runs, without Debian's
  # base image). Tagged also with a numeric tag for the chart's tests.
  local py; py=$(readlink -f /usr/bin/python3)
  local adds=(-add "$d/whirl:/usr/local/bin/whirl" -add "$py:/usr/bin/python3" -add "/usr/lib/$(basename "$py"):/usr/lib/$(basename "$py")")
  local lib
  for lib in $(ldd "$py" | awk '/=>/{print $3} /^\s*\//{print $1}' | sort -u); do
    adds+=(-add "$(readlink -f "$lib"):$(echo "$lib" | sed 's#^/lib#/usr/lib#')")
  done
  "$BIN/ociimage" -o "$d/whirl.tar" -tag localhost/whirl:e2e -tag localhost/whirl:2 -tag localhost/whirl:1.10 \
    "${adds[@]}" -link /lib:usr/lib -link /lib64:usr/lib64 -link /bin:usr/bin -dir /tmp:1777 -dir /action:1777 \
    -env PATH=/usr/local/bin:/usr/bin:/bin -env WHIRL_SANDBOX=none -env HOME=/tmp \
    -entrypoint whirl,proxy,--listen,:8080,--work-dir,/action,--sandbox,none
  local tar
  for tar in "$d/pause.tar" "$d/whirl.tar"; do
    ctr --address "$S/containerd.sock" -n k8s.io images import --no-unpack=false "$tar" >/dev/null
  done
  log "images built and imported in $(since "$t0") s"
}

# ---------------------------------------------------------------- cluster
PIDS=()
start() { # name cmd...: runs cmd in the namespace, logs in $S/log/name.log
  local name=$1; shift
  nsenter --net=/run/netns/$NS -- "$@" >"$S/log/$name.log" 2>&1 &
  PIDS+=($!)
  echo "$! $name" >>"$S/pids"
}

innet() { nsenter --net=/run/netns/$NS -- "$@"; }

pki() {
  local p=$S/pki; mkdir -p "$p"; cd "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=whirl-e2e-ca -keyout ca.key -out ca.crt 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:%s,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' "$SVC_API" "$NODE_IP" >ext
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext -out apiserver.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  echo "$TOKEN,admin,admin,system:masters" >tokens.csv
  cat >"$S/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$p/ca.crt"}}]
users: [{name: admin, user: {token: "$TOKEN"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: admin}}]
current-context: e2e
EOF
  cd "$ROOT"
}

netns() {
  ip netns add $NS
  echo created >"$S/netns"
  innet ip link set lo up
  innet ip link add we0 type veth peer name we1
  innet ip addr add $NODE_IP/24 dev we0
  innet ip addr add $PEER_IP/24 dev we1
  innet ip link set we0 up
  innet ip link set we1 up
  innet ip route add default via $PEER_IP dev we0
}

containerd_up() {
  mkdir -p "$S/cni" "$S/containerd"
  cat >"$S/cni/10-whirl-e2e.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "whirl-e2e", "plugins": [
  {"type": "bridge", "bridge": "whirle2e0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$S/cni-ipam", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  cat >"$S/containerd/config.toml" <<EOF
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
[grpc]
  address = "$S/containerd.sock"
[ttrpc]
  address = "$S/containerd.ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:e2e"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$S/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$S/runc"
EOF
  start containerd containerd --config "$S/containerd/config.toml"
  local i
  for i in $(seq 100); do [ -S "$S/containerd.sock" ] && return; sleep 0.1; done
  log "containerd did not start"; tail -20 "$S/log/containerd.log" >&2; return 1
}

# cgroup root: one directory per mounted v1 hierarchy (and v2, if unified).
cgroups_up() {
  local m
  for m in /sys/fs/cgroup/*/; do
    [ -d "$m" ] && [ ! -L "${m%/}" ] && mkdir -p "$m$CG" 2>/dev/null || true
  done
  echo created >"$S/cgroups"
}

cgroups_down() {
  local m
  for m in /sys/fs/cgroup/*/; do
    [ -d "$m$CG" ] || continue
    find "$m$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

api_up() {
  start etcd "$BIN/etcd" -data-dir "$S/etcd" -listen http://127.0.0.1:2379 -peer http://127.0.0.1:2380
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --secure-port=6443 --advertise-address=$NODE_IP \
    --service-cluster-ip-range=$SVC_CIDR --service-node-port-range=30000-32767 \
    --tls-cert-file="$S/pki/apiserver.crt" --tls-private-key-file="$S/pki/apiserver.key" \
    --client-ca-file="$S/pki/ca.crt" --token-auth-file="$S/pki/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$S/pki/sa.pub" \
    --service-account-signing-key-file="$S/pki/sa.key" --authorization-mode=RBAC \
    --allow-privileged=true --enable-priority-and-fairness=false \
    --feature-gates=PodLogsQuerySplitStreams=true
  local i
  for i in $(seq 300); do
    innet curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" https://$NODE_IP:6443/readyz 2>/dev/null | grep -q 200 && return
    sleep 0.2
  done
  log "kube-apiserver not ready"; tail -30 "$S/log/kube-apiserver.log" >&2; return 1
}

node_up() {
  mkdir -p "$S/kubelet"
  cat >"$S/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: /$CG
containerRuntimeEndpoint: unix://$S/containerd.sock
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
podCIDR: $POD_CIDR
serializeImagePulls: false
evictionHard: {memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: ""
clusterDomain: cluster.local
localStorageCapacityIsolation: false
kubeletCgroups: ""
staticPodPath: ""
EOF
  start kubelet "$BIN/kubelet" --config="$S/kubelet.yaml" --kubeconfig="$S/kubeconfig" \
    --root-dir="$S/kubelet" --cert-dir="$S/kubelet/pki" --hostname-override=localhost \
    --feature-gates=PodLogsQuerySplitStreams=true
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$S/kubeconfig" \
    --service-account-private-key-file="$S/pki/sa.key" --root-ca-file="$S/pki/ca.crt" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=10257 \
    --use-service-account-credentials=false
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$S/kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port=10259
  start kube-proxy "$BIN/kube-proxy" --kubeconfig="$S/kubeconfig" --proxy-mode=iptables \
    --hostname-override=localhost --cluster-cidr=10.251.0.0/16 --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --nodeport-addresses=$NODE_IP/32 --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
  local i
  for i in $(seq 600); do
    if innet curl -sk -H "Authorization: Bearer $TOKEN" https://$NODE_IP:6443/api/v1/nodes/localhost 2>/dev/null |
      tr -d ' \n' | grep -q '"type":"Ready","status":"True"'; then return; fi
    sleep 0.2
  done
  log "node not Ready"; tail -30 "$S/log/kubelet.log" >&2; return 1
}

# PostgreSQL and NATS JetStream for Whirl, on the node's address inside the
# namespace (the machine's own services are untouched).
services_up() {
  local pg; pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$S/pg" "$S/pgsock" "$S/nats"; chown postgres "$S/pg" "$S/pgsock"; chmod 711 "$S"
  runuser -u postgres -- "$pg/initdb" -D "$S/pg" -A trust -U whirl >"$S/log/initdb.log" 2>&1
  echo "host all all 0.0.0.0/0 trust" >>"$S/pg/pg_hba.conf"
  start postgres runuser -u postgres -- "$pg/postgres" -D "$S/pg" -k "$S/pgsock" -h $NODE_IP -p 5432 -c fsync=off
  start nats /usr/sbin/nats-server -a $NODE_IP -p 4222 -js -sd "$S/nats"
  local i
  for i in $(seq 100); do
    innet bash -c "(exec 3<>/dev/tcp/$NODE_IP/5432) 2>/dev/null && (exec 3<>/dev/tcp/$NODE_IP/4222) 2>/dev/null" && return
    sleep 0.2
  done
  log "postgres or nats did not start"; return 1
}

# ---------------------------------------------------------------- teardown
# ours: whether PID still is a process of this run (its command line
# names the state directory or the cached binaries), so that a PID reused
# since is never signalled.
ours() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$S"* || $cmd == *"$BIN/"* ]]
}

teardown() {
  local rc=$?
  set +e
  [ -e "$S/pids" ] || { [ -d "$S" ] && [ -z "${E2E_KEEP:-}" ] && rm -rf "$S"; return $rc; }
  log "tearing down"
  # Pods first, while the kubelet and containerd run.
  if [ -x "$BIN/kube-apiserver" ] && [ -e "$S/kubeconfig" ]; then
    innet curl -sk -X DELETE -H "Authorization: Bearer $TOKEN" "https://$NODE_IP:6443/api/v1/pods" >/dev/null 2>&1 || true
  fi
  local pid name
  # Reverse order of start, each by its recorded PID.
  tac "$S/pids" | while read -r pid name; do
    ours "$pid" || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  # containerd's shims (children it started; their PIDs are in its state).
  local f
  for f in $(find "$S/containerd/state" -name 'init.pid' -o -name 'shim.pid' 2>/dev/null); do
    pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && ours "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  mv "$S/pids" "$S/pids.stopped"
  sleep 0.5
  # Mounts below the state directory (pod volumes, overlays, netns files).
  grep " $S" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  cgroups_down
  [ -e "$S/netns" ] && ip netns del $NS 2>/dev/null
  # Paths outside the state directory that the kubelet, containerd's
  # shims and CNI use whatever they are told: removed if this run
  # created them.
  local p
  while read -r p; do [ -n "$p" ] && rm -rf "$p"; done <"$S/created-paths"
  if [ -n "${E2E_KEEP:-}" ]; then log "kept $S"; else rm -rf "$S"; fi
  return $rc
}

# ---------------------------------------------------------------- main
main() {
  [ "$(id -u)" -eq 0 ] || { log "needs root (network namespace, cgroups, containerd)"; exit 1; }
  if [ -e "$S/pids" ]; then log "a previous run left $S: cleaning it"; teardown || true; fi
  rm -rf "$S"
  deps
  tools
  mkdir -p "$S/log"
  local p
  : >"$S/created-paths"
  for p in $HOST_PATHS; do [ -e "$p" ] || echo "$p" >>"$S/created-paths"; done
  : >"$S/pids"
  trap teardown EXIT
  trap 'exit 130' INT TERM
  local t0; t0=$(stamp)
  pki; netns; cgroups_up; containerd_up
  images
  local t1; t1=$(stamp)
  api_up; node_up
  log "cluster up (API server to node Ready) in $(since "$t1") s"
  services_up
  log "cluster, PostgreSQL and NATS up in $(since "$t0") s"
  cat >"$S/env" <<EOF
WHIRL_E2E_KUBECONFIG=$S/kubeconfig
WHIRL_E2E_API=https://$NODE_IP:6443
WHIRL_E2E_TOKEN=$TOKEN
WHIRL_E2E_CA=$S/pki/ca.crt
WHIRL_E2E_HELM=$BIN/helm
WHIRL_E2E_NODE_IP=$NODE_IP
WHIRL_E2E_STORE=postgres://whirl@$NODE_IP:5432/postgres?sslmode=disable
WHIRL_E2E_BUS=nats://$NODE_IP:4222
WHIRL_E2E_IMAGE=localhost/whirl:e2e
EOF
  set -a; . "$S/env"; set +a
  log "running the tests"
  local rc=0
  innet env "PATH=$PATH" go test -v -count=1 -tags e2e_kubernetes -timeout 30m ${E2E_RUN:+-run "$E2E_RUN"} \
    ./internal/container/kubernetes/ ./deploy/helm/whirl/ 2>&1 | tee "$S/log/test.log" || rc=$?
  return $rc
}

main "$@"
