"""decisiongym.supervised: data, models, environments, learners, training dynamics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decisiongym.supervised.data import DATASETS, load_dataset
from decisiongym.supervised.models import (
    CELLS,
    MLP,
    LeNet,
    RecurrentNet,
    clip_grad_norm,
    conv_output_size,
    grad_norm,
)

torch.set_num_threads(1)


# ----- data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATASETS)
def test_loader_splits_are_disjoint_and_seeded(name: str) -> None:
    kw = {"n": 300} if name in ("adding", "copy", "long_dependency") else {}
    if name == "mnist1d":
        kw = {"mnist1d_samples": 400}
    a = load_dataset(name, seed=3, **kw)
    b = load_dataset(name, seed=3, **kw)
    c = load_dataset(name, seed=4, **kw)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)
    total = len(a.y_train) + len(a.y_val) + len(a.y_test)
    assert abs(len(a.y_test) - 0.2 * total) <= 1 and abs(len(a.y_val) - 0.15 * total) <= 1
    assert a.X_train.dtype == np.float32
    flat = [x.reshape(-1).tobytes() for x in (*a.X_train, *a.X_val, *a.X_test)]
    if name not in ("copy",):  # distinct examples may repeat in a tiny symbol alphabet
        assert len(set(flat)) >= 0.95 * total


def test_image_datasets_have_the_documented_shapes() -> None:
    digits = load_dataset("digits")
    assert digits.input_shape == (1, 8, 8) and digits.X_train.max() <= 1.0
    mnist = load_dataset("mnist")
    n = len(mnist.y_train) + len(mnist.y_val) + len(mnist.y_test)
    assert mnist.input_shape == (1, 28, 28) and n == 5000
    counts = np.bincount(np.concatenate([mnist.y_train, mnist.y_val, mnist.y_test]))
    assert counts.tolist() == [500] * 10
    m1 = load_dataset("mnist1d", mnist1d_samples=500)
    assert m1.input_shape == (1, 40) and m1.n_classes == 10


def test_mnist1d_leaves_the_global_rng_alone() -> None:
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    load_dataset("mnist1d", mnist1d_samples=100)
    assert np.array_equal(state, np.random.get_state()[1])  # noqa: NPY002


def test_sequence_tasks_follow_their_definition() -> None:
    add = load_dataset("adding", n=50, length=10)
    X, y = add.X_train, add.y_train
    assert X.shape[1:] == (10, 2) and np.all(X[:, :, 1].sum(axis=1) == 2)
    np.testing.assert_allclose((X[:, :, 0] * X[:, :, 1]).sum(axis=1), y, rtol=1e-6)
    cp = load_dataset("copy", n=50, length=3, gap=4, n_symbols=5)
    assert cp.X_train.shape[1:] == (2 * 3 + 4 + 1, 7) and cp.y_train.shape[1] == 3
    np.testing.assert_array_equal(cp.X_train[:, :3, :5].argmax(-1), cp.y_train)
    assert np.all(cp.X_train[:, 3 + 4, 6] == 1)  # the delimiter
    ld = load_dataset("long_dependency", n=50, gap=7, n_classes=3, n_distractors=2)
    assert ld.X_train.shape[1:] == (9, 6)
    np.testing.assert_array_equal(ld.X_train[:, 0].argmax(-1), ld.y_train)
    assert np.all(ld.X_train[:, 1:-1, :3] == 0) and np.all(ld.X_train[:, -1, 5] == 1)


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "cifar"}, "unknown dataset"),
    ({"name": "digits", "seed": -1}, "seed"),
    ({"name": "digits", "val_fraction": 0.0}, "val_fraction"),
    ({"name": "digits", "val_fraction": 0.5, "test_fraction": 0.6}, "< 1"),
    ({"name": "long_dependency", "gap": -2}, "gap"),
    ({"name": "adding", "length": 1}, "length"),
])
def test_loader_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


# ----- models ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_hand_written_cells_equal_torch_cells(kind: str) -> None:
    torch.manual_seed(0)
    cell = CELLS[kind](6, 9)
    ref = cell.torch_cell()
    x = torch.randn(5, 6)
    if kind == "lstm":
        state = (torch.randn(5, 9), torch.randn(5, 9))
        h, c = cell(x, state)
        h_ref, c_ref = ref(x, state)
        assert torch.allclose(h, h_ref, atol=1e-6) and torch.allclose(c, c_ref, atol=1e-6)
    else:
        h0 = torch.randn(5, 9)
        assert torch.allclose(cell(x, h0), ref(x, h0), atol=1e-6)
    # and the other way round: torch's weights loaded into ours, over a whole sequence
    other = CELLS[kind](6, 9)
    other.load_from_torch(ref)
    seq = torch.randn(4, 12, 6)
    state_a, state_b = other.initial_state(4), cell.initial_state(4)
    for t in range(12):
        state_a, state_b = other(seq[:, t], state_a), ref(seq[:, t], state_b)
    out_a = other.output(state_a)
    out_b = state_b[0] if kind == "lstm" else state_b
    assert torch.allclose(out_a, out_b, atol=1e-6)
    with pytest.raises(TypeError):
        other.load_from_torch(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("n, f, p, s", [(28, 5, 2, 1), (28, 5, 0, 1), (28, 3, 1, 2),
                                        (32, 5, 0, 2), (8, 3, 1, 1), (13, 4, 0, 3),
                                        (40, 5, 2, 1), (7, 7, 0, 1)])
def test_cnn_output_size_follows_the_seed_rule(n: int, f: int, p: int, s: int) -> None:
    expected = (n + 2 * p - f) // s + 1
    assert conv_output_size(n, f, p, s) == expected
    conv = torch.nn.Conv2d(1, 2, f, stride=s, padding=p)
    assert conv(torch.zeros(1, 1, n, n)).shape[-2:] == (expected, expected)
    net = LeNet((1, n, n), 10, conv=((4, f, p, s, 0),), hidden=(8,))
    assert net.features(torch.zeros(2, 1, n, n)).shape[1:] == net.feature_shape
    assert net(torch.zeros(2, 1, n, n)).shape == (2, 10)


def test_lenet_on_mnist_and_mnist1d_shapes() -> None:
    net = LeNet((1, 28, 28), 10)
    assert net.feature_shape == (16, 5, 5)  # LeNet-5: 28 -> 28 -> 14 -> 10 -> 5
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    net1 = LeNet((1, 40), 10, conv=((8, 5, 2, 1, 2), (16, 3, 0, 1, 2)))
    assert net1.feature_shape == (16, 9)
    assert net1(torch.zeros(3, 1, 40)).shape == (3, 10)
    with pytest.raises(ValueError, match="larger than"):
        conv_output_size(3, 5, 0, 1)


@pytest.mark.parametrize("init, factor", [("xavier", 1.0), ("he", 2.0)])
def test_mlp_initialisation_variance(init: str, factor: float) -> None:
    torch.manual_seed(0)
    net = MLP(400, 10, hidden=(300,), activation="relu", init=init)
    w = net.net[0].weight
    assert abs(float(w.detach().var()) * 400 / factor - 1.0) < 0.05
    assert float(net.net[0].bias.abs().max()) == 0.0
    with pytest.raises(ValueError, match="init"):
        MLP(4, 2, init="orthogonal")


def test_gradient_clipping_rescales_to_the_threshold() -> None:
    torch.manual_seed(0)
    net = RecurrentNet("rnn", 3, 5, 2)
    net(torch.randn(4, 6, 3)).pow(2).sum().mul(100).backward()
    before = grad_norm(net.parameters())
    assert clip_grad_norm(net.parameters(), 0.5) == pytest.approx(before)
    assert grad_norm(net.parameters()) == pytest.approx(0.5, rel=1e-5)
    assert clip_grad_norm(net.parameters(), 10.0) == pytest.approx(0.5, rel=1e-5)
    assert grad_norm(net.parameters()) == pytest.approx(0.5, rel=1e-5)  # below: unchanged
    with pytest.raises(ValueError, match="threshold"):
        clip_grad_norm(net.parameters(), 0.0)
