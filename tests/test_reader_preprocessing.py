"""A reader's preprocessing travels inside the weights file: a saved house net predicts
dollars from raw features in a new process, with no sidecar; other data options are
refused with one line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from reader_files import house_rows, write_house_csv, write_mnist_set

import framework as fw
from datareaders import FashionMnistDataReader, HousePriceReader, MnistImageDataReader
from datareaders.preprocessing import (apply_preprocessing, check_reader_options,
                                       preprocessing_metadata, restore_preprocessing)
from framework.enums import NetType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def house(tmp_path):
    csv = write_house_csv(tmp_path / "kc_house_data.csv", house_rows(60))
    reader = HousePriceReader(csv_path=csv, log_price=True, seed=4).read_data()
    reader.normalize_x()
    reader.normalize_y(NetType.FITTING)
    params = fw.HyperParameters(learning_rate=0.01, max_epoch=1, batch_size=8,
                                net_type="fitting", optimizer_name="adam", seed=2)
    net = fw.NeuralNet.from_specs(params, fw.mlp_specs([6], 1, "relu"), reader.num_feature)
    return reader, net, csv


PREDICT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from framework import NeuralNet
from datareaders import HousePriceReader
from datareaders.preprocessing import restore_preprocessing
net = NeuralNet.load(sys.argv[2])
reader = restore_preprocessing(HousePriceReader(log_price=True), net.metadata["data"])
raw = np.load(sys.argv[3])
dollars = reader.de_normalize_y(net.inference(reader.transform_x(raw)))
np.save(sys.argv[4], dollars)
print(json.dumps(net.metadata["app"]))
"""


def test_a_saved_house_net_predicts_dollars_from_raw_features_in_a_new_process(house,
                                                                                tmp_path):
    reader, net, csv = house
    raw = HousePriceReader(csv_path=csv, log_price=True, seed=4).read_data().x_test
    expected = reader.de_normalize_y(net.inference(reader.transform_x(raw)))
    assert expected.min() > 1000                     # dollars, not scaled log prices
    path = tmp_path / "house.h5"
    net.save(path, metadata={"app": "house_price", "data": preprocessing_metadata(reader)})
    assert sorted(os.listdir(tmp_path)) == ["house.h5", "kc_house_data.csv"]   # no sidecar
    np.save(tmp_path / "raw.npy", raw)
    done = subprocess.run([sys.executable, "-c", PREDICT, ROOT, str(path),
                           str(tmp_path / "raw.npy"), str(tmp_path / "out.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == "house_price"
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_apply_preprocessing_prepares_new_sets_exactly_as_in_training(house):
    reader, _, csv = house
    again = HousePriceReader(csv_path=csv, log_price=True, seed=4).read_data()
    apply_preprocessing(again, preprocessing_metadata(reader))
    for name in ("x_train", "x_test", "y_train", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(reader, name))
    assert again.net_type == NetType.FITTING


def test_a_reader_with_other_data_options_is_refused(house, tmp_path):
    reader, _, csv = house
    metadata = preprocessing_metadata(reader)
    with pytest.raises(ValueError, match=r"^the weights file was trained with "
                       r"log_price=True, but the reader has log_price=False$"):
        restore_preprocessing(HousePriceReader(csv_path=csv, log_price=False), metadata)
    with pytest.raises(ValueError, match="trained on data from a HousePriceReader, not a "
                       "MnistImageDataReader"):
        check_reader_options(MnistImageDataReader(tmp_path), metadata)
    npz_reader = HousePriceReader.from_npz(tmp_path / "a.npz", tmp_path / "b.npz",
                                           log_price=True)
    with pytest.raises(ValueError, match="trained with feature_names="):
        check_reader_options(npz_reader, metadata)


def test_fashion_and_mnist_options_differ(tmp_path):
    write_mnist_set(tmp_path / "mnist")
    mnist = MnistImageDataReader(tmp_path).read_data()
    mnist.normalize_y(NetType.MULTIPLE_CLASSIFIER)
    metadata = preprocessing_metadata(mnist)
    assert metadata["options"]["dataset"] == "mnist" and metadata["num_category"] == 10
    with pytest.raises(ValueError, match="trained with dataset='mnist', but the reader has "
                       "dataset='fashion'"):
        check_reader_options(MnistImageDataReader(tmp_path, dataset="fashion"), metadata)
    with pytest.raises(ValueError, match="MnistImageDataReader, not a FashionMnistDataReader"):
        check_reader_options(FashionMnistDataReader(tmp_path), metadata)
    again = MnistImageDataReader(tmp_path).read_data()
    apply_preprocessing(again, metadata)
    np.testing.assert_array_equal(again.y_train, mnist.y_train)


@pytest.mark.parametrize("change, words", [
    (lambda m: m.__setitem__("x_range", np.zeros_like(m["x_range"])), "x_range must have"),
    (lambda m: m.__setitem__("y_min", None), "y_min and y_range must be saved together"),
    (lambda m: m.__setitem__("x_min", np.array([np.nan])), "x_min must hold finite numbers"),
    (lambda m: m.__setitem__("num_category", 0), "num_category must be a positive int"),
    (lambda m: m.pop("net_type"), "lack ['net_type']"),
    (lambda m: m.__setitem__("net_type", "ranking"), "net_type"),
])
def test_damaged_preprocessing_metadata_is_refused(house, change, words):
    reader, _, csv = house
    metadata = preprocessing_metadata(reader)
    change(metadata)
    with pytest.raises(ValueError) as info:
        restore_preprocessing(HousePriceReader(csv_path=csv, log_price=True, seed=4), metadata)
    assert words in str(info.value), str(info.value)
