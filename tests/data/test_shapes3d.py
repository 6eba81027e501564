import contextlib
import pickle
import warnings

import h5py
import numpy as np
import pytest
import torch

from pyrodisent.data import ArrayDataset, Batch
from pyrodisent.data.ground_truth import factor_grid_index
from pyrodisent.data.shapes3d import (SHAPES3D_FILENAME, Shapes3D, SlowLayoutWarning, factor_value_table, hue_to_rgb,
                                      rechunk_shapes3d, write_shapes3d_like)
from pyrodisent.data.streaming import StreamingImageSet
from pyrodisent.registry import DATASETS, MODELS

SIZES = (2, 2, 2, 2, 2, 3)  # 96 images
N = 96


def stored_images(path):
    with h5py.File(path, "r") as file:
        return file["images"][...], file["labels"][...]


LAYOUTS = {
    "contiguous": (dict(), "contiguous"),
    "row chunks": (dict(chunks="row"), "chunks"),
    "row chunks gzip": (dict(chunks="row", compression="gzip"), "compressed chunks"),
    "3-image chunks": (dict(chunks=(3, 64, 64, 3)), "chunks"),
    "5-image chunks gzip": (dict(chunks=(5, 64, 64, 3), compression="gzip"), "compressed chunks"),
    "images cut into pieces": (dict(chunks=(7, 16, 32, 3), compression="gzip"), "h5py"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_image_at_factors_is_the_row_at_the_row_major_index(tmp_path, layout):
    options, strategy = LAYOUTS[layout]
    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES, pixels="random", **options)
    slow = layout in ("5-image chunks gzip", "images cut into pieces")
    with pytest.warns(SlowLayoutWarning, match="rechunk_shapes3d") if slow else _no_warning():
        data = Shapes3D(path, factor_sizes=SIZES)
    assert data.read_strategy == strategy
    images, labels = stored_images(path)
    factors = np.concatenate([data.sample_factors(40, 1), [[1, 1, 1, 1, 1, 2], [0] * 6, [1, 1, 1, 1, 1, 2]]])
    index = factor_grid_index(factors, SIZES)
    np.testing.assert_array_equal(data.read_images(index), images[index])  # unsorted, with repeats
    x = data.sample_observations_from_factors(factors, 0)
    assert x.dtype == np.float32 and x.shape == (43, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x, images[index].transpose(0, 3, 1, 2) / 255, atol=1e-6)
    np.testing.assert_allclose(data.labels(index), labels[index])
    np.testing.assert_allclose(data.factor_values(factors), labels[index])
    assert data.read_images(np.arange(N)).shape == (N, 64, 64, 3)  # long runs of consecutive rows
    np.testing.assert_array_equal(data.read_images(np.arange(N)), images)
    data.close()


@contextlib.contextmanager
def _no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowLayoutWarning)
        yield


def test_filters_shuffle_and_fletcher32_take_the_fast_path(tmp_path):
    path = tmp_path / SHAPES3D_FILENAME
    write_shapes3d_like(path, factor_sizes=SIZES, chunks="row", compression="gzip")
    images, labels = stored_images(path)
    with h5py.File(path, "w") as file:
        file.create_dataset("images", data=images, chunks=(1, 64, 64, 3), compression="gzip", shuffle=True,
                            fletcher32=True)
        file.create_dataset("labels", data=labels)
    data = Shapes3D(path, factor_sizes=SIZES)
    assert data.read_strategy == "compressed chunks"
    index = np.array([95, 3, 50, 3])
    np.testing.assert_array_equal(data.read_images(index), images[index])


def test_procedural_pixels_follow_the_factors(tmp_path):
    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES)
    data = Shapes3D(path, factor_sizes=SIZES)
    values = factor_value_table(SIZES)
    factors = np.array([[1, 0, 1, 0, 1, 2], [0, 1, 0, 1, 0, 0]])
    images = data.read_images(factor_grid_index(factors, SIZES))
    for image, f in zip(images, factors):
        np.testing.assert_array_equal(image[63, 0], np.round(hue_to_rgb(values[0][f[0]]) * 255))  # floor
        np.testing.assert_array_equal(image[0, 0], np.round(hue_to_rgb(values[1][f[1]]) * 255))  # wall
    assert not np.array_equal(images[0], images[1])


def test_real_factor_values():
    floor, wall, obj, scale, shape, orientation = factor_value_table()
    np.testing.assert_allclose(floor, np.arange(10) / 10)
    assert len(scale) == 8 and len(orientation) == 15
    np.testing.assert_allclose(scale[[0, -1]], [0.75, 1.25])
    np.testing.assert_allclose(shape, [0, 1, 2, 3])
    np.testing.assert_allclose(orientation[[0, -1]], [-30, 30])


def test_training_set_batches_registry_and_pickling(tmp_path):
    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES, chunks="row", compression="gzip")
    data = DATASETS.build("shapes3d", path=path, factor_sizes=SIZES, seed=4)
    assert isinstance(data, Shapes3D) and data.observation_shape == (3, 64, 64) and len(data) == N
    train = data.training_set(25)
    assert isinstance(train, ArrayDataset) and train.x.shape == (25, 3, 64, 64) and train.factors.dtype == torch.int64
    assert np.array_equal(train.x.numpy(), data.training_set(25).x.numpy())
    batches = list(data.random_batches(8, num_batches=3))
    assert len(batches) == 3 and isinstance(batches[0], Batch) and batches[0].x.shape == (8, 3, 64, 64)
    np.testing.assert_array_equal(batches[0].index.numpy(), factor_grid_index(batches[0].factors.numpy(), SIZES))
    copy = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(copy.read_images([5, 7]), data.read_images([5, 7]))
    with pytest.raises(IndexError, match=r"\[0, 95\]"):
        data.read_images([96])
    with pytest.raises(ValueError, match=r"factor 5 \(orientation\)"):
        data.sample_observations_from_factors(np.array([[0, 0, 0, 0, 0, 3]]), 0)


def test_rechunk_turns_a_slow_layout_into_a_fast_one(tmp_path):
    slow = write_shapes3d_like(tmp_path / "slow.h5", factor_sizes=SIZES, chunks=(10, 8, 8, 1), compression="gzip")
    fast = rechunk_shapes3d(slow, tmp_path / "fast.h5")
    data = Shapes3D(fast, factor_sizes=SIZES)
    assert data.read_strategy == "compressed chunks"
    np.testing.assert_array_equal(data.read_images(np.arange(N)), stored_images(slow)[0])
    np.testing.assert_array_equal(data.labels(np.arange(N)), stored_images(slow)[1])


# --- errors ----------------------------------------------------------------------------------------

def test_missing_file_names_the_3dshapes_download(tmp_path, monkeypatch):
    monkeypatch.delenv("PYRODISENT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"3dshapes.h5 not found.*storage.googleapis.com"):
        Shapes3D()
    monkeypatch.setenv("PYRODISENT_DATA", str(tmp_path))
    write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES)
    assert Shapes3D(factor_sizes=SIZES).path == tmp_path / SHAPES3D_FILENAME
    assert Shapes3D(tmp_path, factor_sizes=SIZES).path == tmp_path / SHAPES3D_FILENAME


def write(path, **datasets):
    with h5py.File(path, "w") as file:
        for name, value in datasets.items():
            file.create_dataset(name, data=value)
    return path


def good_labels():
    values = factor_value_table(SIZES)
    factors = np.stack(np.unravel_index(np.arange(N), SIZES), axis=1)
    return np.stack([v[factors[:, j]] for j, v in enumerate(values)], axis=1)


@pytest.mark.parametrize("datasets, message", [
    (dict(images=np.zeros((N, 64, 64, 3), np.uint8)), r"^3dshapes.h5 has no dataset 'labels'; found: \['images'\]$"),
    (dict(labels=good_labels()), r"^3dshapes.h5 has no dataset 'images'; found: \['labels'\]$"),
    (dict(images=np.zeros((N, 64, 64), np.uint8), labels=good_labels()), r"images must have shape \(96, 64, 64, 3\)"),
    (dict(images=np.zeros((N - 1, 64, 64, 3), np.uint8), labels=good_labels()), r"got \(95, 64, 64, 3\)"),
    (dict(images=np.zeros((N, 64, 64, 3), np.float32), labels=good_labels()), "images must be uint8, got float32"),
    (dict(images=np.zeros((N, 64, 64, 3), np.uint8), labels=good_labels()[:, :5]), r"labels must have shape \(96, 6\)"),
    (dict(images=np.zeros((N, 64, 64, 3), np.uint8), labels=good_labels().astype(np.int64)), "floating point"),
    (dict(images=np.zeros((N, 64, 64, 3), np.uint8), labels=good_labels()[::-1]), "not in row-major factor order"),
])
def test_malformed_files_give_clear_errors(tmp_path, datasets, message):
    path = write(tmp_path / SHAPES3D_FILENAME, **datasets)
    with pytest.raises(ValueError, match=message):
        Shapes3D(path, factor_sizes=SIZES)


def test_not_hdf5_and_wrong_grid(tmp_path):
    path = tmp_path / SHAPES3D_FILENAME
    path.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        Shapes3D(path)
    write_shapes3d_like(path, factor_sizes=SIZES)
    with pytest.raises(ValueError, match=r"images must have shape \(480000, 64, 64, 3\)"):
        Shapes3D(path)  # the real grid by default
    with pytest.raises(ValueError, match="does not match the grid"):
        write_shapes3d_like(tmp_path / "x.h5", num_images=100, factor_sizes=SIZES)


# --- corrupt files ---------------------------------------------------------------------------------

def test_a_corrupt_gzip_chunk_names_the_file_and_row_as_h5py_does(tmp_path):
    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES, chunks="row", compression="gzip")
    images, _ = stored_images(path)
    with h5py.File(path, "r") as file:
        info = file["images"].id.get_chunk_info_by_coord((37, 0, 0, 0))
    with open(path, "r+b") as handle:  # garble the middle of row 37's deflate stream
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(b"\x00\xff" * 16)
    data = Shapes3D(path, factor_sizes=SIZES)
    assert data.read_strategy == "compressed chunks"
    np.testing.assert_array_equal(data.read_images([36, 38, 0]), images[[36, 38, 0]])  # the other rows still read
    with pytest.raises(ValueError, match=rf"{SHAPES3D_FILENAME}: image row 37 \(chunk 37\) is corrupt \(error: "
                                         r"Error -3 while decompressing.*download the file again"):
        data.read_images([5, 37, 90])
    with h5py.File(path, "r") as file, pytest.raises(OSError):  # h5py's own decoder refuses the same row
        file["images"][37]


def test_a_corrupt_chunk_read_through_h5py_names_the_row(tmp_path):
    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES, chunks=(7, 16, 32, 3),
                               compression="gzip")
    with h5py.File(path, "r") as file:
        info = file["images"].id.get_chunk_info_by_coord((14, 16, 0, 0))
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + info.size // 2)
        handle.write(b"\x00\xff" * 16)
    with pytest.warns(SlowLayoutWarning):
        data = Shapes3D(path, factor_sizes=SIZES)
    assert data.read_strategy == "h5py"
    with pytest.raises(ValueError, match=rf"{SHAPES3D_FILENAME}: image row 15 is corrupt \(OSError: "):
        data.read_images([15, 3])


def test_nan_labels_are_refused(tmp_path):
    labels = good_labels()
    labels[40, 2] = np.nan
    path = write(tmp_path / SHAPES3D_FILENAME, images=np.zeros((N, 64, 64, 3), np.uint8), labels=labels)
    with pytest.raises(ValueError, match=rf"{SHAPES3D_FILENAME}: labels hold NaN or inf values \(rows \[40\] first\)"):
        Shapes3D(path, factor_sizes=SIZES)


# --- the streamed training set -----------------------------------------------------------------------

def streamed_and_in_memory(tmp_path, num=40, seed=3):
    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES, pixels="random")
    data = Shapes3D(path, factor_sizes=SIZES)
    return data, data.streaming_training_set(num, np.random.default_rng(seed)), \
        data.training_set(num, np.random.default_rng(seed))


def test_streamed_set_gives_the_in_memory_sets_batches(tmp_path):
    data, streamed, in_memory = streamed_and_in_memory(tmp_path)
    assert isinstance(streamed, StreamingImageSet) and len(streamed) == 40
    assert streamed.observation_shape == in_memory.observation_shape == (3, 64, 64)
    assert torch.equal(streamed.factors, in_memory.factors)
    index = torch.tensor([5, 3, 3, 39, 0])  # unsorted, with a repeat
    a, b = streamed.batch(index), in_memory.batch(index)
    assert a.x.dtype == torch.float32 and torch.equal(a.x, b.x) and torch.equal(a.factors, b.factors)
    assert torch.equal(a.index, index)
    assert torch.equal(streamed.x[:7], in_memory.x[:7]) and torch.equal(streamed.x[4], in_memory.x[4])
    for (rows_a, a), (rows_b, b) in zip(streamed.sequential(16, stop=35), in_memory.sequential(16, stop=35)):
        assert rows_a == rows_b and torch.equal(a.x, b.x) and torch.equal(a.index, b.index)
    subset = streamed.subset([7, 2])
    assert isinstance(subset, ArrayDataset) and torch.equal(subset.x, in_memory.subset([7, 2]).x)
    assert torch.equal(streamed.to("cpu").batch(index).x, in_memory.batch(index).x)


def test_the_whole_file_streams_every_image_once_in_a_drawn_order(tmp_path):
    data, _, _ = streamed_and_in_memory(tmp_path)
    whole = data.streaming_training_set(random_state=1)
    assert len(whole) == N and sorted(whole.rows.tolist()) == list(range(N))
    assert not np.array_equal(whole.rows, np.arange(N))
    drawn = data.streaming_training_set(N, random_state=1)  # N points drawn, as training_set(N) draws them
    np.testing.assert_array_equal(drawn.rows, factor_grid_index(data.training_set(N, 1).factors.numpy(), SIZES))
    np.testing.assert_array_equal(factor_grid_index(whole.factors.numpy(), SIZES), whole.rows)
    images, _ = stored_images(data.path)
    np.testing.assert_allclose(whole.x[:5].numpy(), images[whole.rows[:5]].transpose(0, 3, 1, 2) / 255, atol=1e-6)


def test_streamed_loader_is_deterministic_and_resumes_like_the_in_memory_one(tmp_path):
    _, streamed, in_memory = streamed_and_in_memory(tmp_path)

    def epochs(dataset, generator, count):
        return [[(b.index.clone(), b.x) for b in dataset.loader(16, generator=generator)] for _ in range(count)]

    generator = torch.Generator().manual_seed(7)
    first = epochs(streamed, generator, 1)
    saved = generator.get_state()  # what a checkpoint after epoch 1 holds
    later = epochs(streamed, generator, 2)
    resumed = torch.Generator()
    resumed.set_state(saved)
    assert all(torch.equal(i, j) and torch.equal(x, y) for a, b in zip(later, epochs(streamed, resumed, 2))
               for (i, x), (j, y) in zip(a, b))
    reference = epochs(in_memory, torch.Generator().manual_seed(7), 3)
    assert all(torch.equal(i, j) and torch.equal(x, y) for a, b in zip(first + later, reference)
               for (i, x), (j, y) in zip(a, b))
    assert len(streamed.loader(16, drop_last=True)) == 2 and len(streamed.loader(16)) == 3


def tiny_image_vae(name, num_data, **kwargs):
    """A VAE on the flattened images (fast; the protocol's conv networks see the same batches)."""
    import pyrodisent.zoo  # noqa: F401  (registers the zoo)

    return MODELS.build(name, seed=0, encoder="mlp", decoder="mlp", likelihood="bernoulli",
                        observation_shape=(3, 64, 64), latent_dim=2, num_data=num_data,
                        encoder_args=dict(hidden=(16,)), decoder_args=dict(hidden=(16,)), **kwargs)


def test_the_trainer_runs_and_resumes_on_a_streamed_set(tmp_path):
    from pyrodisent.training.run_directory import RunDirectory
    from pyrodisent.training.trainer import Trainer

    _, streamed, in_memory = streamed_and_in_memory(tmp_path)

    def trainer(data, run_dir=None, **kwargs):
        return Trainer(tiny_image_vae("vae", len(data)), data, epochs=2, batch_size=16, seed=5, device="cpu",
                       progress=False, run_dir=run_dir, **kwargs)

    streamed_run = trainer(streamed)
    result = streamed_run.fit()
    assert result.steps == 6 and all(np.isfinite(row["loss"]) for row in result.history)
    in_memory_run = trainer(in_memory)
    in_memory_run.fit()  # the same minibatches, the same floats: the same weights
    for key, value in in_memory_run.model.state_dict().items():
        assert torch.equal(value, streamed_run.model.state_dict()[key]), key

    class Interrupt(Exception):
        pass

    def stop(trainer, epoch, row):
        raise Interrupt

    run_dir = RunDirectory(tmp_path / "run").create({"streamed": True})
    with pytest.raises(Interrupt):
        trainer(streamed, run_dir, callbacks=[stop]).fit()
    resumed = trainer(streamed, run_dir)
    resumed.fit(resume=True)
    for key, value in streamed_run.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_second_minibatches_of_factor_vae_come_from_the_streamed_set(tmp_path):
    from pyrodisent.training.trainer import Trainer

    _, streamed, in_memory = streamed_and_in_memory(tmp_path)
    models = []
    for data in (streamed, in_memory):
        model = tiny_image_vae("factor_vae", len(data), discriminator_hidden=(8,))
        result = Trainer(model, data, epochs=1, batch_size=16, seed=0, device="cpu", progress=False).fit()
        assert result.steps == 3
        models.append(model)
    # the discriminator saw the same second minibatches, read from the file: the same weights, bit for bit
    for key, value in models[1].state_dict().items():
        assert torch.equal(value, models[0].state_dict()[key]), key


def arrays_held(obj, depth=3, seen=None):
    """The nbytes of every tensor and numpy array reachable through attributes of ``obj``."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth < 0:
        return []
    seen.add(id(obj))
    if torch.is_tensor(obj):
        return [obj.numel() * obj.element_size()]
    if isinstance(obj, np.ndarray):
        return [obj.nbytes]
    values = (list(obj.values()) if isinstance(obj, dict) else list(obj) if isinstance(obj, (list, tuple))
              else list(vars(obj).values()) if hasattr(obj, "__dict__") and type(obj).__module__.startswith(
                  "pyrodisent") else [])
    return [size for value in values for size in arrays_held(value, depth - 1, seen)]


def test_a_streamed_set_holds_no_float_copy_of_the_images(tmp_path):
    data, streamed, in_memory = streamed_and_in_memory(tmp_path, num=N)
    labels_bytes = N * 6 * 8
    for dataset in (streamed, streamed.to("cpu"), data.streaming_training_set()):
        dataset.batch(torch.arange(N))  # the reader is open and has been used
        held = arrays_held(dataset)
        assert held and max(held) <= labels_bytes, held
    assert max(arrays_held(in_memory)) == N * 3 * 64 * 64 * 4  # what the in-memory set holds


def test_the_shapes3d_protocol_streams_large_training_sets(tmp_path):
    from pyrodisent.registry import PROTOCOLS

    path = write_shapes3d_like(tmp_path / SHAPES3D_FILENAME, factor_sizes=SIZES)

    def loaded(**settings):
        protocol = PROTOCOLS.get("shapes3d")(data_path=str(path), factor_sizes=list(SIZES), **settings)
        return protocol.load("vae", 0)

    assert isinstance(loaded(train_size=64).train, ArrayDataset)  # auto: 3 MB as float32
    assert loaded(train_size=64).config["train_store"] == "memory"
    large = loaded(train_size=30_000)  # auto: 1.5 GB as float32, streamed (nothing is read here)
    assert isinstance(large.train, StreamingImageSet) and large.config["train_store"] == "stream"
    assert len(large.train) == 30_000
    whole = loaded(train_size=N, train_store="stream").train
    assert sorted(whole.rows.tolist()) == list(range(N))
    sampled = loaded(train_size=64, train_store="stream").train
    assert torch.equal(sampled.batch(torch.arange(64)).x, loaded(train_size=64, train_store="memory").train.x)
