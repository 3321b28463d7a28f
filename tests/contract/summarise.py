"""Summarises one Schemathesis run from its NDJSON event log. With --require-case-actions
(run.sh's pathway walk) it fails when the stateful phase did not take an action on a real
case through the document's links: a declared link from an answer carrying a case to a
case action operation, answered 2xx. The actions reached (answered with anything but 404:
the server judged the action on that real case: done, 409 not from this state, 412 stale
version, 422 invalid body) and done are printed per action.

Usage: summarise.py RUN_NAME EVENTS.ndjson [--require-case-actions]
"""

import collections
import json
import sys

CASE_ACTIONS = "/v1/cases/{id}/actions/"


def main() -> int:
    name, path = sys.argv[1], sys.argv[2]
    require_actions = "--require-case-actions" in sys.argv[3:]
    operations = set()
    requests = 0
    failures = 0
    followed = collections.Counter()  # link -> times followed
    reached = collections.Counter()  # case action reached through a link -> answers
    actions_done = collections.Counter()  # case action reached through a link -> 2xx answers
    for line in open(path, encoding="utf-8"):
        event = json.loads(line)
        kind, body = next(iter(event.items()))
        if kind != "ScenarioFinished":
            continue
        recorder = body.get("recorder", {})
        interactions = recorder.get("interactions", {})
        requests += len(interactions)
        for checks in recorder.get("checks", {}).values():
            failures += sum(1 for check in checks if check.get("status") == "failure")
        if body.get("phase") != "stateful" and "label" in recorder:
            operations.add(recorder["label"])
        for case_id, case in recorder.get("cases", {}).items():
            value = case["value"]
            transition = case.get("transition")
            if body.get("phase") != "stateful" or not transition or transition.get("is_inferred"):
                continue
            response = interactions.get(case_id, {}).get("response") or {}
            status = response.get("status_code")
            if status is None:
                continue
            followed[transition["id"]] += 1
            source = transition["id"].split(" -> ", 1)[0].split(" ")[-1]
            target = transition["id"].rsplit(" -> ", 1)[-1]
            from_a_case = source == "/v1/referrals" or source.startswith("/v1/cases/")
            if value["path"].startswith(CASE_ACTIONS) and from_a_case and status != 404:
                reached[target] += 1
                if 200 <= status < 300:
                    actions_done[target] += 1
    print(
        f"{name}: {len(operations)} operations, {requests} requests, {failures} failing check results; "
        f"stateful: {sum(followed.values())} steps along {len(followed)} declared links, "
        f"{sum(reached.values())} case actions reached through links, {sum(actions_done.values())} done"
    )
    for target, count in sorted(reached.items()):
        print(f"  {count:4d} x {target} ({actions_done[target]} done)")
    if require_actions and not actions_done:
        print(
            f"{name}: the stateful phase took no action on a real case through the links",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
