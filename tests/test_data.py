"""Image files, pairing, the paired/unpaired datasets and the dataset presets."""
import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import ToPILImage

from data import (PRESETS, ImageReadError, PairedImageDataset, UnpairedImageDataset, add_dataset_arguments,
                  list_images, pair_folders, pair_key, preset_from_args, read_image, save_image,
                  to_uint8_truncate)


def write_rgb(path: Path, array: np.ndarray) -> Path:
    """Save an (H, W, 3) uint8 RGB array, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def random_rgb(height=24, width=32, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def coordinate_image(height: int, width: int) -> np.ndarray:
    """R = column, G = row, B = constant: every pixel tells where it came from."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols, rows, np.full_like(rows, 7)], axis=2).astype(np.uint8)


# ---- listing and reading -------------------------------------------------------------------------------

def test_list_images_natural_order_skips_non_images(tmp_path):
    for name in ["10.png", "2.png", "1.PNG", "low10.jpg", "low9.bmp", "a.tiff"]:
        write_rgb(tmp_path / name, random_rgb(4, 4))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub.png").mkdir()
    write_rgb(tmp_path / "sub.png" / "3.png", random_rgb(4, 4))
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["1.PNG", "2.png", "10.png", "a.tiff", "low9.bmp", "low10.jpg"]


def test_list_images_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_images(tmp_path / "nowhere")


def test_read_rgb_png_order_and_range(tmp_path):
    array = random_rgb()
    image = read_image(write_rgb(tmp_path / "x.png", array))
    assert image.dtype == torch.float32 and image.shape == (3, 24, 32)
    torch.testing.assert_close(image, torch.from_numpy(array).permute(2, 0, 1).float() / 255)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P"])
def test_read_grey_alpha_palette(tmp_path, mode):
    rgb = random_rgb(8, 10)
    source = Image.fromarray(rgb).convert(mode)
    source.save(tmp_path / "x.png")
    expected = np.array(source.convert("RGB"))  # PIL's own conversion, alpha dropped
    image = read_image(tmp_path / "x.png")
    assert image.shape == (3, 8, 10)
    torch.testing.assert_close(image, torch.from_numpy(expected).permute(2, 0, 1).float() / 255)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_read_16_bit(tmp_path, suffix):
    rgb16 = np.array([[[0, 32768, 65535], [1000, 2000, 3000]]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / f"x{suffix}"), rgb16[:, :, ::-1])
    image = read_image(tmp_path / f"x{suffix}")
    torch.testing.assert_close(image, torch.from_numpy(rgb16.astype(np.float32) / 65535).permute(2, 0, 1))


def test_read_16_bit_grey(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.array([[0, 65535]], dtype=np.uint16))
    torch.testing.assert_close(read_image(tmp_path / "g.png"), torch.tensor([[[0.0, 1.0]]]).expand(3, 1, 2))


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\ngarbage", b"plain text"])
def test_read_corrupt_names_file(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match="broken.png"):
        read_image(path)
    assert issubclass(ImageReadError, ValueError)


def test_read_truncated_png(tmp_path):
    path = write_rgb(tmp_path / "t.png", random_rgb(48, 48))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="t.png"):
        read_image(path)


def test_to_uint8_truncate_matches_to_pil_image():
    image = torch.rand(3, 9, 11) * 1.2 - 0.1
    image[0, 0, 0] = 0.999  # truncates to 254, rounding would give 255
    expected = np.asarray(ToPILImage()(image.clamp(0, 1)))
    got = to_uint8_truncate(image)
    assert got.dtype == np.uint8 and got.shape == (9, 11, 3) and got[0, 0, 0] == 254
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_save_image_round_trip(tmp_path, suffix):
    image = torch.zeros(3, 16, 16)
    image[0] = 1.0  # pure red
    path = tmp_path / "deep" / "folder" / f"red{suffix}"
    save_image(image, path)
    saved = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert (saved[..., 0] > 250).all() and (saved[..., 1:] < 5).all()


def test_save_image_rejects_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match="x.gif"):
        save_image(torch.zeros(3, 2, 2), tmp_path / "x.gif")


def test_save_image_truncates(tmp_path):
    image = torch.full((3, 2, 2), 0.999)
    save_image(image, tmp_path / "x.png")
    assert (np.asarray(Image.open(tmp_path / "x.png")) == 254).all()


# ---- pairing ------------------------------------------------------------------------------------------

def test_pair_key():
    assert pair_key("low00690.png") == pair_key("normal00690.png") == pair_key("00690.png") == "690"
    assert pair_key("dir/22.png") == "22"
    assert pair_key(Path("r000da000.jpg")) == "r000da000"
    assert pair_key("a-b.png") == "a-b"


def test_pair_folders_lolv2_real_numbering(tmp_path):
    for number in [690, 9, 701]:
        write_rgb(tmp_path / "Low" / f"low{number:05d}.png", random_rgb(4, 4))
        write_rgb(tmp_path / "Normal" / f"normal{number:05d}.png", random_rgb(4, 4))
    pairs = pair_folders(tmp_path / "Low", tmp_path / "Normal")
    assert [(a.name, b.name) for a, b in pairs] == [
        ("low00009.png", "normal00009.png"), ("low00690.png", "normal00690.png"), ("low00701.png", "normal00701.png")]


def test_pair_folders_same_names(tmp_path):
    for name in ["10.png", "2.png", "1.png"]:
        write_rgb(tmp_path / "low" / name, random_rgb(4, 4))
        write_rgb(tmp_path / "high" / name, random_rgb(4, 4))
    pairs = pair_folders(tmp_path / "low", tmp_path / "high")
    assert [(a.name, b.name) for a, b in pairs] == [("1.png", "1.png"), ("2.png", "2.png"), ("10.png", "10.png")]


def test_pair_folders_reports_unpaired_files(tmp_path):
    for name in ["1.png", "2.png", "3.png"]:
        write_rgb(tmp_path / "low" / name, random_rgb(4, 4))
    for name in ["1.png", "4.png"]:
        write_rgb(tmp_path / "high" / name, random_rgb(4, 4))
    with pytest.raises(ValueError) as error:
        pair_folders(tmp_path / "low", tmp_path / "high")
    message = str(error.value)
    assert "2 of 3 low images" in message and "2.png, 3.png" in message
    assert "1 of 2 high images" in message and "4.png" in message


def test_pair_folders_lists_at_most_five_names(tmp_path):
    for i in range(8):
        write_rgb(tmp_path / "low" / f"{i}.png", random_rgb(2, 2))
    (tmp_path / "high").mkdir()
    with pytest.raises(ValueError, match=r"8 of 8 low images .*0.png, 1.png, 2.png, 3.png, 4.png, \.\.\. \(3 more\)"):
        pair_folders(tmp_path / "low", tmp_path / "high")


def test_pair_folders_duplicate_keys(tmp_path):
    write_rgb(tmp_path / "low" / "1.png", random_rgb(2, 2))
    write_rgb(tmp_path / "low" / "low001.png", random_rgb(2, 2))
    write_rgb(tmp_path / "high" / "1.png", random_rgb(2, 2))
    with pytest.raises(ValueError, match="1.png and low001.png"):
        pair_folders(tmp_path / "low", tmp_path / "high")


# ---- paired dataset -----------------------------------------------------------------------------------

@pytest.fixture
def paired_folders(tmp_path):
    """Three 40x56 pairs where high = 255 - low, so any crop/flip mismatch is visible."""
    for i in range(3):
        low = coordinate_image(40, 56) + np.uint8(i)
        write_rgb(tmp_path / "low" / f"{i}.png", low)
        write_rgb(tmp_path / "high" / f"{i}.png", 255 - low)
    return tmp_path / "low", tmp_path / "high"


def test_paired_whole_images(paired_folders):
    dataset = PairedImageDataset(*paired_folders)
    low, high, name = dataset[1]
    assert name == "1.png" and low.shape == high.shape == (3, 40, 56)
    torch.testing.assert_close(high, 1 - low)
    assert "3 pairs" in repr(dataset)


def test_paired_crop_and_flips_identical_and_valid(paired_folders):
    dataset = PairedImageDataset(*paired_folders, crop_size=16, flip=True)
    seen_flips = set()
    for epoch in range(40):
        low, high, _ = dataset[(epoch, 0)]
        assert low.shape == high.shape == (3, 16, 16)
        torch.testing.assert_close(high, 1 - low)
        cols, rows = (low[0] * 255).round(), (low[1] * 255).round()
        col_step, row_step = cols[0, 1] - cols[0, 0], rows[1, 0] - rows[0, 0]
        assert abs(col_step) == 1 and abs(row_step) == 1  # a contiguous window, possibly mirrored
        torch.testing.assert_close(cols, cols[:1].expand(16, 16))
        torch.testing.assert_close(rows, rows[:, :1].expand(16, 16))
        seen_flips.add((col_step.item(), row_step.item()))
    assert len(seen_flips) == 4


def test_paired_crops_depend_on_seed_epoch_and_index_only(paired_folders):
    def draw(seed, epoch, order=range(3)):
        dataset = PairedImageDataset(*paired_folders, crop_size=16, flip=True, seed=seed)
        torch.manual_seed(epoch)  # the global generator plays no part
        return {i: dataset[(epoch, i)][0] for i in order}

    first = draw(5, 1)
    assert all(torch.equal(first[i], again) for i, again in draw(5, 1, order=[2, 0, 1]).items())
    assert any(not torch.equal(first[i], other) for i, other in draw(5, 2).items())
    assert any(not torch.equal(first[i], other) for i, other in draw(6, 1).items())


def test_paired_crops_independent_of_workers(paired_folders):
    dataset = PairedImageDataset(*paired_folders, crop_size=16, flip=True, seed=3)

    def epoch(workers):
        loader = DataLoader(dataset, batch_size=2, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(3))
        return torch.cat([low for low, _, _ in loader])

    assert torch.equal(epoch(0), epoch(2))


def test_paired_cache_gives_same_images(paired_folders):
    cached = PairedImageDataset(*paired_folders, cache=True)
    plain = PairedImageDataset(*paired_folders)
    for i in range(3):
        for _ in range(2):  # second pass is served from the cache
            assert all(torch.equal(a, b) for a, b in zip(cached[i][:2], plain[i][:2]))
    assert "cache on" in repr(cached)


def test_paired_size_mismatch_names_both_files(tmp_path):
    write_rgb(tmp_path / "low" / "7.png", random_rgb(20, 30))
    write_rgb(tmp_path / "high" / "7.png", random_rgb(20, 31))
    with pytest.raises(ValueError, match=r"low[/\\]7.png is 30x20.*high[/\\]7.png is 31x20"):
        PairedImageDataset(tmp_path / "low", tmp_path / "high")


def test_paired_image_smaller_than_crop(paired_folders):
    with pytest.raises(ValueError, match=r"0.png is 56x40 \(WxH\), smaller than the 48x48"):
        PairedImageDataset(*paired_folders, crop_size=48)


# ---- unpaired dataset ---------------------------------------------------------------------------------

def test_unpaired_resize_and_folders(tmp_path):
    write_rgb(tmp_path / "a" / "x.jpg", random_rgb(30, 50, seed=1))
    write_rgb(tmp_path / "a" / "y.png", random_rgb(64, 20, seed=2))
    write_rgb(tmp_path / "b" / "z.bmp", random_rgb(16, 16, seed=3))
    (tmp_path / "a" / "readme.txt").write_text("skip me")
    (tmp_path / "a" / "nested").mkdir()
    assert len(UnpairedImageDataset(str(tmp_path / "a") + "/", size=24)) == 2
    dataset = UnpairedImageDataset([tmp_path / "a", str(tmp_path / "b")], size=24)
    assert len(dataset) == 3 and "3 images" in repr(dataset)
    for i in range(3):
        image = dataset[i]
        assert image.shape == (3, 24, 24) and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1


def test_unpaired_resize_close_to_pil_bilinear(tmp_path):
    rgb = random_rgb(70, 90, seed=4)
    write_rgb(tmp_path / "x.png", rgb)
    image = UnpairedImageDataset(tmp_path, size=32)[0]
    pil = np.asarray(Image.fromarray(rgb).resize((32, 32), Image.Resampling.BILINEAR)).astype(np.float32) / 255
    np.testing.assert_allclose(image.permute(1, 2, 0).numpy(), pil, atol=1.5 / 255)


def test_unpaired_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        UnpairedImageDataset(tmp_path)


def test_unpaired_brighten(tmp_path):
    write_rgb(tmp_path / "x.png", (random_rgb(40, 40, seed=5) // 8).astype(np.uint8))  # dark: values < 32
    plain = UnpairedImageDataset(tmp_path, size=32)
    assert torch.equal(plain[(3, 0)], plain[0])  # off (as released): no randomness
    bright = UnpairedImageDataset(tmp_path, size=32, brighten_max=8.0, seed=1)
    gains = [bright.gain(epoch, 0) for epoch in range(20)]
    assert all(1 <= g <= 8 for g in gains) and max(gains) / min(gains) > 2
    assert bright.gain(4, 0) == UnpairedImageDataset(tmp_path, size=32, brighten_max=8.0, seed=1).gain(4, 0)
    torch.testing.assert_close(bright[(4, 0)], (plain[0] * gains[4]).clamp(0, 1))
    assert bright[(4, 0)].max() <= 1
    with pytest.raises(ValueError, match="brighten_max"):
        UnpairedImageDataset(tmp_path, brighten_max=0.5)


# ---- presets and flags --------------------------------------------------------------------------------

def parse(argv):
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("flag, name", [("--lol", "lol_v1"), ("--lol_v1", "lol_v1"),
                                        ("--lol_v2_real", "lol_v2_real"), ("--lolv2_real", "lol_v2_real"),
                                        ("--lol_v2_syn", "lol_v2_syn"), ("--lolv2_syn", "lol_v2_syn")])
def test_dataset_flags(flag, name):
    assert parse([flag]).dataset == name


def test_dataset_flags_exclusive_and_optional():
    assert preset_from_args(parse([])) is None
    with pytest.raises(SystemExit):
        parse(["--lol", "--lol_v2_syn"])


def test_presets_switches_and_folders():
    v1 = preset_from_args(parse(["--lol_v1", "--data_root", "/d"]))
    assert (v1.saturation_gain, v1.alpha, v1.output_folder) == (1.3, 1.0, "LOLv1")
    assert Path(v1.train_low) == Path("/d/LOLdataset/our485/low")
    assert Path(v1.test_high) == Path("/d/LOLdataset/eval15/high")
    real = preset_from_args(parse(["--lol_v2_real"]))
    assert (real.saturation_gain, real.alpha, real.output_folder) == (1.0, 0.84, "LOLv2_real")
    assert Path(real.test_low) == Path("datasets/LOLv2/Real_captured/Test/Low")
    syn = PRESETS["lol_v2_syn"]
    assert (syn.saturation_gain, syn.alpha, syn.output_folder) == (1.0, 1.0, "LOLv2_syn")
    assert syn.train_high == "LOLv2/Synthetic/Train/Normal"
