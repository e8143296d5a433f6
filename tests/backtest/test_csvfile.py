"""Exported series for ``alerter backtest --csv``: reading them, and the command's report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alerter.backtest import main
from alerter.backtest.csvfile import parse_time, read_csv
from alerter.core.errors import ConfigErrors

EPOCH = 1_795_010_400.0  # 2026-11-18T14:00Z


def test_times_are_seconds_milliseconds_or_iso() -> None:
    assert parse_time("1795010400") == EPOCH
    assert parse_time("1795010400000") == EPOCH
    assert parse_time("2026-11-18T14:00:00Z") == EPOCH
    assert parse_time("2026-11-18 15:00:00+01:00") == EPOCH
    assert parse_time("2026-11-18 14:00:00") == EPOCH  # no offset: UTC


def test_columns_become_series_named_by_their_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("time,ttft,errors\n1795010460,2,\n1795010400,1,0.5\n1795010520,NaN,null\n")
    ttft, errors = read_csv(path)
    assert dict(ttft.labels) == {"series": "ttft"} and dict(errors.labels) == {"series": "errors"}
    assert ttft.timestamps.tolist() == [EPOCH, EPOCH + 60, EPOCH + 120]
    assert ttft.values[:2].tolist() == [1.0, 2.0] and np.isnan(ttft.values[2])
    assert errors.values[0] == 0.5 and np.isnan(errors.values[1:]).all()


def test_every_bad_cell_is_reported_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,v\nyesterday,1\n1795010400,fast\n1795010460\n1795010520,3\n")
    with pytest.raises(ConfigErrors) as caught:
        read_csv(path)
    lines = [str(e) for e in caught.value.errors]
    assert any(f"{path}:2:1" in line and "cannot read time 'yesterday'" in line for line in lines)
    assert any(f"{path}:3:2" in line and "not a number: 'fast'" in line for line in lines)
    assert any(f"{path}:4" in line and "1 cells, the header has 2" in line for line in lines)


def test_a_file_without_rows_says_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("time,v\n")
    with pytest.raises(ConfigErrors, match="header row and at least two rows"):
        read_csv(path)


def test_a_wrong_file_stops_after_a_bounded_number_of_problems(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("time,v\n" + "x,y\n" * 100_000)
    with pytest.raises(ConfigErrors) as caught:
        read_csv(path)
    assert len(caught.value.errors) <= 25
    assert "too many problems" in str(caught.value.errors[-1])


RULES = """\
groups:
  - name: exported
    interval: 5m
    rules:
      - alert: LatencyAnomaly
        expr: ignored_with_csv
        baseline: {detector: stl}
"""


def test_backtest_csv_reports_what_the_rule_would_have_paged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = 300.0
    ts = EPOCH - 5 * 86400 + step * np.arange(5 * 288)
    rng = np.random.default_rng(11)
    vs = 100 + 30 * np.sin(2 * np.pi * ts / 86400) + rng.normal(0, 2, ts.size)
    hit = (ts >= EPOCH - 8 * 3600) & (ts < EPOCH - 7 * 3600)
    vs[hit] += 80
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("time,p99\n" + "".join(f"{t:.0f},{v:.3f}\n" for t, v in zip(ts, vs, strict=True)))
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    out_json = tmp_path / "result.json"
    assert main(["--csv", str(csv_path), "--rules", str(rules), "--json", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    pages = [e for e in doc["a"]["alerts"] if EPOCH - 8 * 3600 <= e["fired_at"] <= EPOCH - 7 * 3600]
    assert len(pages) == 1 and pages[0]["labels"]["series"] == "p99"
    assert "LatencyAnomaly" in capsys.readouterr().out


def test_backtest_without_csv_still_needs_config_and_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rules", "rules.yaml"]) == 1
    assert "needs --config, --from, --to" in capsys.readouterr().err


def test_backtest_csv_needs_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--csv", str(tmp_path / "x.csv")]) == 1
    assert "--csv needs --rules" in capsys.readouterr().err


def test_backtest_csv_with_a_config_replays_the_given_rules_in_place_of_its_own(tmp_path: Path) -> None:
    ts = EPOCH - 86400 + 300.0 * np.arange(288)
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("time,v\n" + "".join(f"{t:.0f},{1 + (i % 3)}\n" for i, t in enumerate(ts)))
    own = "groups:\n  - name: own\n    rules:\n      - {alert: FromConfig, expr: x, baseline: {detector: static, above: 0}}\n"
    (tmp_path / "own.yaml").write_text(own)
    config = tmp_path / "alerter.yaml"
    config.write_text("prometheus: {url: http://127.0.0.1:9}\nrule_files: [own.yaml]\n")
    given = own.replace("own", "given").replace("FromConfig", "Given")
    (tmp_path / "given.yaml").write_text(given)
    out_json = tmp_path / "result.json"
    args = ["--csv", str(csv_path), "--config", str(config), "--rules", str(tmp_path / "given.yaml")]
    assert main([*args, "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["a"]["rules"] == ["Given"]


def test_backtest_csv_refuses_a_threshold_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("time,p99\n" + "".join(f"{EPOCH + 60 * i:.0f},{i % 7}\n" for i in range(200)))
    rules = tmp_path / "rules.yaml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: Slow\n        expr: p99 > 5\n")
    assert main(["--csv", str(csv_path), "--rules", str(rules)]) == 1
    err = capsys.readouterr().err
    assert f"{rules}: rule Slow has no `baseline:`" in err and "add `baseline: {}`" in err
