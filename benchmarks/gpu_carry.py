"""Bring onnxruntime-gpu and the runtime's other wheels to the lent GPU machine (issue #7).

That machine has Python 3.12 and CUDA 13 but no internet, and each call carries at most 64 MiB (the working
tree included), while the onnxruntime-gpu wheel alone is ~250 MB. So the wheels are split into parts here
and carried over consecutive calls while the machine stays warm; its /tmp keeps the parts between calls.

Here (with internet), once:

    python benchmarks/gpu_carry.py pack          # downloads into .gpu/, splits into .gpu/call-00, call-01, ...

Then one device call per folder, each carrying [".gpu/manifest.json", ".gpu/call-NN"]:

    python3 benchmarks/gpu_carry.py unpack       # says which calls are still missing; after the last one it
                                                 # reassembles, checks sha256 and pip-installs into /tmp/site
    export PYTHONPATH=/tmp/site:$PWD             # then realtime runs there: python3 -m realtime doctor

The device's PyTorch (CUDA 13) brings NVIDIA's CUDA and cuDNN wheels, which the runtime preloads.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

GPU_DIR = Path(".gpu")
PARTS = Path("/tmp/gpu-parts")
SITE = Path("/tmp/site")
CALL_LIMIT_MB = 64
# the runtime's dependencies, resolved for the device by pip; numpy is left out (the device's image has numpy 2,
# which its PyTorch uses; a second copy first on the path would shadow it)
PACKAGES = ["onnxruntime-gpu==1.31.1", "opencv-python-headless", "pyvirtualcam", "typer"]
SKIP = ("numpy-",)
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(dest: Path, packages: list[str]) -> list[Path]:
    """pip-download cp312 manylinux wheels of ``packages`` and their dependencies, less the ones in SKIP."""
    dest.mkdir(parents=True, exist_ok=True)
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.12",
                    "--implementation", "cp", *plat, "-d", str(dest), *packages], check=True)
    return sorted(w for w in dest.glob("*.whl") if not w.name.lower().startswith(SKIP))


def tree_mb() -> float:
    """Size of what every call sends anyway: tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum(Path(n.decode()).stat().st_size for n in names if n and Path(n.decode()).is_file()) / 2**20


def split(wheels: list[Path], out: Path, call_mb: float) -> dict:
    """Cut the wheels into parts of at most ``call_mb`` MiB, grouped into one folder per device call."""
    limit = int(call_mb * 2**20)
    if limit <= 0:
        raise SystemExit("error: no room left in a call for wheel parts (the working tree fills it)")
    manifest: dict = {"wheels": [], "calls": []}
    room = 0  # left in the current call
    for whl in wheels:
        entry = {"name": whl.name, "sha256": sha256(whl), "size": whl.stat().st_size, "parts": []}
        with whl.open("rb") as f:
            while chunk := f.read(room or limit):
                if not room:
                    manifest["calls"].append([])
                    room = limit
                part = f"{whl.name}.{len(entry['parts']):03d}"
                call = out / f"call-{len(manifest['calls']) - 1:02d}"
                call.mkdir(parents=True, exist_ok=True)
                (call / part).write_bytes(chunk)
                entry["parts"].append(part)
                manifest["calls"][-1].append(part)
                room -= len(chunk)
        manifest["wheels"].append(entry)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def collect(gpu_dir: Path, parts: Path) -> None:
    """Keep the parts this call carried (they are gone from the working tree at the next call)."""
    parts.mkdir(parents=True, exist_ok=True)
    for p in gpu_dir.glob("call-*/*"):
        shutil.copyfile(p, parts / p.name)


def missing_calls(manifest: dict, parts: Path) -> list[str]:
    return [f"call-{i:02d}" for i, call in enumerate(manifest["calls"]) if any(not (parts / p).is_file() for p in call)]


def assemble(manifest: dict, parts: Path, out: Path) -> list[Path]:
    """Join each wheel's parts and check it against the manifest's sha256."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for w in manifest["wheels"]:
        whl = out / w["name"]
        with whl.open("wb") as f:
            for p in w["parts"]:
                f.write((parts / p).read_bytes())
        if sha256(whl) != w["sha256"]:
            raise SystemExit(f"error: {w['name']} does not match its sha256 after reassembly; carry its parts again")
        done.append(whl)
    return done


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    pack = sub.add_parser("pack", help="here: download the wheels and split them into per-call folders")
    pack.add_argument("--wheels", type=Path, default=None, help="use these wheels instead of downloading")
    pack.add_argument("--call-mb", type=float, default=None,
                      help="MiB of parts per call (default: 64 MiB minus the working tree minus 4)")
    pack.add_argument("--out", type=Path, default=GPU_DIR)
    unpack = sub.add_parser("unpack", help="on the device: keep this call's parts; install once all are there")
    unpack.add_argument("--gpu-dir", type=Path, default=GPU_DIR)
    unpack.add_argument("--parts", type=Path, default=PARTS)
    unpack.add_argument("--site", type=Path, default=SITE)
    unpack.add_argument("--no-install", action="store_true", help="reassemble and check only")
    args = ap.parse_args(argv)

    if args.cmd == "pack":
        wheels = sorted(args.wheels.glob("*.whl")) if args.wheels else download(args.out / "wheels", PACKAGES)
        call_mb = args.call_mb if args.call_mb is not None else CALL_LIMIT_MB - tree_mb() - 4
        m = split(wheels, args.out, call_mb)
        total = sum(w["size"] for w in m["wheels"]) / 2**20
        print(f"{len(m['wheels'])} wheels, {total:.0f} MiB, in {len(m['calls'])} calls of <= {call_mb:.0f} MiB: "
              f"carry [\"{args.out}/manifest.json\", \"{args.out}/call-NN\"] in each")
        return
    manifest_path = args.gpu_dir / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"error: {manifest_path} was not carried (run `pack` here, carry it in every call)")
    manifest = json.loads(manifest_path.read_text())
    collect(args.gpu_dir, args.parts)
    missing = missing_calls(manifest, args.parts)
    if missing:
        print(f"parts kept in {args.parts}; still to carry: {', '.join(missing)}")
        return
    wheels = assemble(manifest, args.parts, args.parts.parent / "gpu-wheels")
    print(f"{len(wheels)} wheels reassembled, sha256 checked")
    if not args.no_install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--upgrade", "--target", str(args.site), *map(str, wheels)], check=True)
        print(f"installed into {args.site}: export PYTHONPATH={args.site}:$PWD")


if __name__ == "__main__":
    main()
