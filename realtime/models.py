"""Finding, describing and validating the ONNX models the runtime loads (contract: models/README.md)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from realtime.errors import RealtimeError

logger = logging.getLogger(__name__)
PERSON_MODEL = "person.onnx"
MANIFEST = "manifest.json"  # shipped beside the weights: file name -> sha256 (written by `python -m export.manifest`)
STYLE_SUFFIX = ".onnx"
CONTRACTS = {  # kind -> (input name, output name, output channels)
    "person-segmentation": ("image", "mask", 1),
    "style-transfer": ("image", "stylized", 3),
}


def shipped_dir() -> Path:
    """Where the ONNX weights shipped with the package live (package data or the repo's models/weights).

    ``$REALTIME_MODELS`` points elsewhere (tests use it for tiny freshly exported networks)."""
    env = os.environ.get("REALTIME_MODELS")
    if env:
        return Path(env)
    try:
        from importlib.resources import files

        return Path(str(files("realtime.weights")))
    except ModuleNotFoundError:  # running from a source checkout
        return Path(__file__).resolve().parents[1] / "models" / "weights"


def user_styles_dir() -> Path:
    """Where `python -m export.train_style` puts a user's own styles (``$REALTIME_STYLES`` overrides)."""
    env = os.environ.get("REALTIME_STYLES")
    if env:
        return Path(env)
    from realtime.paths import data_dir

    return data_dir() / "styles"


@dataclass(frozen=True)
class ModelInfo:
    """An ONNX model file and its metadata (name, painting, artist, year, architecture, ...)."""

    path: Path
    metadata: dict[str, str]

    @property
    def name(self) -> str:
        """The name ``--style`` resolves: the file name, so listing and resolving never disagree."""
        return self.path.stem

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6

    def sha256(self) -> str:
        return file_sha256(self.path)


def read_info(path: Path) -> ModelInfo:
    """Read an ONNX file's metadata without running it; RealtimeError if it is not a usable ONNX model."""
    from realtime.inference import cpu_session

    if not path.is_file():
        raise RealtimeError(f"model file not found: {path}")
    try:
        sess = cpu_session(path, threads=1, optimize=False)
    except Exception as exc:  # noqa: BLE001 - ORT raises several unrelated types for a bad file
        raise RealtimeError(f"{path} is not a valid ONNX model ({first_line(exc)})") from None
    return ModelInfo(path, dict(sess.get_modelmeta().custom_metadata_map))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def check_contract(sess, kind: str, path: Path) -> None:
    """Reject a session whose inputs/outputs do not match the ``kind`` contract in models/README.md."""
    in_name, out_name, out_channels = CONTRACTS[kind]
    ins, outs = sess.get_inputs(), sess.get_outputs()
    problems = []
    if len(ins) != 1 or ins[0].name != in_name or len(ins[0].shape) != 4 or ins[0].shape[1] != 3:
        got = ", ".join(f"{i.name}{i.shape}" for i in ins)
        problems.append(f"expected one input '{in_name}' [N,3,H,W], got {got}")
    elif ins[0].type != "tensor(float)":
        problems.append(f"input '{in_name}' must be float32, got {ins[0].type}")
    if len(outs) != 1 or outs[0].name != out_name or len(outs[0].shape) != 4 or outs[0].shape[1] != out_channels:
        got = ", ".join(f"{o.name}{o.shape}" for o in outs)
        problems.append(f"expected one output '{out_name}' [N,{out_channels},H,W], got {got}")
    if problems:
        raise RealtimeError(f"{path.name} is not a {kind} model: {'; '.join(problems)}")


def list_styles() -> list[ModelInfo]:
    """Installed styles: the shipped ones, then the user's own; int8 twins are not listed."""
    seen: dict[str, ModelInfo] = {}
    for folder in (shipped_dir(), user_styles_dir()):
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob(f"*{STYLE_SUFFIX}")):
            if is_person_model(p) or is_twin(p):
                continue
            try:
                info = read_info(p)
            except RealtimeError:
                continue
            if info.metadata.get("kind", "style-transfer") == "style-transfer":
                seen.setdefault(info.name, info)
    return list(seen.values())


FULL = "-full"  # ``udnie-full``: the network that paints ``udnie`` at full resolution (models/README.md)
INT8 = ".int8"  # ``udnie-full.int8.onnx``: the same network quantised, for a CPU (models/README.md)


STYLE_NAME = re.compile(r"\w[\w-]*")  # a style's file is NAME.onnx in a styles folder: no separators, no dot


def check_style_name(name: str) -> str:
    """``name`` if a style may be called that: letters, digits, _ and -, not ending in ``FULL`` (the suffix of a
    style's full network); else ValueError saying so."""
    if not STYLE_NAME.fullmatch(name) or name.endswith(FULL):
        raise ValueError(f"a style's name takes letters, digits, _ and - (not ending in {FULL}), got {name!r}")
    return name


def style_file(name: str, full: bool = False) -> str:
    """The file a style's network is kept in: ``udnie.onnx``, its full network ``udnie-full.onnx``."""
    return f"{name}{FULL if full else ''}{STYLE_SUFFIX}"


MINE = "my_"  # before a style's name where realtime ships a network of that name (``style_name_from``)


def ships(name: str) -> bool:
    """Whether realtime ships a network called ``name`` (a style's, fast or full, or the person network): it is looked
    up before a user's own (``resolve_style``), so a user's style of that name would never be used, or, where only
    one of a style's two networks shipped, would be painted beside the other."""
    return (is_person_model(Path(style_file(name)))
            or any((shipped_dir() / style_file(name, full)).is_file() for full in (False, True)))


def check_not_shipped(name: str) -> str:
    """``name`` if a style trained under it will be found by that name (``ships``); else ValueError saying so."""
    if ships(name):
        raise ValueError(f"realtime ships a network called {name!r}, and --style {name} would go on choosing it; "
                         f"give yours another name (e.g. --name {MINE}{name})")
    return name


def style_name_from(painting: Path) -> str:
    """The name a style trained from ``painting`` gets unless one is given: its file's name, with what a style's
    name cannot hold made underscores (``The Scream (1893).jpg`` -> ``The_Scream_1893``), and ``MINE`` before it
    where realtime ships a network of that name (``udnie.jpg`` -> ``my_udnie``: ``ships``)."""
    name = re.sub(r"[^\w-]+", "_", painting.stem).strip("_-")
    while name.endswith(FULL):
        name = name.removesuffix(FULL).rstrip("_-")
    name = name or "style"
    return f"{MINE}{name}" if ships(name) else name


def hidden_styles() -> list[Path]:
    """The user's style networks (float files; an int8 twin goes with its float file) that a shipped network of the
    same name hides, as it is found first: a user's ``udnie.onnx`` trained before ``style_name_from`` named it
    ``my_udnie``."""
    folder = user_styles_dir()
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob(f"*{STYLE_SUFFIX}"))
            if not is_twin(p) and (is_person_model(p) or (shipped_dir() / p.name).is_file())]


QUANTIZED_FROM = "quantized_from"  # a twin's metadata: the sha256 of the float file it was made from


def is_twin(path: Path) -> bool:
    """An int8 twin of another network: loaded in its place where it runs on a CPU, never listed as a style."""
    return path.name.endswith(INT8 + STYLE_SUFFIX)


def network_name(path: Path) -> str:
    """The name a network file's metadata carries: its file name up to the first dot, so a twin names the network
    it is a twin of (``udnie-full.int8.onnx`` -> ``udnie-full``)."""
    return path.name.split(".")[0]


def twin_path(float_file: Path) -> Path:
    """Where ``float_file``'s int8 twin lives (``udnie-full.onnx`` -> ``udnie-full.int8.onnx``)."""
    return float_file.with_name(float_file.name.removesuffix(STYLE_SUFFIX) + INT8 + STYLE_SUFFIX)


def _current_twin(float_file: Path) -> Path | None:
    """``float_file``'s int8 twin, if one is installed and was made from this very file (a retrained network
    leaves its old twin stale: then the float network paints, and the log says why)."""
    twin = twin_path(float_file)
    if not twin.is_file():
        return None
    try:
        made_from = read_info(twin).metadata.get(QUANTIZED_FROM)
    except RealtimeError:
        made_from = None
    if made_from != file_sha256(float_file):
        logger.warning("%s was not made from %s (re-run python -m export.quantize); using the float network",
                       twin.name, float_file.name)
        return None
    return twin


def resolve_style(spec: str, best: bool = False, int8: bool = False) -> Path:
    """A style name (``udnie``, ``udnie-full``) or a path to an .onnx file -> the file to load. ``best``: for a
    name, its full network when one is installed (what paints the background plate, every frame on a GPU, and
    files in ``render``), else the named one: ``--style`` names the painting, the runtime picks the network.
    ``int8``: that network's int8 twin where one is installed (live on a CPU)."""
    if spec.endswith(".onnx") or os.sep in spec or "/" in spec:
        p = Path(spec).expanduser()
        if not p.is_file():
            raise RealtimeError(f"style model not found: {spec}")
        return p
    files = [style_file(spec, True), style_file(spec)] if best and not spec.endswith(FULL) else [style_file(spec)]
    for file in files:
        for folder in (shipped_dir(), user_styles_dir()):
            p = folder / file
            if p.is_file():
                return (_current_twin(p) if int8 else None) or p
    names = ", ".join(sorted(s.name for s in list_styles())) or "none installed"
    raise RealtimeError(f"unknown style {spec!r}; available styles: {names}")


def is_person_model(path: Path) -> bool:
    """A person network's file (``person.onnx``, ``person-full.onnx``), never a style."""
    return network_name(path).removesuffix(FULL) == Path(PERSON_MODEL).stem


def person_model(best: bool = False) -> Path:
    """The shipped person-segmentation model. ``best``: its full network where one is shipped (``person-full.onnx``,
    fed a finer picture: in ``render``, on a GPU and live on a CPU that affords it), else the small one."""
    p = shipped_dir() / PERSON_MODEL
    full = p.with_name(p.stem + FULL + STYLE_SUFFIX)
    if best and full.is_file():
        return full
    if not p.is_file():
        raise RealtimeError(f"person model missing: {p} (reinstall the package)")
    return p


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(folder: Path | None = None) -> dict[str, str]:
    """The shipped weights' expected checksums (empty when the folder has no manifest)."""
    path = (folder or shipped_dir()) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def checksum_status(info: ModelInfo) -> str:
    """"ok", "CHANGED ..." or "not shipped" for a model file against the manifest of its folder."""
    expected = manifest(info.path.parent).get(info.path.name)
    if expected is None:
        return "not shipped (no checksum to check)"
    got = info.sha256()
    return "ok" if got == expected else f"CHANGED: sha256 {got[:16]}, shipped {expected[:16]} (reinstall the package)"


def metadata_json(info: ModelInfo, key: str, default: object = None) -> object:
    """A metadata value decoded from JSON when it is JSON, else the raw string."""
    raw = info.metadata.get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return raw
