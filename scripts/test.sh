#!/usr/bin/env bash
# The test command: readies the machine (scripts/setup.sh), then runs every test on the real parts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# tests also check docker-compose.yml with `docker-compose config`
command -v docker-compose >/dev/null || apt-get install -y -q docker-compose >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null; }
export PATH="$PATH:$(python3 -c 'import sysconfig;print(sysconfig.get_path("scripts"))')"
npm test
