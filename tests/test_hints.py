"""The hints a clumsy user gets (issue 22): a typo in a layer spec names the unknown
option and the one it resembles; the textbook's data missing says where it was looked
for. (An unimported class named by a weights file is tests/test_extensions.py's.)"""
import pytest

from framework import HyperParameters, NeuralNet


@pytest.mark.parametrize("spec, unknown, meant", [
    ({"type": "conv", "filter": 4, "kernel": 3}, "filter", "filters"),
    ({"type": "conv", "filters": 4, "kernal": 3}, "kernal", "kernel"),
    ({"type": "fc", "sise": 3}, "sise", "size"),
    ({"type": "dropout", "rate": 0.5}, "rate", "ratio"),
])
def test_a_spec_typo_names_the_unknown_option(spec, unknown, meant):
    params = HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=4)
    shape = (1, 8, 8) if spec["type"] == "conv" else (8,)
    with pytest.raises(ValueError) as error:
        NeuralNet.from_specs(params, [spec], shape, "typo")
    message = str(error.value)
    assert message.startswith(f"layer spec 0 ({spec['type']!r}): ")
    assert f"unknown option {unknown!r} (did you mean {meant!r}?)" in message


def test_a_correct_spec_gets_no_hint():
    params = HyperParameters(learning_rate=0.1, max_epoch=1, batch_size=4)
    with pytest.raises(ValueError) as error:                  # a bad value, no typo
        NeuralNet.from_specs(params, [{"type": "fc", "size": 0}], (8,), "bad")
    assert "unknown option" not in str(error.value)
