"""The memory a `Result` in ``generate_many``'s list holds: bytes per Result.

Standalone (``python -m benchmarks.result_size``): one ``generate_many`` of ``count``
prompts (nothing saved) against an in-process API (``httpx.MockTransport``: every task is
Ready at its first poll), and tracemalloc's count of what the returned list holds —
measured as the memory freed when the list is dropped, divided by the number of Results.
Everything a Result keeps counts: the object, its strings (id, sample URL, prompt), its
numbers and its ``raw`` answer; it holds no image bytes. The target is 512 bytes.

``vendor=True`` answers like the vendor's API: a signed sample URL of about 250 characters
and the timing keys the guides show (``start_time``, ``end_time``, ``duration``), with
``progress``/``details``/``preview`` null; otherwise the fake's shape (a short local URL,
``duration`` only).
"""

from __future__ import annotations

import gc
import itertools
import json
import tracemalloc
import uuid

import httpx

__all__ = ["TARGET_BYTES", "bytes_per_result"]

TARGET_BYTES = 512
BASE = "http://127.0.0.1:9"


def _answer(task_id: str, prompt: str, seed: int, *, vendor: bool) -> dict[str, object]:
    if not vendor:
        sample = f"{BASE}/delivery/{task_id.replace('-', '')[:22]}/sample.jpeg"
        result = {"sample": sample, "prompt": prompt, "seed": seed, "duration": 0.0}
        return {"id": task_id, "status": "Ready", "result": result, "progress": 1.0, "cost": 5.24}
    sig = task_id.replace("-", "") + f"{seed:011d}"
    sample = (
        f"https://delivery-eu1.bfl.ai/results/{task_id[:2]}/{task_id[2:8]}/{task_id}/"
        "sample.jpeg?se=2026-12-08T01%3A20%3A00Z&sp=r&sv=2024-11-04&sr=b"
        f"&rsct=image/jpeg&skoid=0f1e2d3c&sig={sig}%3D"
    )
    result = {
        "sample": sample, "prompt": prompt, "seed": seed,
        "start_time": 1765156800.123, "end_time": 1765156805.456, "duration": 5.333,
    }  # fmt: skip
    return {
        "id": task_id, "status": "Ready", "result": result, "progress": None,
        "details": None, "preview": None, "cost": 5.24,
    }  # fmt: skip


def _api(*, vendor: bool) -> httpx.MockTransport:
    prompts: dict[str, str] = {}
    seeds = itertools.count(1_000_000_000)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            task_id = str(uuid.uuid4())
            prompts[task_id] = json.loads(request.content)["prompt"]
            polling_url = f"{BASE}/v1/get_result?id={task_id}"
            return httpx.Response(200, json={"id": task_id, "polling_url": polling_url})
        task_id = request.url.params["id"]
        answer = _answer(task_id, prompts.pop(task_id), next(seeds), vendor=vendor)
        return httpx.Response(200, content=json.dumps(answer).encode())

    return httpx.MockTransport(handle)


def bytes_per_result(count: int = 1000, *, vendor: bool = False) -> float:
    """Bytes held per `Result` in the list ``generate_many`` returns for ``count`` prompts."""
    from flux_flex import FluxFlex, PollSchedule
    from flux_flex._core.answer import _SHARED as shared_rests

    prompts = [f"a red fox number {n} in the snow at dawn" for n in range(count)]
    schedule = PollSchedule(initial=0.001, min_interval=0.001)
    with httpx.Client(transport=_api(vendor=vendor)) as http:
        client = FluxFlex(api_key="k", base_url=BASE, http_client=http, poll_schedule=schedule)
        client.generate_many(prompts[:4], concurrency=4)  # warm: imports, caches
        gc.collect()
        tracemalloc.start()
        try:
            outcomes = client.generate_many(prompts, concurrency=8)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise RuntimeError(f"{len(failed)} of {count} failed: {failed[0]!r}")
            del outcomes
            shared_rests.clear()  # rests shared between results count too (conservative)
            gc.collect()
            freed = held - tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    return freed / count


if __name__ == "__main__":
    for vendor in (False, True):
        size = bytes_per_result(vendor=vendor)
        kind = "vendor-like answers" if vendor else "the fake's answers"
        print(f"Result size ({kind}): {size:.0f} bytes (target {TARGET_BYTES})")
