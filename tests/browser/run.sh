#!/usr/bin/env bash
# The console in a real browser: Debian's Chromium, driven by playwright-core, with
# axe-core checking every page against WCAG 2.2 AA.
#
# On a fresh SQLite database filled by `pathway seed`, it serves pathway on a free
# loopback port and runs the suite in tests/browser/tests/ with Node's test runner. The
# stage's status is the suite's; the server and the scratch directory go whatever
# happens. Screenshots of the main pages are written to docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
browser=$root/tests/browser
area=E08000035

work=$(mktemp -d)
server_pid=""
cleanup() {
    status=$?
    # `wait` answers 143 for a process stopped by SIGTERM; under `set -e` that would
    # replace the stage's own status.
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
        echo "-- last lines of the server's log" >&2
        tail -n 20 "$work/server.log" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT INT TERM

# The browser: Debian's Chromium (the npm packages never download one).
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "installing chromium"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
fi
"$chromium" --version 2>/dev/null | grep -q . || { echo "no working Chromium at $chromium" >&2; exit 1; }

# The test packages, pinned by package-lock.json; installed again only when it changes.
if ! cmp -s "$browser/package-lock.json" "$browser/node_modules/.package-lock.json.installed" 2>/dev/null; then
    echo "installing the browser tests' packages"
    (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$browser/package-lock.json" "$browser/node_modules/.package-lock.json.installed"
fi

cargo build --quiet --bin pathway
bin=$root/target/debug/pathway

free_port() { node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'; }

export PATHWAY__DATABASE__URL=$work/pathway.db
export PATHWAY__AUDIT__HMAC_KEY_FILE=$work/audit-hmac.key
export PATHWAY__AUDIT__SIGNING_KEY_FILE=$work/audit-signing.key
export PATHWAY__AUDIT__WITNESS_DIR=$work/witness
export PATHWAY__VAULT__MASTER_KEY_FILE=$work/vault-master.key
export PATHWAY__MAIL__FILE_DIR=$work/mail
export PATHWAY__LOG__FORMAT=json
export PATHWAY__LOG__FILTER=warn
"$bin" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }
"$bin" seed --area "$area" >"$work/seed.out" 2>&1 || { cat "$work/seed.out" >&2; exit 1; }
echo "seeded: $(awk '/^#   / {printf "%s %s=%s", sep, $2, $3; sep=","}' "$work/seed.out")"
# The seed's tokens, one per role (OFFICER, CHAIR, MEMBER, AUDITOR, ...), for the
# API calls the tests make before they look at a page.
while read -r _ assignment; do
    export "BROWSER_TOKEN_${assignment%%=*}=${assignment#*=}"
done < <(grep '^export ' "$work/seed.out")
# A referrer of the demo's area, to file fresh referrals.
BROWSER_TOKEN_REFERRER=$("$bin" token --role referrer --area "$area" --sub browser-referrer \
    --name "Jo Example" --email jo@school.example)
export BROWSER_TOKEN_REFERRER

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

export BROWSER_BASE_URL=$base
export BROWSER_AREA=$area
export BROWSER_CHROMIUM=$chromium
export BROWSER_DOWNLOADS=$work/downloads
export BROWSER_SCREENSHOTS=${BROWSER_SCREENSHOTS:-$root/docs/screenshots}
mkdir -p "$BROWSER_DOWNLOADS" "$BROWSER_SCREENSHOTS"
cd "$browser"
# One file at a time: they share one server and one browser build, on two cores.
node --test --test-concurrency=1 tests/
