"""verify, WebhookEvent and WebhookReceiver need only the core (httpx + attrs); the servers
say clearly what to install when uvicorn is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("uvicorn", "starlette"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Missing())

    from flux_flex.webhooks import ReceiverServer, WebhookReceiver, listen, sign, verify

    body = json.dumps({"id": "t", "status": "Ready", "result": {"sample": "https://d/x"}}).encode()
    assert verify(body, {"X-BFL-Signature": sign(body, "k")}, "k").is_ready
    receiver = WebhookReceiver("k")
    for start in (lambda: ReceiverServer(receiver).start(),
                  lambda: listen("127.0.0.1", 0, secrets="k")):
        try:
            start()
        except ModuleNotFoundError as exc:
            assert "flux-flex[fake]" in str(exc), exc
        else:
            raise AssertionError("started without uvicorn")
    assert not any(m.split(".")[0] in ("uvicorn", "starlette") for m in sys.modules)
    print("ok")
    """
)


def test_webhooks_work_without_the_server_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
