#!/usr/bin/env bash
# Run an Orchestra neuron under pm2 (restarts on crash and on reboot with `pm2 save && pm2 startup`).
#
#   scripts/pm2.sh miner     --netuid N --subtensor.network test --wallet.name W --wallet.hotkey H --axon.port 8091
#   scripts/pm2.sh validator --netuid N --subtensor.network test --wallet.name W --wallet.hotkey H
#
# Environment (ORCHESTRA_DESEARCH_API_KEY, ...) is taken from the shell or from .env in the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

role="${1:-}"
case "$role" in
  miner|validator) shift ;;
  *) echo "usage: scripts/pm2.sh miner|validator [neuron flags...]" >&2; exit 2 ;;
esac
command -v pm2 >/dev/null 2>&1 || { echo "pm2 is not installed: npm install --global pm2" >&2; exit 2; }

make install >/dev/null
name="orchestra-${role}-${PM2_SUFFIX:-$(whoami)}"
pm2 start "neurons/${role}.py" --name "$name" --interpreter "$(pwd)/.venv/bin/python" --restart-delay 5000 -- "$@"
echo "started $name; follow it with: pm2 logs $name"
