"""Generate one image with the synchronous client.

python examples/generate_sync.py          # real API: needs BFL_API_KEY
python examples/generate_sync.py --mock   # offline, on the built-in fake
"""

from __future__ import annotations

from _offline import offline_if_requested
from flux_flex import FluxFlex, TaskSnapshot


def show(snapshot: TaskSnapshot) -> None:
    progress = "" if snapshot.progress is None else f" {snapshot.progress:.0%}"
    print(f"  {snapshot.status}{progress}")


def main() -> None:
    with FluxFlex() as client:  # api key from BFL_API_KEY
        job = client.submit(
            "a red fox in fresh snow, golden hour",
            width=1024,
            height=768,
            seed=42,
            output_format="png",
        )
        print(f"submitted {job.id}, cost {job.cost} credits")
        result = job.wait(timeout=300, on_progress=show)
        path = result.save("out/fox.png")  # download promptly: the URL expires in ~10 min
        print(f"saved {path} (seed {result.seed})")

        # Or all in one call: submit, wait, save.
        result = client.generate("a lighthouse at dusk", save_to="out/lighthouse.jpg")
        print(f"saved {result.path} from task {result.id}")


if __name__ == "__main__":
    with offline_if_requested():
        main()
