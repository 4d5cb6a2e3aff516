"""Declarative parameter specs for experiment kinds.

Config validation needs every kind's parameters, defaults and ranges, but must not import
torch: so each kind declares a `KindSpec` here-style (plain data), and its training code
imports the heavy libraries only when it runs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


class ParamError(ValueError):
    """A parameter value that a kind cannot accept; `key` names the parameter."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


@dataclass(frozen=True)
class Param:
    """One parameter: default, accepted type(s), optional bounds or choices, a one-line doc."""

    default: Any
    type: type | tuple[type, ...]
    doc: str = ""
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: Sequence[Any] | None = None
    item_type: type | None = None  # for lists
    length: int | None = None  # for fixed-length lists
    nullable: bool = False
    check: Callable[[Any], str | None] | None = None  # returns an error message or None

    def type_name(self) -> str:
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
                 list: "a list", dict: "a table"}
        return " or ".join(names.get(t, t.__name__) for t in types)

    def validate(self, key: str, value: Any) -> Any:
        """Return the value, normalised (int -> float where a float is expected)."""
        if value is None and self.nullable:
            return None
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in types:
            raise ParamError(key, f"must be {self.type_name()}, not a boolean ({value!r})")
        if not isinstance(value, types):
            raise ParamError(key, f"must be {self.type_name()}, not {type(value).__name__} ({value!r})")
        if isinstance(value, list):
            if self.length is not None and len(value) != self.length:
                raise ParamError(key, f"must be a list of {self.length} values, got {len(value)}")
            if self.item_type is not None:
                item = Param(None, self.item_type, min=self.min, max=self.max,
                             min_exclusive=self.min_exclusive)
                value = [item.validate(key, v) for v in value]
            return value
        if self.choices is not None and value not in self.choices:
            hint = _did_you_mean(str(value), [str(c) for c in self.choices])
            options = ", ".join(repr(c) for c in self.choices)
            raise ParamError(key, f"must be one of {options}, not {value!r}{hint}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value:  # NaN
                raise ParamError(key, "must be a number, not NaN")
            if self.min is not None:
                if self.min_exclusive and value <= self.min:
                    raise ParamError(key, f"must be > {self.min}, got {value!r}")
                if not self.min_exclusive and value < self.min:
                    raise ParamError(key, f"must be >= {self.min}, got {value!r}")
            if self.max is not None and value > self.max:
                raise ParamError(key, f"must be <= {self.max}, got {value!r}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise ParamError(key, problem)
        return value


@dataclass(frozen=True)
class KindSpec:
    """What config validation and the worker need to know about one experiment kind.

    `module` is the dotted path of the module whose `run(ctx)` trains; it is imported only
    inside the worker. `presets` map a preset name to parameter overrides; `default_preset`
    is used when an experiment names none. `validate` checks combinations of parameters
    after each one passed its own `Param` check.
    """

    name: str
    module: str
    params: dict[str, Param]
    doc: str = ""
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_preset: str | None = None
    validate: Callable[[dict[str, Any]], None] | None = None
    # describe(params) -> {"n_train": ..., "n_test": ..., "total_steps": ...} where known;
    # the runner records it in config.json before the worker starts (progress, ETA, noise).
    describe: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    needs_torch: bool = False
    # Whether a run of this kind trains on a GPU when there is one; kinds that do not go to CPU
    # slots beside the GPU ones (runner/devices.py). An experiment's `gpu = false` overrides it.
    uses_gpu: bool = False
    # gpu_memory_mb(params) -> MB one run's own tensors need on a GPU (weights, grads, optimizer
    # state, data, activations; not the CUDA context, which the runner adds once per process):
    # runner/gpumem.py plans the processes per GPU with it. Kinds without it are planned at the
    # runner's default. `gpu_memory_shape`: the params that decide that memory (the key a run's
    # recorded peak is filed under, .grokwatch/gpu_peaks.json).
    gpu_memory_mb: Callable[[dict[str, Any]], float] | None = None
    gpu_memory_shape: tuple[str, ...] = ()
    # Keys a user writes at the experiment's top level (e.g. `command = [...]` for the command
    # kind); config moves them into params before resolving.
    top_level: tuple[str, ...] = ()
    # Params may hold keys the spec does not list (a user's own hyperparameters, substituted
    # into their command); such keys take scalars only.
    open_params: bool = False

    def resolve(self, given: dict[str, Any], preset: str | None = None) -> dict[str, Any]:
        """Defaults < preset < given; every key checked. Raises ParamError."""
        for key in given:
            if key not in self.params and self.open_params:
                if not isinstance(given[key], (str, int, float, bool)):
                    raise ParamError(key, f"must be a string, number or boolean, not "
                                     f"{type(given[key]).__name__}")
                continue
            if key not in self.params:
                raise ParamError(key, f"is not a parameter of kind {self.name!r}"
                                 f"{_did_you_mean(key, list(self.params))}")
        preset = preset if preset is not None else self.default_preset
        resolved = {k: p.default for k, p in self.params.items()}
        if preset is not None:
            if preset not in self.presets:
                raise ParamError("preset", f"{preset!r} is not a preset of kind {self.name!r}; "
                                 f"presets: {', '.join(sorted(self.presets))}"
                                 f"{_did_you_mean(preset, list(self.presets))}")
            resolved.update(self.presets[preset])
        resolved.update(given)
        out = {k: (self.params[k].validate(k, v) if k in self.params else v)
               for k, v in resolved.items()}
        if self.validate is not None:
            self.validate(out)
        return out


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


did_you_mean = _did_you_mean
