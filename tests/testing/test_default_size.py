"""The size left to the model: one default, one rule, shared by the estimates and the fake.

Issue 19: `batch --dry-run` estimated 23.91 credits for a batch the fake billed 18.67, the
estimate assuming 1024x1024 where the fake rendered 1024x768. Both now follow
`pricing.output_size` with `pricing.DEFAULT_OUTPUT_SIZE` (docs/api-facts.md#size-left-to-the-model).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flux_flex import FluxFlex
from flux_flex._core import pricing
from flux_flex.cli.app import cli
from flux_flex.testing import FakeBFL
from flux_flex.testing._config import FakeConfig
from PIL import Image


def _png(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBFL]:
    with FakeBFL(task_seconds=0.01, deliver_webhooks=False) as server:
        yield server


# -- one default ---------------------------------------------------------------------------
def test_the_fake_renders_the_size_the_estimates_assume() -> None:
    assert FakeConfig().default_size == pricing.DEFAULT_OUTPUT_SIZE
    assert FakeBFL().config.default_size == pricing.DEFAULT_OUTPUT_SIZE


# -- one rule ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("width", "height", "inputs", "expected"),
    [
        (800, 600, [], (800, 600, None)),
        (800, 600, [(10, 20)], (800, 600, None)),  # given sizes win over the input's
        (None, None, [], (1024, 1024, "output size left to the model, assumed 1024x1024")),
        (0, 0, [], (1024, 1024, "output size left to the model, assumed 1024x1024")),
        (512, None, [], (512, 1024, "output size left to the model, assumed 512x1024")),
        (0, 640, [], (1024, 640, "output size left to the model, assumed 1024x640")),
        (
            None,
            None,
            [(80, 72), (10, 10)],
            (80, 72, "output size taken from the first input image (80x72)"),
        ),
        (
            None,
            96,
            [(80, 72)],
            (80, 96, "output size taken from the first input image (80x96)"),
        ),
        # The first input image is a URL (size unknown): the default, not the second's.
        (
            None,
            None,
            [None, (80, 72)],
            (1024, 1024, "output size left to the model, assumed 1024x1024"),
        ),
    ],
)
def test_output_size(
    width: int | None,
    height: int | None,
    inputs: list[tuple[int, int] | None],
    expected: tuple[int, int, str | None],
) -> None:
    assert pricing.DEFAULT_OUTPUT_SIZE == (1024, 1024)  # the rows above are written for it
    assert pricing.output_size(width, height, inputs) == expected


def test_output_size_takes_another_default() -> None:
    assert pricing.output_size(None, 100, [], default=(96, 80))[:2] == (96, 100)


# -- the estimate is what the fake bills -----------------------------------------------------
REQUESTS: dict[str, dict[str, Any]] = {
    "no size": {},
    "width 0, height 0": {"width": 0, "height": 0},
    "width only": {"width": 512},
    "height only": {"height": 640},
    "edit, size from the input": {"input_images": [_png(80, 72)]},
    "edit by URL": {"input_images": ["https://images.example/cat.png"]},
    "both given": {"width": 1920, "height": 1080},
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_the_estimate_of_a_request_is_what_the_fake_bills_for_it(name: str, fake: FakeBFL) -> None:
    params = REQUESTS[name]
    with FluxFlex(api_key=fake.api_key, base_url=fake.base_url, max_retries=0) as client:
        estimate = client.estimate_cost(f"a fox, {name}", **params)
        job = client.submit(f"a fox, {name}", **params)
    task = fake.task(job.id)
    assert (estimate.credits, estimate.output_mp) == (job.cost, job.output_mp)
    assert (estimate.credits, estimate.output_mp) == (task.cost, task.output_mp)
    width, height, _ = pricing.output_size(
        params.get("width"), params.get("height"), [(80, 72)] if "edit, size" in name else []
    )
    assert (task.width, task.height) == (width, height)


def test_a_dry_run_estimates_what_the_batch_then_costs(fake: FakeBFL, tmp_path: Path) -> None:
    # The case: mostly prompts without a size, as a prompts file has them.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "a fox in snow\na heron at dawn\na lighthouse\n"
        '{"prompt": "a wide valley", "width": 1536, "height": 640}\n'
        '{"prompt": "a tall tower", "height": 1280}\n'
    )
    env = {"BFL_API_KEY": fake.api_key, "BFL_BASE_URL": fake.base_url}
    out = tmp_path / "out"
    runner = CliRunner()
    dry = runner.invoke(
        cli, ["batch", str(prompts), "--out-dir", str(out), "--dry-run", "--json"], env=env
    )
    assert dry.exit_code == 0, dry.output
    plan = json.loads(dry.stdout)
    before = {task.id for task in fake.tasks.values()}
    ran = runner.invoke(cli, ["batch", str(prompts), "--out-dir", str(out), "--json"], env=env)
    assert ran.exit_code == 0, ran.output
    billed = [task.cost for task in fake.tasks.values() if task.id not in before]
    assert len(billed) == 5
    assert plan["estimated_credits"] == pytest.approx(sum(billed), abs=0.011)
