"""A client generated from openapi/openapi.json, as a council or school would generate it,
files a referral and takes it to Channel against the running service.

Run by tests/contract/run.sh with CONTRACT_BASE_URL (the server) and CONTRACT_TOKEN (a
token holding referrer, prevent_officer and channel_chair in one area).
"""

import json
import os
import pathlib
import subprocess
import sys
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "openapi" / "openapi.json"
REFERRAL = ROOT / "examples" / "referral.json"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """Generates the client (failing on any warning: an operation it cannot type is a
    defect of the document) and connects it to the server."""
    out = tmp_path_factory.mktemp("client")
    generator = pathlib.Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(
        [generator, "generate", "--path", DOCUMENT, "--meta", "none",
         "--output-path", out / "pathway_client", "--fail-on-warning"],
        check=True,
        cwd=out,
        # The generator formats its output with ruff, installed beside it in the venv.
        env={**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    sys.path.insert(0, str(out))
    from pathway_client import AuthenticatedClient

    return AuthenticatedClient(
        base_url=os.environ["CONTRACT_BASE_URL"],
        token=os.environ["CONTRACT_TOKEN"],
        raise_on_unexpected_status=True,
    )


def taken(answer, action):
    """The case an action's answer carries, after checking it succeeded."""
    from pathway_client.models import FullCase

    assert answer.status_code == 200, (action, answer.status_code, answer.content)
    assert isinstance(answer.parsed, FullCase), answer.parsed
    assert answer.headers["etag"] == f'"{answer.parsed.version}"'
    return answer.parsed


def test_a_referral_is_filed_screened_and_referred_to_channel(client):
    from pathway_client.api.cases import (
        begin_screening,
        history,
        read_case,
        record_deconfliction,
        refer_to_channel,
    )
    from pathway_client.api.referrals import file_referral
    from pathway_client.models import (
        BeginScreeningRequest,
        DeconflictionResult,
        FullCase,
        Receipt,
        RecordDeconflictionRequest,
        ReferralRequest,
        ReferrerStatus,
        ReferToChannelRequest,
        ReferToChannelRequestReasonCode,
        State,
    )

    referral = ReferralRequest.from_dict(json.loads(REFERRAL.read_text()))
    filed = file_referral.sync_detailed(
        client=client, body=referral, idempotency_key=str(uuid.uuid4())
    )
    assert filed.status_code == 201, filed.content
    assert isinstance(filed.parsed, Receipt)
    assert filed.parsed.status == ReferrerStatus.RECEIVED
    assert filed.headers["location"] == f"/v1/cases/{filed.parsed.id}"
    case_id = uuid.UUID(filed.parsed.id)

    read = read_case.sync_detailed(id=case_id, client=client)
    assert read.status_code == 200
    assert isinstance(read.parsed, FullCase)
    assert read.parsed.state == State.SUBMITTED
    assert read.headers["etag"] == f'"{read.parsed.version}"'

    # Each action is its own operation with its own typed body.
    case = taken(
        begin_screening.sync_detailed(
            id=case_id, client=client, body=BeginScreeningRequest(), if_match=read.headers["etag"]
        ),
        "begin_screening",
    )
    assert case.state == State.SCREENING
    case = taken(
        record_deconfliction.sync_detailed(
            id=case_id,
            client=client,
            body=RecordDeconflictionRequest(result=DeconflictionResult.CLEAR),
            if_match=f'"{case.version}"',
        ),
        "record_deconfliction",
    )
    assert case.state == State.SCREENING
    case = taken(
        refer_to_channel.sync_detailed(
            id=case_id,
            client=client,
            body=ReferToChannelRequest(
                reason_code=ReferToChannelRequestReasonCode.VULNERABLE_TO_RADICALISATION,
                rationale="Susceptible to extremist influence; needs multi-agency support.",
            ),
            if_match=f'"{case.version}"',
        ),
        "refer_to_channel",
    )
    assert case.state == State.AWAITING_PANEL
    assert case.referred_to_channel_at is not None

    final = read_case.sync_detailed(id=case_id, client=client)
    assert final.status_code == 200
    assert final.parsed.state == State.AWAITING_PANEL
    assert final.parsed.version == case.version
    steps = history.sync_detailed(id=case_id, client=client)
    assert steps.status_code == 200
    assert [entry.action for entry in steps.parsed][-3:] == [
        "begin_screening",
        "record_deconfliction",
        "refer_to_channel",
    ]
