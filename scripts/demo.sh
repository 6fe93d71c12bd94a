#!/usr/bin/env bash
# The demo: three agents at once on a sample repository, merged and evaluated, on the embedded
# defaults (a local Temporal dev server with its Web UI, the local Docker engine).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PATH:$(python3 -c 'import sysconfig;print(sysconfig.get_path("scripts"))')"
repo=examples/three-agents/sample-repo
[ -d "$repo/.git" ] || scripts/make-sample-repo.sh "$repo"
exec npx agentvisor run examples/three-agents/graph.yaml "$@"
