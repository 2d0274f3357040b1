"""Numbers that carry their source through the arithmetic a template does."""

import pickle

from mnist_course.sourced import Sourced, SourcedInt, source_of, sourced, stat

MEAN = sourced(99.446, ("stat", "mean", (("a", 0),)))
OTHER = sourced(99.414, ("stat", "mean", (("b", 0),)))


def test_arithmetic_between_sourced_values_is_sourced_by_the_operation():
    difference = MEAN - OTHER
    assert isinstance(difference, Sourced)
    assert source_of(difference) == ("op", "sub", MEAN.source, OTHER.source)
    assert source_of(round(MEAN, 2) - OTHER)[2] == ("op", "round2", MEAN.source)
    assert source_of(-difference) == ("op", "neg", difference.source)


def test_whole_number_literals_keep_the_source_and_typed_decimals_do_not():
    params = sourced(7770, ("record", "m", 0, "params"))
    assert isinstance(params, SourcedInt) and source_of(100 * params)[1] == "mul"
    assert source_of(sum([MEAN, OTHER])) == ("op", "add", ("op", "add", ("literal", 0),
                                                          MEAN.source), OTHER.source)
    assert source_of(MEAN + 0.01) is None  # a typed decimal: a bare number
    assert source_of(12.34) is None and source_of(7) is None


def test_a_sourced_value_survives_pickling_and_plain_json_values_pass():
    value = stat(99.5, "mean", [{"model_id": "m", "seed": 1}, {"model_id": "m", "seed": 0}])
    assert value.source == ("stat", "mean", (("m", 0), ("m", 1)))
    assert pickle.loads(pickle.dumps(value)).source == value.source
    assert sourced(None, ("constant", "X")) is None and sourced(True, ("constant", "X")) is True
