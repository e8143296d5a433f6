"""Template dialects: one per rule, chosen from the syntax its templates use."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter import cli
from alerter.config import templates
from alerter.config.yamlfile import read

RULES = Path(__file__).parent / "rules"


@pytest.mark.parametrize(
    ("sources", "dialect"),
    [
        (["{{ labels.model_name }} is {{ value | duration }}"], "jinja"),
        (["plain text", "severity"], "jinja"),
        (["{{ $labels.instance }} down", "{{ $value | humanizePercentage }}"], "go"),
        (["{{ humanize 5 }}"], "go"),  # a function applied by juxtaposition
        (["{{ .Labels.job }}"], "go"),
        (["{{ $labels.instance }}", "no template here"], "go"),
        (["{{ value | humanize }}"], "jinja"),  # valid in both, but nothing Go-only in it
        (["{% if value > 1 %}{{ $x }}{% endif %}"], "jinja"),  # Go-marked, not Go; valid Jinja2
        (["{{ $labels.instance }}", "{{ labels.job }}"], "go"),  # neither dialect takes both: more Go marks
        (["{{ $labels.x }}", "{{ labels.a }} {% if value %}{{ value | duration }}{% endif %}"], "jinja"),
    ],
)
def test_dialect_of_a_rule(sources: list[str], dialect: str) -> None:
    assert templates.dialect(sources) == dialect


def test_problems_in_go_give_offsets_and_hints() -> None:
    (problem,) = templates.problems("{{ $value | humanise }}", "go")
    assert (problem.offset, problem.line) == (12, 1)
    assert "humanise" in problem.message and "humanize" in problem.hint


def test_a_jinja_template_in_a_go_rule_is_told_why() -> None:
    (problem,) = templates.problems("{{ labels.job }}", "go")
    assert "read as Go text/template" in problem.hint and "$labels" in problem.hint


def test_jinja_keeps_working_and_sees_the_new_context_entries() -> None:
    assert templates.problems("{{ external_url }} {{ labels.x }}") == []
    ctx = {"labels": {"x": "a"}, "value": 0.734}
    assert templates.render("{{ labels.x }} {{ value | duration }}", ctx) == "a 734ms"


def test_render_in_go_sees_alerter_numbers() -> None:
    ctx = {"labels": {"job": "api"}, "value": 0.5, "expected": 0.25, "tier": "stl", "rule": "R"}
    assert (
        templates.render("{{ $labels.job }} {{ $value }} vs {{ .Expected }} ({{ $tier }})", ctx, dialect="go")
        == "api 0.5 vs 0.25 (stl)"
    )


def test_a_community_rule_file_passes_check_and_renders_as_prometheus(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = RULES / "community-node.yaml"
    assert cli.main(["check", str(path)]) == 0, capsys.readouterr().err
    rules = read(path, what="rule file").data["groups"][0]["rules"]
    ctx = {
        # These expressions compute (a ratio, a rate), so their samples have no __name__.
        "labels": {"instance": "node1:9100", "job": "node"},
        "value": 0.0853,
        "rule": "X",
    }
    rendered = {}
    for rule in rules:
        sources = list(rule["annotations"].values())
        assert templates.dialect(sources) == "go"
        rendered[rule["alert"]] = {
            k: templates.render(v, ctx, dialect="go") for k, v in rule["annotations"].items()
        }
    assert (
        rendered["InstanceDown"]["description"]
        == "node1:9100 of job node has been down for more than 5 minutes."
    )
    assert rendered["HostOutOfMemory"]["description"] == (
        "Node memory is filling up (< 10% left)\n  VALUE = 8.53%\n  LABELS = map[instance:node1:9100 job:node]"
    )
    assert rendered["HostHighCpuLoad"]["summary"] == "CPU load is 0.09% on node1"
    assert rendered["HostHighCpuLoad"]["description"] == "high load; instance=node1:9100 job=node "


@pytest.mark.parametrize(
    ("source", "dialect", "reads"),
    [
        ("{{ $labels.instance }} on {{ .Labels.pod }}", "go", ["instance", "pod"]),
        (
            '{{ $.Labels.job }} {{ index $labels "zone" }} {{ humanize .Labels.x }}',
            "go",
            ["job", "zone", "x"],
        ),
        ("{{ $value }} {{ .Value }} {{ $externalLabels.cluster }} {{ $x.Labels.no }}", "go", []),
        (
            "{{ labels.model }} {{ labels['pod'] }} {{ labels.get('zone') }}",
            "jinja",
            ["model", "pod", "zone"],
        ),
        ("{% for k, v in labels.items() %}{{ k }}{% endfor %} labels.text {{ value }}", "jinja", []),
        ("{{ $labels.unclosed ", "go", []),
    ],
)
def test_label_reads_names_each_label_at_its_offset(
    source: str, dialect: templates.Dialect, reads: list[str]
) -> None:
    found = templates.label_reads(source, dialect)
    assert [name for name, _ in found] == reads
    for name, offset in found:
        assert source[offset : offset + len(name)] == name


def test_label_reads_finds_a_jinja_label_on_a_later_line() -> None:
    source = "Model {{ labels.model }}\nslow on {{ labels.pod }}"
    assert templates.label_reads(source) == [("model", 16), ("pod", source.index("pod }}"))]
