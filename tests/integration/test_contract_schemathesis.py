"""The merged OpenAPI document is a contract the platform keeps: schemathesis holds it to it.

schemathesis' CLI reads the gateway's merged document and sends what it generates from it
through the gateway: the documented examples, the edge cases of every schema (coverage),
random valid and invalid requests (fuzzing), and sequences that follow the documented links
(stateful), with every check on. Any answer the document does not describe (an undocumented
status, a body off its schema, an invalid request accepted, a 5xx) fails the test. The run is
bounded (a fixed seed, a few examples per operation) so it takes a few minutes on two cores.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from api_client import Account, ApiClient, sign_up

MERGED = "/apidocs/openapi.json"
# Where a check is tuned for one operation, and why.
CONFIG = Path(__file__).with_name("schemathesis.toml")
PHASES = "examples,coverage,fuzzing,stateful"
# Fixed so a failure is seen again by the next run; raise MAX_EXAMPLES locally to dig deeper.
SEED = "20260901"
MAX_EXAMPLES = "25"
RUN_WITHIN = 600  # seconds: a run that hangs fails instead of holding CI


@pytest.fixture(scope="module")
def fuzzed_account(api: ApiClient) -> Account:
    """An account of its own: the fuzzer creates orders and may log its tokens out."""
    return sign_up(api, "schemathesis")


def test_the_platform_answers_as_its_merged_document_says(
    platform_url: str, fuzzed_account: Account, tmp_path: Path
) -> None:
    # The console script of the interpreter running the suite (tox's env, or a venv).
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli, "schemathesis is not next to this interpreter (pyproject.toml's integration group)"
    command = [
        cli,
        f"--config-file={CONFIG}",
        "run",
        f"{platform_url}{MERGED}",
        "--checks=all",
        f"--phases={PHASES}",
        f"--seed={SEED}",
        f"--max-examples={MAX_EXAMPLES}",
        "--workers=1",  # two cores are shared with the platform under test
        "--request-timeout=15",
        # Every request carries the account's token: the operations are tested past their 401.
        f"--header=Authorization: Bearer {fuzzed_account.access_token}",
        # Nothing remembered between runs: each run is the seed's, wherever it runs.
        "--generation-database=none",
        "--no-color",
    ]

    # In a temporary folder: schemathesis writes its reports and caches under the cwd.
    result = subprocess.run(  # noqa: S603 (our own arguments)
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_WITHIN, check=False
    )

    if result.returncode != 0:
        # Its own report says it best: each failure, the check, and a curl line to reproduce.
        pytest.fail(
            f"schemathesis exited {result.returncode}:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )
