#!/usr/bin/env bash
# The contract stage: the served OpenAPI document against the running service.
#
# On a fresh PostgreSQL database, with mail going to a loopback SMTP server, it runs
# Schemathesis (all checks, all phases, stateful through the document's links) once per
# role and once with a token holding every pathway role; then the pathway walk (the
# stateful phase alone over the referral and case operations, which must take actions on
# real cases through the links); then a client generated from openapi/openapi.json walks a
# referral to Channel. Any failure fails the stage; the
# server, the SMTP server and the database go whatever happens.
#
# Bounds (environment): CONTRACT_MAX_EXAMPLES (per operation and phase, default 8),
# CONTRACT_PATHWAY_EXAMPLES (the every-role run, default 25; its stateful phase runs the
# scenarios schemathesis.toml sets); CONTRACT_RUNS (which runs, by name: pathway for the
# every-role token, walk for the pathway walk, or a role); CONTRACT_SEED (default 1). No
# failure is ever accepted: there is no baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
contract=$root/tests/contract

pg="postgresql://postgres@127.0.0.1:5432"
max_examples=${CONTRACT_MAX_EXAMPLES:-8}
pathway_examples=${CONTRACT_PATHWAY_EXAMPLES:-25}
area=E08000035

work=$(mktemp -d)
# Schemathesis's event logs stay after the run, for reading a failure.
reports=$root/target/contract-report
rm -rf "$reports" && mkdir -p "$reports"
database="pathway_contract_$$"
server_pid=""
smtp_pid=""
cleanup() {
    status=$?
    # `wait` answers 143 for a process stopped by SIGTERM; under `set -e` that would
    # replace the stage's own status.
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    [ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null && wait "$smtp_pid" 2>/dev/null || true
    psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
        echo "-- last lines of the server's log" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT INT TERM

# The tools, pinned, in a virtualenv kept under target/ between runs.
venv=$root/target/contract-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! cmp -s "$contract/requirements.txt" "$venv/requirements.txt"; then
    echo "installing $(grep -v '^#' "$contract/requirements.txt" | tr '\n' ' ')"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$contract/requirements.txt"
    cp "$contract/requirements.txt" "$venv/requirements.txt"
fi
py=$venv/bin/python

cargo build --quiet --bin pathway
bin=$root/target/debug/pathway

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

psql -q "$pg/postgres" -c "CREATE DATABASE $database" >/dev/null
export PATHWAY__DATABASE__URL="$pg/$database"
export PATHWAY__AUDIT__HMAC_KEY_FILE=$work/audit-hmac.key
export PATHWAY__AUDIT__SIGNING_KEY_FILE=$work/audit-signing.key
export PATHWAY__AUDIT__WITNESS_DIR=$work/witness
export PATHWAY__VAULT__MASTER_KEY_FILE=$work/vault-master.key
export PATHWAY__MAIL__FILE_DIR=$work/mail
export PATHWAY__LOG__FORMAT=json
export PATHWAY__LOG__FILTER=warn
"$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }

smtp_port=$(free_port)
"$py" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$work/maildir" \
    >"$work/smtp.log" 2>&1 &
smtp_pid=$!
export PATHWAY__MAIL__SMTP_URL="smtp://127.0.0.1:$smtp_port"

port=$(free_port)
base="http://127.0.0.1:$port"
export PATHWAY__SERVER__LISTEN="127.0.0.1:$port"
export PATHWAY__SERVER__PUBLIC_URL="$base"
"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { echo "the server stopped" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

token() { # name, then roles
    local name=$1
    shift
    local roles=()
    for role in "$@"; do roles+=(--role "$role"); done
    "$bin" token "${roles[@]}" --area "$area" --sub "contract-$name" \
        --name "Contract ${name//_/ }" --email "contract-$name@council.example"
}

# The every-role token first: it files referrals and takes every action on them, so the
# single-role runs after it meet cases, panels and meetings in every state.
read -r -a runs <<<"${CONTRACT_RUNS:-pathway walk referrer prevent_officer channel_chair panel_member auditor admin records_officer}"
failed=()
for run in "${runs[@]}"; do
    phases=examples,coverage,fuzzing,stateful
    only=()
    summary=()
    case $run in
    pathway)
        bearer=$(token "$run" referrer prevent_officer channel_chair panel_member admin)
        examples=$pathway_examples
        ;;
    walk)
        # The pathway walk: the stateful phase alone, over the referral and case
        # operations only, so that every scenario starts by filing a referral and follows
        # the links to the actions allowed next. It must take actions on real cases.
        bearer=$(token "$run" referrer prevent_officer channel_chair panel_member admin)
        examples=$pathway_examples
        phases=stateful
        only=(--include-path-regex '^/v1/(referrals|cases)')
        summary=(--require-case-actions)
        ;;
    *)
        bearer=$(token "$run" "$run")
        examples=$max_examples
        ;;
    esac
    # The stateful phase's scenarios: the configured number for the every-role run; the
    # other runs' bound for the single-role runs.
    config=$work/schemathesis-$run.toml
    if [ "$run" = pathway ] || [ "$run" = walk ]; then
        cp "$contract/schemathesis.toml" "$config"
    else
        sed "s/^max-examples = [0-9]*/max-examples = $examples/" "$contract/schemathesis.toml" >"$config"
    fi
    echo "== schemathesis as $run"
    # From the scratch directory, where Schemathesis keeps its cache.
    fuzz() {
        (cd "$work" && "$venv/bin/schemathesis" --config-file "$config" run "$base/openapi.json" \
            --header "Authorization: Bearer $bearer" \
            --checks all --phases "$phases" "${only[@]}" \
            --max-examples "$examples" --workers 2 --request-timeout 10 --seed "${CONTRACT_SEED:-1}" \
            --report ndjson --report-ndjson-path "$reports/$run.ndjson" \
            --no-color >"$work/$run.out" 2>&1)
    }
    # A crash inside the generator (a runtime error with no failing check, e.g. CPython's
    # "AST constructor recursion depth mismatch") is the tool's, not the API's: such a run
    # is tried once more, and fails the stage if it crashes again.
    status=0
    fuzz || status=$?
    if [ "$status" -ne 0 ] && grep -q "Runtime Error" "$work/$run.out" && ! grep -q " FAILURES " "$work/$run.out"; then
        echo "schemathesis crashed as $run with no failing check; running it again"
        status=0
        fuzz || status=$?
    fi
    if [ "$status" -ne 0 ]; then
        failed+=("$run")
        cat "$work/$run.out"
    fi
    "$py" "$contract/summarise.py" "$run" "$reports/$run.ndjson" "${summary[@]}" || failed+=("$run (summary)")
done

echo "== a generated client files a referral and refers it to Channel"
CONTRACT_BASE_URL=$base \
    CONTRACT_TOKEN=$(token client referrer prevent_officer channel_chair) \
    "$venv/bin/pytest" -q -p no:cacheprovider "$contract/test_generated_client.py" \
    || failed+=("generated client")

if [ ${#failed[@]} -gt 0 ]; then
    echo "contract stage failed: ${failed[*]}" >&2
    exit 1
fi
echo "contract stage passed"
