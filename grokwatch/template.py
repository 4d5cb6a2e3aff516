"""The experiments file `grokwatch init` writes: the demo queue, then a reference of every
parameter of every kind generated from the kinds' specs (so it can never fall out of date)."""

from __future__ import annotations

import json
from typing import Any

from .config import demo_config_path
from .experiments import get_spec, kind_names


def _toml_value(v: Any) -> str:
    if v is None:
        return "(unset)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f" {k} = {_toml_value(x)}" for k, x in v.items()) + (" }" if v else "}")
    return repr(v)


def parameter_reference() -> str:
    lines = ["", "# " + "-" * 94, "# Reference: every parameter of every kind, with its default.", "#"]
    for kind in kind_names():
        spec = get_spec(kind)
        lines.append(f"# kind = \"{kind}\" -- {spec.doc}".rstrip(" -"))
        if spec.presets:
            default = f" (default: {spec.default_preset})" if spec.default_preset else ""
            lines.append(f"#   presets{default}: {', '.join(spec.presets)}")
        if spec.top_level:
            lines.append(f"#   experiment-level keys: {', '.join(spec.top_level)}")
        if spec.open_params:
            lines.append("#   [experiment.params] may also hold your own values, substituted as {name}")
        width = max((len(k) + len(_toml_value(p.default)) for k, p in spec.params.items()), default=0) + 3
        for key, p in spec.params.items():
            assign = f"{key} = {_toml_value(p.default)}"
            lines.append(f"#   {assign:<{width}}  # {p.doc}".rstrip())
        lines.append("#")
    return "\n".join(lines) + "\n"


def experiments_toml() -> str:
    return demo_config_path().read_text(encoding="utf-8").rstrip("\n") + "\n" + parameter_reference()
