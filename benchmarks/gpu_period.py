"""A training run's data and state to a lent GPU machine and back, within the device tool's transfer limits.

This workplace lends a GPU for short periods (docs/gpu.md). Each call to it carries the repository's tree and at
most 64 MiB in all, and brings back at most 8 files of 16 MiB (64 MiB together) from ``$OUT``; the machine keeps
what earlier calls carried only while it stays warm. So a training period sends LOLv1 in several calls, then the
run's state, trains, and brings the state back in parts::

    python -m benchmarks.gpu_period pack [--model M]       # here: .gpu/call01 ... (the data as lossless WebP + state)
    python3 -m benchmarks.gpu_period unpack                 # there: PNG under datasets/, the state joined and checked
    python3 -m benchmarks.gpu_period send FILE... --out "$OUT"     # there: the files in parts, with a manifest
    python -m benchmarks.gpu_period receive DIR [--model M]    # here: the parts joined, checked, kept under ~/.cache

``pack`` prints the calls to make, one ``.gpu/callNN`` folder carried by each (the last one runs
``benchmarks/gpu_train.sh``). Lossless WebP is a quarter smaller than LOLv1's PNG files, so three calls fewer; every
image is decoded again and compared pixel for pixel before it is packed (other images, JPEG or BMP, go as they are).
ICLR's period needs LOLv1's pairs; Zero-LEINR's the low-light images it trains on (our485's and the unpaired DICM,
LIME and MEF photos, which ``datasets/unpaired/`` holds) and eval15 to validate on. Run it as a module from the
repository's root (the GPU image does not install the project); every file it writes is written atomically.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from data.atomic_file import atomic_write, atomic_write_bytes, atomic_write_text
from data.image_io import list_images
from data.options import PRESETS
from engine.inference.file_digest import file_sha256

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
CALL_LIMIT = 64 * MIB  # what one call carries in all: the repository's tree and the carried paths
CALL_MARGIN = 2 * MIB  # left free in each call (the tree may grow by a log or two between packing and calling)
RETURN_FILE_LIMIT = 16 * MIB  # one file back from $OUT
RETURN_TOTAL_LIMIT = 64 * MIB  # all files back from one call
RETURN_FILES = 8
PACK_DIR = ROOT / ".gpu"
STATE_ROOT = Path.home() / ".cache" / "llie" / "gpu"  # <model>_released/: the state of each model's GPU run
STATE_FILES = ("last.pth",)  # what a period resumes from
_LOL = PRESETS["lol_v1"]
DATA_FOLDERS = {  # per model: the folders under <data_root> its training period reads
    "iclr": (_LOL.train_low, _LOL.train_high, _LOL.test_low, _LOL.test_high),
    "zero_leinr": (_LOL.train_low, _LOL.test_low, _LOL.test_high, "unpaired/DICM", "unpaired/LIME", "unpaired/MEF"),
}
WEBP_LOSSLESS = [cv2.IMWRITE_WEBP_QUALITY, 101]  # quality above 100 selects libwebp's lossless mode
MANIFEST = "manifest.json"
PLAN = "plan.json"  # in the last call: how many calls and images there are, so that a call lost is noticed


class TransferError(RuntimeError):
    """A check of this script failed: one line, printed as ``error: ...``."""


def tree_bytes() -> int:
    """Bytes of what every call sends besides the carried paths: tracked files and untracked ones git does not
    ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True).stdout.split(b"\0")
    return sum((ROOT / os.fsdecode(name)).stat().st_size for name in listed
               if name and (ROOT / os.fsdecode(name)).is_file())


def webp_copy(source: Path, target: Path) -> None:
    """``target`` (.webp) holds ``source``'s pixels losslessly; refuses an image WebP would change."""
    pixels = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint8:
        raise TransferError(f"{source}: not an 8-bit image OpenCV can read")
    ok, encoded = cv2.imencode(".webp", pixels, WEBP_LOSSLESS)
    if not ok or not np.array_equal(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), pixels):
        raise TransferError(f"{source}: lossless WebP does not give its pixels back")
    atomic_write_bytes(target, encoded.tobytes())


def _place(source: Path, target: Path) -> None:
    """``target`` becomes ``source``'s bytes: a hard link where the file system allows one, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        atomic_write_bytes(target, source.read_bytes())


def _packed_images(data_root: Path, folders: tuple, cache: Path) -> list[tuple[str, Path]]:
    """(name relative to ``data_root`` as packed, file to pack) for every image of ``folders``: a PNG as its WebP
    copy in ``cache`` (``<name>.webp``, encoded only when missing or older than the PNG), other images as they
    are."""
    packed, todo = [], []
    for folder in folders:
        found = list_images(data_root / folder)
        if not found:
            raise TransferError(f"no images in {data_root / folder} (docs/gpu.md says where the data comes from)")
        for source in found:
            relative = str(source.relative_to(data_root))
            if source.suffix.lower() != ".png":
                packed.append((relative, source))
                continue
            webp = cache / f"{relative}.webp"
            if not webp.exists() or webp.stat().st_mtime < source.stat().st_mtime:
                todo.append((source, webp))
            packed.append((f"{relative}.webp", webp))
    if todo:
        print(f"encoding {len(todo)} of {len(packed)} images as lossless WebP ...", flush=True)
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(lambda pair: webp_copy(*pair), todo))
    return packed


def pack(model: str, data_root: Path, state: Path, out: Path) -> list[Path]:
    """Fill ``out/call01``, ``call02``, ... each within one call's budget: the images of ``model``'s period under
    ``data/``, the state's parts under ``state/`` with their manifest, and in the last the plan (``PLAN``). Returns
    the call folders."""
    budget = CALL_LIMIT - CALL_MARGIN - tree_bytes()
    if budget < 4 * MIB:
        raise TransferError(f"the repository's tree leaves {budget / MIB:.1f} MiB of a call's {CALL_LIMIT // MIB} "
                            "MiB: nothing to carry")
    images = _packed_images(data_root, DATA_FOLDERS[model], out / "webp")
    for old in out.glob("call*"):
        shutil.rmtree(old)
    calls, used = [], budget  # a new call folder is opened at the first item

    def room_for(size: int) -> Path:
        """The call folder that takes ``size`` more bytes (a new one when the current one is full)."""
        nonlocal used
        if used + size > budget:
            calls.append(out / f"call{len(calls) + 1:02d}")
            calls[-1].mkdir(parents=True)
            used = 0
        used += size
        return calls[-1]

    for name, source in images:
        _place(source, room_for(source.stat().st_size) / "data" / name)
    manifest = {}
    for path in (state / name for name in STATE_FILES):  # split to fill each call's room
        if not path.is_file():
            continue
        entry = manifest[path.name] = {"sha256": file_sha256(path), "size": path.stat().st_size, "parts": []}
        with open(path, "rb") as f:
            while block := f.read(max(budget - used, 0) if budget - used >= MIB else budget):
                part = room_for(len(block)) / "state" / f"{path.name}.{len(entry['parts']):02d}"
                atomic_write_bytes(part, block)
                entry["parts"].append(str(part.relative_to(out)))
    if manifest:
        atomic_write_text(room_for(0) / "state" / MANIFEST, json.dumps(manifest, indent=1))
    atomic_write_text(room_for(0) / PLAN, json.dumps({"model": model, "calls": len(calls), "images": len(images)}))
    return calls


def _unpacked(packed: Path, target: Path) -> None:
    """``target`` from the file ``pack`` carried: a ``.webp`` decoded into the PNG it was, another image copied."""
    if packed.suffix != ".webp":
        atomic_write_bytes(target, packed.read_bytes())
        return
    pixels = cv2.imread(str(packed), cv2.IMREAD_UNCHANGED)
    ok, encoded = (False, None) if pixels is None else cv2.imencode(".png", pixels)
    if not ok:
        raise TransferError(f"cannot turn {packed} into {target}")
    atomic_write_bytes(target, encoded.tobytes())


def _join(parts: list[Path], target: Path, digest: str, problem: str) -> None:
    """``target`` written atomically from ``parts`` in order when their bytes have the SHA-256 ``digest``; else
    ``TransferError(problem)``, ``target`` left as it was."""
    def write(f):
        joined = hashlib.sha256()
        for part in parts:
            block = part.read_bytes()
            joined.update(block)
            f.write(block)
        if joined.hexdigest() != digest:
            raise TransferError(problem)
    atomic_write(target, write)


def unpack(src: Path, data_root: Path, run_dir: Path) -> None:
    """There: every image carried under ``callNN/data/`` into ``data_root`` (a WebP as the PNG it was), the state
    files joined into ``run_dir`` and checked against their SHA-256; first, that every call of the plan arrived
    (the machine starts bare when a call comes over 30 s after the last)."""
    plans = list(src.glob(f"call*/{PLAN}"))
    if not plans:
        raise TransferError(f"no {PLAN} under {src}: the plan's last call did not arrive")
    plan = json.loads(plans[0].read_text())
    missing = [f"call{n:02d}" for n in range(1, plan["calls"] + 1) if not (src / f"call{n:02d}").is_dir()]
    if missing:
        raise TransferError(f"{', '.join(missing)} of the {plan['calls']} calls did not arrive (the machine was "
                            "given back between calls?): carry them again")
    jobs = []
    for call in sorted(src.glob("call*")):
        for packed in (p for p in (call / "data").rglob("*") if p.is_file()):
            relative = packed.relative_to(call / "data")
            jobs.append((packed, data_root / (relative.with_suffix("") if packed.suffix == ".webp" else relative)))
    if len(jobs) != plan["images"]:
        raise TransferError(f"{len(jobs)} images arrived, the plan packed {plan['images']}")
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(lambda pair: _unpacked(*pair), jobs))
    print(f"{len(jobs)} images under {data_root}")
    manifests = list(src.glob(f"call*/state/{MANIFEST}"))
    if not manifests:
        print("no state carried: the run starts from scratch")
        return
    for name, entry in json.loads(manifests[0].read_text()).items():
        _join([src / part for part in entry["parts"]], run_dir / name, entry["sha256"],
              f"{name}: the joined parts differ from the file packed (a call missing?)")
        print(f"{run_dir / name} ({entry['size'] / MIB:.1f} MiB, SHA-256 checked)")


def send(files: list[Path], out: Path) -> None:
    """There: ``files`` (in order of importance) into ``out`` as parts of at most 16 MiB with a manifest, as many
    as the return limits allow beside the files already in ``out``; what does not fit is named in the manifest
    and printed."""
    there = [p for p in out.iterdir() if p.is_file() and p.name != MANIFEST]  # a log the call wrote, say
    manifest = {"files": {}, "left_out": []}
    count, total = 1 + len(there), sum(p.stat().st_size for p in there)  # the manifest is a file too
    for path in files:
        if not path.is_file():
            manifest["left_out"].append(f"{path} (missing)")
            continue
        size = path.stat().st_size
        pieces = range(0, size, RETURN_FILE_LIMIT) if size else [0]
        if count + len(pieces) > RETURN_FILES or total + size > RETURN_TOTAL_LIMIT - MIB:
            manifest["left_out"].append(f"{path} (over the return limits)")
            continue
        entry = {"sha256": file_sha256(path), "size": size, "parts": []}
        with open(path, "rb") as f:
            for index, _ in enumerate(pieces):
                block = f.read(RETURN_FILE_LIMIT)
                atomic_write_bytes(out / f"{path.name}.{index:02d}", block)
                entry["parts"].append(f"{path.name}.{index:02d}")
        manifest["files"][path.name] = entry
        count, total = count + len(pieces), total + size
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    for line in manifest["left_out"]:
        print(f"not sent: {line}")


def receive(src: Path, to: Path) -> None:
    """Here: the files ``send`` split into ``src`` joined into ``to``, each checked against its SHA-256; a file of
    the same name already there is kept as ``<name>.prev`` (once the new one is whole; the same file received
    again changes nothing)."""
    manifest = json.loads((src / MANIFEST).read_text())
    for name, entry in manifest["files"].items():
        target = to / name
        if target.is_file() and file_sha256(target) == entry["sha256"]:
            print(f"{target}: already here")
            continue
        incoming = to / f"{name}.incoming"
        _join([src / part for part in entry["parts"]], incoming, entry["sha256"],
              f"{name}: the parts in {src} do not give the file sent back")
        if target.exists():
            os.replace(target, to / f"{name}.prev")
        os.replace(incoming, target)
        print(f"{target} ({entry['size'] / MIB:.1f} MiB, SHA-256 checked)")
    for line in manifest["left_out"]:
        print(f"not sent back: {line}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    c = commands.add_parser("pack", help="here: the call folders under .gpu/")
    c.add_argument("--model", choices=list(DATA_FOLDERS), default="iclr")
    c.add_argument("--data_root", type=Path, default=ROOT / "datasets")
    c.add_argument("--state", type=Path, help=f"the state to carry (default {STATE_ROOT}/<model>_released)")
    c = commands.add_parser("unpack", help="there: the images and the state from the carried call folders")
    c.add_argument("--data_root", type=Path, default=ROOT / "datasets")
    c.add_argument("--run_dir", type=Path, default=ROOT / "runs" / "gpu_iclr")
    c = commands.add_parser("send", help="there: files into $OUT in parts")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--out", type=Path, required=True)
    c = commands.add_parser("receive", help="here: the parts a call brought back, joined")
    c.add_argument("src", type=Path)
    c.add_argument("--model", choices=list(DATA_FOLDERS), default="iclr")
    c.add_argument("--to", type=Path, help=f"default {STATE_ROOT}/<model>_released")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "pack":
            calls = pack(args.model, args.data_root, args.state or STATE_ROOT / f"{args.model}_released", PACK_DIR)
            for number, call in enumerate(calls, 1):
                size = sum(p.stat().st_size for p in call.rglob("*") if p.is_file())
                what = f"MODEL={args.model} bash benchmarks/gpu_train.sh" if number == len(calls) else "true"
                print(f"call {number}: carry {call.relative_to(ROOT)} ({size / MIB:.1f} MiB), command: {what}")
        elif args.command == "unpack":
            unpack(PACK_DIR, args.data_root, args.run_dir)
        elif args.command == "send":
            send(args.files, args.out)
        else:
            receive(args.src, args.to or STATE_ROOT / f"{args.model}_released")
    except (TransferError, OSError, ValueError, KeyError, cv2.error) as error:  # JSON and manifests too
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
