#!/usr/bin/env bash
# The test command: readies the machine (scripts/setup.sh), then runs every test on the real parts.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes tests' cluster (scripts/k8s-cluster.sh: control plane, kwok's node, a real node) is
# built from the Go module proxy, which on a fresh machine takes many minutes: build it in the
# background from the start, beside the other tests, and run the Kubernetes tests last. Skipped at
# once when its cache (/var/cache/agentvisor-k8s: the binaries, the Go build and module caches are
# Go's own, under ~/.cache/go-build and ~/go/pkg/mod) already has them.
k8s_log=$(mktemp -t agentvisor-k8s-build.XXXXXX)
setsid -w nice -n 10 scripts/k8s-cluster.sh build >"$k8s_log" 2>&1 </dev/null &
k8s_build=$!
cleanup() {
  kill -- -"$k8s_build" 2>/dev/null || true
  scripts/k8s-cluster.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

scripts/setup.sh
# tests also check docker-compose.yml with `docker-compose config`
command -v docker-compose >/dev/null || apt-get install -y -q docker-compose >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null; }
export PATH="$PATH:$(python3 -c 'import sysconfig;print(sysconfig.get_path("scripts"))')"
npm test -- --testPathIgnorePatterns test/e2e/kubernetes.test.ts test/e2e/kubernetes-node.test.ts

if ! wait "$k8s_build"; then
  cat "$k8s_log" >&2
  echo "building the Kubernetes test cluster failed (log above)" >&2
  exit 1
fi
cat "$k8s_log" >&2
scripts/k8s-cluster.sh start >/dev/null
npx jest --runInBand test/e2e/kubernetes.test.ts test/e2e/kubernetes-node.test.ts
