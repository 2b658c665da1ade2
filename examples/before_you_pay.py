"""Check a request, estimate its cost and compare it with the balance before paying.

python examples/before_you_pay.py          # real API: needs BFL_API_KEY
python examples/before_you_pay.py --mock   # offline, on the built-in fake
"""

from __future__ import annotations

from _offline import offline_if_requested
from flux_flex import FluxFlex


def main() -> None:
    prompt = "a harbour at dawn, long exposure"
    params = {"width": 1920, "height": 1080, "seed": 7}
    with FluxFlex() as client:
        # Raises RequestValidationError naming every bad field; sends nothing.
        client.validate(prompt, save_to="out/harbour.png", **params)
        estimate = client.estimate_cost(prompt, **params)  # local: the API's cost decides
        balance = client.credits()  # GET /v1/credits: free
        print(f"about {estimate}, balance {balance:,.2f} credits")  # 10.37 credits (0.10 USD)
        if estimate.credits > balance:
            raise SystemExit("not enough credits: nothing was sent")
        patient = client.with_options(timeout=60, max_retries=4)  # shares the connections
        result = patient.generate(prompt, save_to="out/harbour.png", **params)
        print(f"saved {result.path}, settled cost {result.cost} credits")


if __name__ == "__main__":
    with offline_if_requested():
        main()
