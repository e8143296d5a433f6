"""Rule packs chosen per server in the shipped configs: deploy/alerter.yaml loads the vLLM and
LiteLLM packs and offers the others commented out; the demo reads only what its simulator serves.

The Kubernetes manifests and the Helm chart make the same choice (``test_kubernetes.py``,
``test_helm.py``); ``RULE_PACKS`` in ``deploy_kit`` is the one table of which file belongs to
which server.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from deploy_kit import DEFAULT_PACKS, DEPLOY, REPO, RULE_PACKS, metric_names, pack_files, rule_file_entries

from alerter.config import load

RULES = REPO / "rules"


def test_every_shipped_rule_file_is_in_exactly_one_pack() -> None:
    shipped = [*sorted(p.name for p in RULES.glob("*.yaml")), "unified/llm.yaml"]
    files = pack_files(*RULE_PACKS)
    assert sorted(files) == sorted(shipped), "a new rule file needs its pack in RULE_PACKS and the configs"
    assert len(files) == len(set(files))


def test_packs_read_only_their_servers_metrics() -> None:
    """The table is true to the files: a vLLM pack reads vllm:* and a LiteLLM pack litellm_*
    (spend's self-hosted forecast also reads engine token counters times llm:token_price_usd)."""
    prefixes: dict[str, tuple[str, ...]] = {
        "vllm": ("vllm:",),
        "tgi": ("tgi_",),
        "sglang": ("sglang:",),
        "otel-genai": ("gen_ai_",),
    }
    prefixes["litellm"] = ("litellm_", "llm:token_price_usd", "vllm:", "sglang:")
    prefixes["unified"] = ("llm:",)
    for pack, files in RULE_PACKS.items():
        for name in files:
            doc = yaml.safe_load((RULES / name).read_text())
            read = {m for g in doc["groups"] for r in g["rules"] for m in metric_names(r["expr"])}
            assert read, name
            assert all(m.startswith(prefixes[pack]) for m in read), (pack, name, sorted(read))


def test_host_config_loads_the_default_packs_and_offers_the_others() -> None:
    config = DEPLOY / "alerter.yaml"
    enabled, commented = rule_file_entries(config.read_text())
    assert enabled == [f"../rules/{name}" for name in pack_files(*DEFAULT_PACKS)]
    others = [pack for pack in RULE_PACKS if pack not in DEFAULT_PACKS]
    assert sorted(commented) == sorted(f"../rules/{name}" for name in pack_files(*others))
    for entry in commented:
        assert (config.parent / entry).is_file(), f"uncommenting {entry} must load a file"
    bundle = load(config)
    assert [Path(r.path).resolve() for r in bundle.rule_files] == [
        (RULES / name).resolve() for name in pack_files(*DEFAULT_PACKS)
    ]


def test_uncommenting_a_pack_loads_it(tmp_path: Path) -> None:
    """The commented lines are valid entries as they stand: remove the '# ' and the pack loads."""
    text = (DEPLOY / "alerter.yaml").read_text().replace("# - ../rules/tgi.yaml", "- ../rules/tgi.yaml")
    config = tmp_path / "deploy" / "alerter.yaml"
    config.parent.mkdir()
    (tmp_path / "rules").symlink_to(RULES)
    config.write_text(text)
    assert "tgi.yaml" in {Path(r.path).name for r in load(config).rule_files}


def test_the_demo_rules_read_only_what_the_simulator_serves() -> None:
    """``make demo`` runs deploy/demo/rules.yaml on the simulator's vLLM series (it serves LiteLLM's too)."""
    doc = yaml.safe_load((DEPLOY / "demo" / "rules.yaml").read_text())
    read = {m for g in doc["groups"] for r in g["rules"] for m in metric_names(r["expr"])}
    assert read and all(m.startswith("vllm:") for m in read), read
