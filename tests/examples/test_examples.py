"""Every script in examples/ runs against the fake and does what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flux_flex.testing import FakeBFL
from PIL import Image

from .conftest import EXAMPLES, run_example


def image_format(path: Path) -> str | None:
    with Image.open(path) as image:
        image.verify()
        return image.format


def test_generate_sync(fake: FakeBFL, env: dict[str, str], tmp_path: Path) -> None:
    done = run_example("generate_sync.py", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert image_format(tmp_path / "out" / "fox.png") == "PNG"
    assert image_format(tmp_path / "out" / "lighthouse.jpg") == "JPEG"  # the API's default
    assert "Ready" in done.stdout  # the progress callback ran
    fox = next(r.json for r in fake.requests if r.json and r.json.get("seed") == 42)
    assert (fox["width"], fox["height"]) == (1024, 768)


def test_examples_run_offline_with_mock_and_no_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("BFL_API_KEY", "BFL_BASE_URL")}
    done = run_example("generate_async.py", env, tmp_path, "--mock")
    assert done.returncode == 0, done.stderr
    assert "offline" in done.stdout
    assert image_format(tmp_path / "out" / "owl.png") == "PNG"


def test_generate_async(env: dict[str, str], tmp_path: Path) -> None:
    done = run_example("generate_async.py", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert image_format(tmp_path / "out" / "fox.png") == "PNG"
    assert image_format(tmp_path / "out" / "owl.png") == "PNG"


def test_batch_generate_many(env: dict[str, str], tmp_path: Path) -> None:
    done = run_example("batch_generate_many.py", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ready: ") == 3
    assert done.stdout.count("finished") == 3
    assert image_format(tmp_path / "out" / "lake.png") == "PNG"  # save_to's extension chose it


def test_resume_task(fake: FakeBFL, env: dict[str, str], tmp_path: Path) -> None:
    done = run_example("resume_task.py", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "not ready yet" in done.stdout
    assert image_format(tmp_path / "out" / "resumed.png") == "PNG"
    # Resuming an id from elsewhere (the second form of the script).
    from flux_flex import FluxFlex

    with FluxFlex(api_key=fake.api_key, base_url=fake.base_url) as client:
        task_id = client.submit("an owl", output_format="png").id
    (tmp_path / "out" / "resumed.png").unlink()
    again = run_example("resume_task.py", env, tmp_path, task_id)
    assert again.returncode == 0, again.stderr
    assert "not ready yet" not in again.stdout
    assert image_format(tmp_path / "out" / "resumed.png") == "PNG"


def test_webhooks_receiver_completes_through_the_webhook(
    fake: FakeBFL, env: dict[str, str], tmp_path: Path
) -> None:
    done = run_example("webhooks_receiver.py", env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "webhook: task " in done.stdout
    assert "deliveries accepted: 1" in done.stdout
    assert image_format(tmp_path / "out" / "webhook-fox.png") == "PNG"
    assert any(delivery.ok for delivery in fake.deliveries)


def test_the_test_example_passes_under_pytest(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(EXAMPLES / "test_with_fake.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
