#!/usr/bin/env bash
# run-local.sh is what `make run` starts: the server on its embedded default
# (./data, http://127.0.0.1:8080) and a local agent enrolled to it, with a
# local repository named "local" under ./data/local/repo. The first run
# creates an admin, the agent's enrollment and the repository; later runs
# reuse them. Ctrl-C stops both processes.
#
# Everything it makes lives in ./data (git-ignored): the admin's password and
# API token in ./data/local/ (mode 0600), the agent's configuration and state,
# the repository and its password.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

server=./bin/restic-manager
agent=./bin/restic-manager-agent
addr=http://127.0.0.1:8080
local=./data/local
[[ -x $server && -x $agent ]] || { echo "run-local: build first (make build)" >&2; exit 1; }

# The agent runs restic from PATH.
restic_bin=$(./scripts/install-restic.sh)
export PATH="$(dirname "$restic_bin"):$PATH"

umask 077
mkdir -p "$local"
pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$server" server &
pids+=($!)
for _ in $(seq 1 100); do
	(exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
	kill -0 "${pids[0]}" 2>/dev/null || { echo "run-local: the server exited" >&2; exit 1; }
	sleep 0.1
done

export RM_ADDR=$addr
if [[ ! -s $local/admin-token ]]; then
	if [[ ! -s ./data/setup-token ]]; then
		echo "run-local: ./data already has an admin, but $local/admin-token is missing." >&2
		echo "run-local: create a token with \"restic-manager token create\" and write it there, or start over with an empty ./data." >&2
		exit 1
	fi
	head -c 18 /dev/urandom | base64 | tr -d '\n' >"$local/admin-password"
	"$server" bootstrap --setup-token "$(cat ./data/setup-token)" --username admin \
		--password-file "$local/admin-password" >"$local/admin-token"
fi
export RM_TOKEN
RM_TOKEN=$(cat "$local/admin-token")

if [[ ! -s $local/agent.hcl ]]; then
	token=$("$server" enroll-token create --ttl 10m | head -n 1)
	"$agent" enroll --server "$addr" --token "$token" --config "$local/agent.hcl" \
		--state-dir "$PWD/$local/agent-state" --name local >/dev/null
fi
"$agent" run --config "$local/agent.hcl" &
pids+=($!)

if ! "$server" repo show local >/dev/null 2>&1; then
	head -c 24 /dev/urandom | base64 | tr -d '\n' >"$local/repo-password"
	"$server" repo add --name local --url "$PWD/$local/repo" --password-file "$local/repo-password" >/dev/null
	"$server" repo init local --host local --timeout 2m >/dev/null
fi

cat <<MSG

restic-manager is running at $addr with a local agent (host "local") and a
repository "local" in $local/repo. In another terminal:

  export RM_ADDR=$addr RM_TOKEN=\$(cat $local/admin-token)
  ./bin/restic-manager host list
  ./bin/restic-manager job run backup --host local --repo local --path "$PWD/docs"
  ./bin/restic-manager job logs -f <job id>
  ./bin/restic-manager snapshot list --host local

The admin's password is in $local/admin-password. Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
