"""Each detector explains its verdict: words, units, sigmas only where a detector has them.

Burn-rate and forecast cases run the real detectors and read their verdicts, so a change to a
detector's reason that the explanation no longer understands fails here.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from alerter import detect
from alerter.detect.explain import Explanation, Numbers, RuleFacts, explain
from alerter.detect.units import parse

SECONDS = parse("seconds")
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
DAY = 86400.0


def latency(unit: str | None = "seconds", **baseline: object) -> RuleFacts:
    return RuleFacts(
        baseline={"detector": "auto", **baseline}, unit=parse(unit) if unit else None, window=600.0
    )


@pytest.mark.parametrize(
    ("tier", "numbers", "facts", "said"),
    [
        (
            "stl(1d)",
            Numbers(2.42, 0.61, 0.40, 0.82, 0.9, "stl(1d)"),
            latency(),
            Explanation(
                "2.42 s vs 0.61 s expected (band 0.40–0.82 s)",
                "25.9σ above · 90% of the last 10m out of band",
            ),
        ),
        (
            "ewma below",
            Numbers(0.12, 0.61, 0.40, 0.82, 1.0, "ewma"),
            latency(),
            Explanation(
                "120 ms vs 610 ms expected (band 400–820 ms)",
                "7.0σ below · 100% of the last 10m out of band",
            ),
        ),
        (
            "mstl with min_deviation",
            Numbers(2.0, 1.0, 0.5, 1.5, 0.8, "mstl(1d,1w)"),
            latency(sensitivity=2, min_deviation=0.3),
            Explanation(
                "2.00 s vs 1.00 s expected (band 0.50–1.50 s)",
                "10.0σ above · 80% of the last 10m out of band",
            ),
        ),
        (
            "no unit",
            Numbers(0.82, 0.31, 0.22, 0.40, 0.9, "stl"),
            latency(None),
            Explanation(
                "0.82 vs 0.31 expected (band 0.22–0.4)", "17.0σ above · 90% of the last 10m out of band"
            ),
        ),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_band_detectors(tier: str, numbers: Numbers, facts: RuleFacts, said: Explanation) -> None:
    assert explain(numbers, facts) == said


def test_a_spend_band_never_goes_below_zero() -> None:
    facts = RuleFacts(baseline={}, unit=parse("usd"), window=300.0)
    said = explain(Numbers(12.0, 3.0, -2.5, 8.5, 1.0, "ewma"), facts)
    assert said.headline == "$12.00 vs $3.00 expected (band $0–$8.50)"
    assert said.detail.startswith("4.9σ above"), "sigmas come from the band as fitted, not as cut"


def test_a_band_of_free_text_units_may_be_negative() -> None:
    facts = RuleFacts(baseline={}, unit=parse("°C"), window=300.0)
    assert "band -2.5–8.5 °C" in explain(Numbers(12.0, 3.0, -2.5, 8.5, 1.0, "ewma"), facts).headline


def test_an_unknown_rule_or_a_sigma_free_tier_says_no_sigma() -> None:
    numbers = Numbers(2.42, 0.61, 0.40, 0.82, 0.9, "stl")
    assert "σ" not in str(explain(numbers, RuleFacts(unit=SECONDS)))
    other = Numbers(2.42, 0.61, 0.40, 0.82, 0.9, "daybefore")
    assert "σ" not in str(explain(other, latency()))


def burn_verdict(error_ratio_after: float, start: float = 6000.0) -> Numbers:
    det = detect.build({"detector": "burn_rate", "objective": 0.999}).fit(np.empty(0), np.empty(0))
    ts = np.arange(0.0, 7200.0, 60.0)
    vs = np.where(ts > start, error_ratio_after, 0.001)
    return Numbers.of_verdict(det.evaluate(ts, vs))


def test_burn_rate_tells_the_fastest_firing_window_pair() -> None:
    facts = RuleFacts(baseline={"detector": "burn_rate", "objective": 0.999}, unit=parse("ratio"))
    said = explain(burn_verdict(0.09), facts)
    assert said.headline == "burning 29.2× over 1h and 90.0× over 5m (fires above 14.4×)"
    assert said.detail == (
        "error ratio 9.00% (99.9% objective) · 4.1% of a 30-day budget spent in the last hour"
        " · 6h/30m: 15.1× and 57.4× (fires above 6×)"
    )
    assert "σ" not in str(said) and "band" not in str(said)


def test_burn_rate_below_its_factors_tells_the_closest_pair() -> None:
    facts = RuleFacts(baseline={"detector": "burn_rate", "objective": 0.999})
    said = explain(burn_verdict(0.005, start=0.0), facts)
    assert said.headline == "burning 5.0× over 6h and 5.0× over 30m (fires above 6×)"


def test_burn_rate_with_a_reason_it_did_not_write_falls_back_to_the_band() -> None:
    facts = RuleFacts(baseline={"detector": "burn_rate", "objective": 0.999}, unit=parse("ratio"))
    numbers = Numbers(0.05, 0.001, 0.0, 0.0144, 1.0, "burn_rate", reason="flapping: 5 changes")
    said = explain(numbers, facts)
    assert said.headline == "5.00% vs 0.10% expected (band 0–1.44%)" and "σ" not in said.detail


def spend(per_day: float, days: float, budget: float = 1000.0, period: str = "month") -> Numbers:
    baseline = {"detector": "forecast", "budget": budget, "period": period}
    ts = T0 + np.arange(0.0, days * DAY, 3600.0)
    values = per_day * (ts - T0) / DAY
    det = detect.build(baseline).fit(ts, values)
    return Numbers.of_verdict(det.evaluate(ts, values))


FORECAST = {"detector": "forecast", "budget": 1000, "period": "month"}


def test_forecast_says_when_the_budget_runs_out() -> None:
    numbers = spend(40.0, 18)  # $40 a day from 1 Dec: $1,240 by 31 Dec, $1,000 reached on 26 Dec
    said = explain(numbers, RuleFacts(baseline=FORECAST, unit=parse("usd")))
    assert said.headline == "$1,240.00 of $1,000.00 by 31 Dec at the current rate"
    assert said.detail == "budget runs out on 26 Dec (in 7 days) · $718.33 spent so far this period"


def test_forecast_counts_days_from_the_time_it_is_told() -> None:
    numbers = spend(40.0, 18)
    facts = RuleFacts(baseline=FORECAST, unit=parse("usd"))
    assert "budget runs out on 26 Dec (in 2 days)" in explain(numbers, facts, now=T0 + 23 * DAY).detail
    assert "(in 14h)" in explain(numbers, facts, now=T0 + 24 * DAY + 10 * 3600).detail
    assert "(in 30m)" in explain(numbers, facts, now=T0 + 25 * DAY - 1800).detail


def test_forecast_within_budget_says_so() -> None:
    said = explain(spend(10.0, 10), RuleFacts(baseline=FORECAST, unit=parse("eur")))
    assert said.headline == "€310.00 of €1,000.00 projected by 31 Dec, within budget"
    assert "runs out" not in said.detail


def test_forecast_without_a_currency_writes_plain_amounts() -> None:
    said = explain(spend(40.0, 18), RuleFacts(baseline=FORECAST))
    assert said.headline == "1,240 of 1,000 by 31 Dec at the current rate"


def test_forecast_across_a_year_end_names_the_year() -> None:
    numbers = spend(80.0, 30, budget=4000.0, period="week")
    facts = RuleFacts(baseline={**FORECAST, "budget": 4000.0, "period": "week"}, unit=parse("usd"))
    said = explain(numbers, facts, now=numbers.at)
    # 31 Dec 2026 is a Thursday: the week ends on Sunday 3 Jan 2027.
    assert said.headline.endswith("by 3 Jan 2027, within budget")


@pytest.mark.parametrize(
    ("value", "fraction", "said"),
    [
        (2.42, 1.0, Explanation("2.42 s, above the 0.50 s limit", "100% of the last 10m beyond the limit")),
        (
            0.31,
            0.0,
            Explanation("310 ms, within its limits (under 500 ms)", "0% of the last 10m beyond the limit"),
        ),
    ],
)
def test_static_says_the_limit(value: float, fraction: float, said: Explanation) -> None:
    facts = latency(detector="static", above=0.5)
    assert explain(Numbers(value, 0.3, -math.inf, 0.5, fraction, "static"), facts) == said


def test_static_while_learning_uses_the_rule_guard() -> None:
    """A series with no baseline yet is judged by the rule's ``when:`` (engine.evaluate)."""
    facts = RuleFacts(baseline={}, unit=SECONDS, window=300.0, above=0.5)
    said = explain(Numbers(0.7, tier="static", fraction=0.8), facts)
    assert said.headline == "700 ms, above the 500 ms limit"


def test_static_below() -> None:
    facts = RuleFacts(baseline={"detector": "static", "below": 10}, unit=parse("requests/s"))
    said = explain(Numbers(2.0, tier="static", fraction=1.0), facts)
    assert said.headline == "2.0 requests/s, below the 10.0 requests/s limit"


def test_threshold_rules_say_the_value_only() -> None:
    said = explain(Numbers(2.42, tier="threshold"), RuleFacts(unit=SECONDS))
    assert said == Explanation("2.42 s")


def test_no_value_says_why() -> None:
    assert explain(Numbers(math.nan, reason="no samples"), latency()) == Explanation("No value", "no samples")


def test_str_joins_headline_and_detail() -> None:
    assert str(Explanation("a", "b")) == "a · b" and str(Explanation("a")) == "a"
