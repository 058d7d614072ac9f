"""PyYAML reads back exactly what the fast YAML writer writes, whatever the data."""

from __future__ import annotations

import math

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sluiceway.core.yaml_emitter import dumps

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.sampled_from(
        ["yes", "No", "ON", "null", "~", "1.5", "0o17", "1e3", "a: b", "a #b", "- x", "x\n", "x\n\n", " x\ny", "def f():\n    return 1\n"]
    )
)
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=25
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_pyyaml_reads_back_what_was_written(document):
    assert yaml.safe_load(dumps(document)) == document


def test_floats_keep_their_type():
    for value in (1e20, -2.5e-7, 3.0, math.inf, -math.inf):
        assert yaml.safe_load(dumps({"x": value})) == {"x": value}
    assert math.isnan(yaml.safe_load(dumps({"x": math.nan}))["x"])


def test_source_code_is_a_readable_block():
    assert dumps({"source": "def f():\n    return 1\n"}) == "source: |\n  def f():\n      return 1\n"


def test_words_yaml_would_misread_are_quoted():
    assert dumps({"answer": "no", "version": "1.10", "name": "train-model"}) == 'answer: "no"\nversion: "1.10"\nname: train-model\n'
