"""Write the shipped weights' checksums (models/weights/manifest.json), which `realtime doctor` checks.

    python -m export.manifest          # after shipping a retrained model into models/weights
"""
from __future__ import annotations

import json
from pathlib import Path

from realtime.models import MANIFEST, file_sha256

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights"


def shipped(folder: Path = WEIGHTS) -> list[Path]:
    """The files the wheel carries."""
    return sorted(folder.glob("*.onnx"))


def checksums(folder: Path = WEIGHTS) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in shipped(folder)}


def main() -> None:
    (WEIGHTS / MANIFEST).write_text(json.dumps(checksums(), indent=2) + "\n")
    print(f"wrote {WEIGHTS / MANIFEST}")


if __name__ == "__main__":
    main()
