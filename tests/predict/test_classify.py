"""predict.classify: expanding inputs, and batched top-k where a bad file never stops the run.

The model is a tiny random MobileNet V1 (α 0.25, 32 px, 5 classes) and the images are 32x32
PNGs with ``crop_pct=1``, so that the network input is plain ``(pixels / 255 - mean) / std``:
the expected probabilities are computed here with numpy, not taken from the module.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobilenets import MobileNet, PreprocessConfig, create_model
from mobilenets.predict.classify import ClassScore, Prediction, collect_inputs, predict_files

NUM_CLASSES = 5
MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)


@pytest.fixture(scope="module")
def model() -> MobileNet:
    torch.manual_seed(0)
    net = create_model("mobilenet_v1_0.25_32", num_classes=NUM_CLASSES)
    with torch.no_grad():  # spread the logits so that the top-k order is clear-cut
        net.classifier.weight.mul_(30.0)
        net.classifier.bias.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0]))
    net.preprocess = PreprocessConfig(input_size=(3, 32, 32), mean=MEAN, std=STD, crop_pct=1.0)
    return net.eval()


def write_png(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def expected_probabilities(model: MobileNet, path: Path) -> np.ndarray:
    """Softmax of the model's logits for the image, prepared by hand."""
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    x = (pixels - np.array(MEAN)) / np.array(STD)
    with torch.no_grad():
        logits = model(torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32)))
    z = logits.double().numpy()[0]
    e = np.exp(z - z.max())
    return e / e.sum()


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [write_png(tmp_path / f"img{i}.png", seed=i) for i in range(4)]


# collect_inputs


def test_folders_are_searched_recursively_for_image_suffixes(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    (folder / "sub" / "deeper").mkdir(parents=True)
    a = write_png(folder / "a.png", 0)
    b = write_png(folder / "sub" / "b.jpg", 1)
    c = write_png(folder / "sub" / "deeper" / "C.PNG", 2)
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub" / "README").write_text("no suffix")
    paths, failures = collect_inputs([folder])
    assert failures == []
    assert sorted(paths) == sorted([a, b, c])


def test_files_are_taken_as_given_whatever_their_suffix(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    image = write_png(tmp_path / "x.png", 0)
    paths, failures = collect_inputs([str(notes), image])
    assert (paths, failures) == ([notes, image], [])


def test_a_file_named_twice_or_through_a_folder_or_a_link_counts_once(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    a = write_png(folder / "a.png", 0)
    b = write_png(folder / "b.png", 1)
    link = tmp_path / "link_to_a.png"
    link.symlink_to(a)
    paths, failures = collect_inputs(
        [folder, a, str(a), tmp_path / "photos" / ".." / "photos" / "b.png", link]
    )
    assert failures == []
    assert len(paths) == 2
    assert {os.path.realpath(p) for p in paths} == {os.path.realpath(a), os.path.realpath(b)}


def test_missing_inputs_become_failed_predictions(tmp_path: Path) -> None:
    image = write_png(tmp_path / "x.png", 0)
    missing_file, missing_folder = tmp_path / "typo.png", tmp_path / "no_such_folder"
    paths, failures = collect_inputs([missing_file, image, missing_folder])
    assert paths == [image]
    assert [f.path for f in failures] == [str(missing_file), str(missing_folder)]
    for failure in failures:
        assert not failure.ok and failure.top == []
        assert failure.error is not None and "no such file" in failure.error


def test_a_folder_without_images_is_a_failure(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    paths, failures = collect_inputs([empty])
    assert paths == []
    assert len(failures) == 1 and failures[0].path == str(empty)
    assert failures[0].error is not None and failures[0].error.startswith("folder has no images (.jpg")


def test_broken_links_and_folders_named_like_images_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    good = write_png(folder / "good.png", 0)
    (folder / "broken.png").symlink_to(tmp_path / "gone.png")
    (folder / "album.jpg").mkdir()
    paths, failures = collect_inputs([folder])
    assert paths == [good]
    reasons = {Path(f.path).name: f.error for f in failures}
    assert set(reasons) == {"broken.png", "album.jpg"}
    assert reasons["broken.png"] is not None and "broken symbolic link" in reasons["broken.png"]
    assert reasons["album.jpg"] is not None and "folder" in reasons["album.jpg"]


# predict_files


def test_probabilities_and_top_classes_match_a_softmax_computed_by_hand(
    model: MobileNet, images: list[Path]
) -> None:
    results = predict_files(model, images, topk=3, batch_size=4)
    for path, result in zip(images, results, strict=True):
        assert result.ok and result.error is None
        probabilities = expected_probabilities(model, path)
        order = np.argsort(-probabilities)[:3]
        assert [score.index for score in result.top] == order.tolist()
        np.testing.assert_allclose([s.probability for s in result.top], probabilities[order], atol=1e-5)


def test_topk_length_sorted_and_summing_to_at_most_one(model: MobileNet, images: list[Path]) -> None:
    for topk in (1, 2, 4):
        for result in predict_files(model, images, topk=topk):
            probabilities = [score.probability for score in result.top]
            assert len(result.top) == topk
            assert probabilities == sorted(probabilities, reverse=True)
            assert all(0.0 <= p <= 1.0 for p in probabilities)
            assert sum(probabilities) <= 1.0 + 1e-6
            assert len({score.index for score in result.top}) == topk


def test_topk_above_the_class_count_gives_every_class_summing_to_one(
    model: MobileNet, images: list[Path]
) -> None:
    for result in predict_files(model, images, topk=10):
        assert sorted(score.index for score in result.top) == list(range(NUM_CLASSES))
        assert sum(score.probability for score in result.top) == pytest.approx(1.0, abs=1e-5)


def test_labels_name_the_classes(model: MobileNet, images: list[Path]) -> None:
    top = predict_files(model, images[:1], topk=5)[0].top
    assert [score.label for score in top] == [f"class {score.index}" for score in top]
    names = ["ant", "bee", "cat", "dog", "eel"]
    model.labels = names
    try:
        top = predict_files(model, images[:1], topk=5)[0].top
    finally:
        model.labels = None
    assert [score.label for score in top] == [names[score.index] for score in top]
    assert all(isinstance(score, ClassScore) for score in top)


def test_order_is_kept_and_an_unreadable_file_does_not_stop_the_others(
    model: MobileNet, images: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a PNG")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    paths = [images[0], bad, images[1], images[2], empty, tmp_path / "missing.png", images[3]]
    done: list[Prediction] = []
    results = predict_files(model, paths, topk=2, batch_size=2, on_file_done=done.append)
    assert [r.path for r in results] == [str(p) for p in paths]
    failed = {r.path for r in results if not r.ok}
    assert failed == {str(bad), str(empty), str(tmp_path / "missing.png")}
    for result in results:
        assert (result.error is None) == (len(result.top) == 2)
    # the good files get what they get when classified alone
    alone = predict_files(model, images, topk=2, batch_size=1)
    good = [r for r in results if r.ok]
    for mixed, single in zip(good, alone, strict=True):
        assert [s.index for s in mixed.top] == [s.index for s in single.top]
        np.testing.assert_allclose(
            [s.probability for s in mixed.top], [s.probability for s in single.top], atol=1e-5
        )
    # on_file_done: once per file, with the same Prediction objects
    assert len(done) == len(paths)
    assert Counter(p.path for p in done) == Counter(str(p) for p in paths)
    assert sorted(map(id, done)) == sorted(map(id, results))


def test_a_batch_that_fails_marks_only_its_own_files(
    model: MobileNet, images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    forward = model.forward

    def fail_first_batch(x: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("out of memory (simulated)")
        return forward(x)

    monkeypatch.setattr(model, "forward", fail_first_batch)
    results = predict_files(model, images, batch_size=2)
    assert calls == 2
    for result in results[:2]:
        assert result.error is not None and "model failed on this batch" in result.error
        assert "simulated" in result.error
    assert all(result.ok for result in results[2:])


def test_non_finite_outputs_are_errors_not_probabilities(images: list[Path]) -> None:
    torch.manual_seed(0)
    net = create_model("mobilenet_v1_0.25_32", num_classes=3)
    with torch.no_grad():
        net.classifier.bias[1] = float("nan")
    results = predict_files(net, images[:2])
    assert [r.error for r in results] == ["the model's output is NaN or infinite"] * 2
    assert all(r.top == [] for r in results)


def test_the_model_is_put_in_eval_mode(images: list[Path]) -> None:
    net = create_model("mobilenet_v1_0.25_32", num_classes=3)
    assert net.training
    predict_files(net, images[:1])
    assert not net.training


def test_an_empty_list_gives_no_predictions(model: MobileNet) -> None:
    assert predict_files(model, []) == []


@pytest.mark.parametrize("overrides", [{"num_classes": 0}, {"features_only": True}])
def test_a_headless_model_is_refused(overrides: dict[str, object], images: list[Path]) -> None:
    net = create_model("mobilenet_v1_0.25_32", **overrides)
    called: list[Prediction] = []
    with pytest.raises(ValueError, match="no classifier"):
        predict_files(net, images, on_file_done=called.append)
    assert called == []


@pytest.mark.parametrize(("topk", "batch_size"), [(0, 16), (5, 0), (-1, 1)])
def test_topk_and_batch_size_must_be_positive(
    model: MobileNet, images: list[Path], topk: int, batch_size: int
) -> None:
    with pytest.raises(ValueError, match=r"must both be >= 1"):
        predict_files(model, images, topk=topk, batch_size=batch_size)


def test_max_pixels_refuses_larger_images(model: MobileNet, images: list[Path]) -> None:
    results = predict_files(model, images[:2], max_pixels=32 * 32 - 1)
    assert all(r.error is not None and "1,024 pixels exceeds the limit of 1,023" in r.error for r in results)
    assert all(r.ok for r in predict_files(model, images[:2], max_pixels=32 * 32))
