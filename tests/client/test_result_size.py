"""A `Result` in ``generate_many``'s list stays small: its ``raw`` answer keeps only what its
fields do not hold, yet reads exactly as the answer did.

The measure (`benchmarks.result_size`): tracemalloc's count of what the returned list
holds, per Result. It was about 1.4 KB with the fake's answers and 2 KB with vendor-like
ones (a 250-character signed URL, timings), since every answer was kept twice."""

from __future__ import annotations

import json
import pickle

import attrs
import pytest
from flux_flex import FluxFlex, Result, ResultInfo

from benchmarks.result_size import TARGET_BYTES, _answer, bytes_per_result


def test_a_result_in_the_list_is_at_most_half_a_kilobyte() -> None:
    assert bytes_per_result(200) <= TARGET_BYTES


def test_with_vendor_like_answers_too() -> None:
    # a 250-character signed URL and the timings: about 507 bytes, so a little slack
    assert bytes_per_result(200, vendor=True) <= TARGET_BYTES + 64


@pytest.mark.parametrize("vendor", [False, True])
def test_raw_reads_exactly_as_the_answer(vendor: bool) -> None:
    text = json.dumps(_answer("t-1", "a fox", 1234, vendor=vendor))
    answer = json.loads(text)
    inner = answer["result"]
    client = FluxFlex(api_key="k", base_url="http://127.0.0.1:9")
    result = Result(
        "t-1", inner["sample"], inner["seed"], inner["prompt"], json.loads(text),
        cost=answer["cost"], client=client,
    )  # fmt: skip
    assert result.raw == answer
    assert json.dumps(dict(result.raw)) == text  # the same keys, in the same order
    assert result.raw["result"]["sample"] == result.url
    assert attrs.evolve(result, path="fox.png").raw == answer
    moved = attrs.evolve(result, url="https://elsewhere.example/x.png")
    assert moved.raw["result"]["sample"] == moved.url  # raw and the fields agree
    info = ResultInfo("t-1", inner["sample"], inner["seed"], inner["prompt"], json.loads(text))
    assert pickle.loads(pickle.dumps(info)).raw == answer
    assert result == attrs.evolve(result)


def test_an_answer_json_cannot_hold_is_kept_as_given() -> None:
    odd = {"id": "t", "result": {"sample": "u", "when": (1, 2)}}
    client = FluxFlex(api_key="k", base_url="http://127.0.0.1:9")
    assert Result("t", "u", raw=odd, client=client).raw is odd
