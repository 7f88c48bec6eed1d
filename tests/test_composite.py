"""The composite arithmetic of every mode, on known arrays (networks replaced by known functions)."""
import cv2
import numpy as np
import pytest
from conftest import OnCpu

from realtime import composite
from realtime.config import Settings
from realtime.modes import MODES
from realtime.pipeline import Pipeline

H, W = 36, 64


class Known:
    """Stands in for a network: returns a fixed array (the composite is what is tested here)."""

    session = OnCpu()

    def __init__(self, value):
        self.value = value

    def __call__(self, frame, smoother=None):
        return self.value


def make(mode, person, styled_value=200, strength=1.0, background=None, plate=True):
    s = Settings(mode=mode, strength=strength, feather=0, mask_smoothing=0.0, plate=plate,
                 background="x" if background is not None else None).validate()
    p = Pipeline(s, live=False)
    p.segmenter = Known(np.full((H // 4, W // 4), person, np.float32))
    p.stylizer = p.plate_stylizer = Known(np.full((H, W, 3), styled_value, np.uint8))
    p.picture = background
    p.set_mode(mode)
    return p


FRAME = np.full((H, W, 3), 100, np.uint8)


def person_weight(p, mode="style-background"):
    soft = composite.soften(np.full((2, 2), p, np.float32), 4, feather=0)
    return float(composite.guided_upsample(soft, FRAME, edge=MODES[mode].edge)[0, 0]) / 255


@pytest.mark.parametrize("plate", [True, False])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_style_background(p, plate):
    w = person_weight(p)
    out = make("style-background", p, plate=plate).process(FRAME)
    assert out.shape == FRAME.shape and out.dtype == np.uint8
    assert np.allclose(out, 200 * (1 - w) + 100 * w, atol=1)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_style_person_is_the_inverse(p):
    w = person_weight(p, "style-person")
    out = make("style-person", p).process(FRAME)
    assert np.allclose(out, 200 * w + 100 * (1 - w), atol=1)


def test_strength_scales_the_style():
    out = make("style-background", 0.0, strength=0.25).process(FRAME)
    assert np.allclose(out, 100 + 0.25 * 100, atol=1)
    assert np.array_equal(make("style-background", 0.0, strength=0.0).process(FRAME), FRAME)


def test_style_all_ignores_the_mask():
    assert np.allclose(make("style-all", 1.0).process(FRAME), 200, atol=1)


def test_replace_and_mask_and_none():
    bg = np.full((10, 20, 3), 7, np.uint8)
    assert np.allclose(make("replace", 0.0, background=bg).process(FRAME), 7, atol=1)
    assert np.allclose(make("replace", 1.0, background=bg).process(FRAME), 100, atol=1)
    m = make("mask", 1.0).process(FRAME)
    assert m.shape == FRAME.shape[:2] and np.all(m == 255)  # one channel
    assert np.all(make("mask", 0.0).process(FRAME) == 0)
    assert np.array_equal(make("none", 0.0).process(FRAME), FRAME)


@pytest.mark.parametrize("plate", [True, False])
def test_blur_keeps_the_person_and_blurs_the_rest(plate):
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:, ::2] = 255  # stripes: blur turns them grey
    out_bg = make("blur", 0.0, plate=plate).process(frame)
    assert out_bg.std() < frame.std() / 4
    assert np.array_equal(make("blur", 1.0, plate=plate).process(frame), frame)


def test_soft_mask_sharpens_around_half_and_threshold_is_hard():
    m = np.array([[0.3, 0.5, 0.7]], np.float32)
    soft = composite.soften(m, 3, feather=0)
    assert soft[0, 0] < 0.3 and abs(soft[0, 1] - 0.5) < 1e-3 and soft[0, 2] > 0.7
    hard = composite.soften(m, 3, feather=0, threshold=0.6)
    assert hard.tolist() == [[0.0, 0.0, 1.0]]


def test_feather_softens_edges():
    m = np.zeros((16, 16), np.float32)
    m[:, 8:] = 1
    f = cv2.resize(composite.soften(m, 64, feather=6), (64, 64), interpolation=cv2.INTER_LINEAR)
    row = f[32]
    assert row[0] < 0.01 and row[-1] > 0.99
    assert 0.05 < row[30] < 0.95  # a gradual ramp at the edge


def test_mask_smoothing_holds_still_areas_and_follows_motion():
    sm = composite.MaskSmoother(smoothing=0.8, motion_gain=6.0)
    base = np.full((4, 4), 0.5, np.float32)
    sm(base)
    small = sm(base + 0.05)  # jitter: mostly the old value is kept
    keep = 0.8 * np.exp(-6.0 * 0.05)
    assert keep > 0.5 and small[0, 0] == pytest.approx(0.5 * keep + 0.55 * (1 - keep), abs=1e-5)
    big = sm(np.ones((4, 4), np.float32))  # the person moved: follow at once
    assert big[0, 0] > 0.95
    finer = sm(np.full((8, 8), 0.95, np.float32))  # the net fed another size: its last answer carries over, enlarged
    assert finer.shape == (8, 8) and 0.95 < finer[0, 0] < big[0, 0]
    off = composite.MaskSmoother(smoothing=0.0)
    off(base)
    assert np.allclose(off(base + 0.3), 0.8)


def test_painting_smoother_steadies_noise_and_follows_motion():
    from realtime.stylize import PaintingSmoother

    rng = np.random.default_rng(0)
    frame = np.full((24, 32, 3), 120, np.uint8)
    sm = PaintingSmoother(smoothing=0.8, motion_gain=0.15)
    first = np.full((24, 32, 3), 0.5, np.float32)
    assert sm(first, frame) is not None and np.allclose(sm.painted, 0.5)
    noisy = (frame + rng.integers(-2, 3, frame.shape)).astype(np.uint8)  # sensor noise only
    shimmer = sm(np.full_like(first, 0.7), noisy)  # the net's strokes jumped
    assert 0.5 < shimmer.mean() < 0.56  # held near the previous painting
    moved = np.full_like(frame, 230)  # something really moved: follow it at once
    assert sm(np.full_like(first, 0.9), moved).mean() > 0.89
    off = PaintingSmoother(smoothing=0.0)
    off(first, frame)
    assert np.allclose(off(np.full_like(first, 0.7), noisy), 0.7)
    small = np.full((12, 16, 3), 0.2, np.float32)  # a new resolution starts afresh
    assert np.allclose(sm(small, frame[:12, :16]), 0.2)


def test_fit_background_covers_and_crops():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, 50:] = 255
    out = composite.fit_background(img, (64, 36))
    assert out.shape == (36, 64, 3)
    assert out[:, 0].max() == 0 and out[:, -1].min() == 255


def test_blend_uint8_matches_float_reference():
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2))
    w = rng.integers(0, 256, (H, W), dtype=np.uint8)
    f = w.astype(np.float32)[..., None] / 255
    ref = a * f + b * (1 - f)
    assert np.abs(composite.blend(a, b, w).astype(np.float32) - ref).max() <= 1.0


@pytest.mark.parametrize("box, sharp", [((20, 10, 30, 20), False), ((0, 0, 64, 36), False), ((0, 5, 3, 4), False),
                                        ((60, 30, 4, 6), False), (None, False), ((4, 2, 56, 32), True),
                                        ((0, 0, 64, 36), True), ((20, 10, 1, 4), True), ((20, 10, 1, 1), True),
                                        ((20, 10, 4, 1), True), ((20, 10, 2, 2), True)])
def test_blend_copies_what_shows_alone_and_mixes_only_where_both_show(box, sharp):
    """The arithmetic runs in the box where the other layer shows at all (for a person's weight and its inverse
    alike), and for a sharp-edged weight (a person's: a thin band mixes the layers) on that band's pixels only:
    the same pixels as blending the whole frame, and neither layer changed."""
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(2))
    a0, b0 = a.copy(), b.copy()
    w = np.zeros((H, W), np.uint8)
    if box is not None:
        x, y, bw, bh = box
        part = rng.integers(0, 256, (bh, bw), dtype=np.uint8)
        if sharp and bw * bh < 16:  # a box of a few pixels, all of the one layer (1x1 and 4x1 boxes once broke)
            part = np.full((bh, bw), 255, np.uint8)
        elif sharp:  # a solid ellipse with a soft rim, and a few pixels mixed at random inside
            part = cv2.ellipse(np.zeros((bh, bw), np.uint8), (bw // 2, bh // 2), (bw // 2, bh // 2), 0, 0, 360, 255, -1)
            part = cv2.bitwise_or(part, cv2.compare(rng.random((bh, bw)), 0.97, cv2.CMP_GT))
            part[cv2.morphologyEx(part, cv2.MORPH_GRADIENT, np.ones((2, 2), np.uint8)) > 0] = 128
            assert 0 < cv2.countNonZero(cv2.inRange(part, 1, 254)) <= composite.MIXED_SHARE * part.size
        w[y:y + bh, x:x + bw] = part
    for weight in (w, 255 - w):
        f = weight.astype(np.float32)[..., None] / 255
        out = composite.blend(a, b, weight)
        assert np.abs(out - (a * f + b * (1 - f))).max() <= 1.0
        w3 = cv2.merge((weight,) * 3)  # the whole-frame arithmetic, exactly
        assert np.array_equal(out, cv2.add(cv2.multiply(a, w3, scale=1 / 255),
                                           cv2.multiply(b, cv2.bitwise_not(w3), scale=1 / 255)))
        assert np.array_equal(out[weight == 0], b[weight == 0]) and np.array_equal(out[weight == 255], a[weight == 255])
    assert np.array_equal(a, a0) and np.array_equal(b, b0)


@pytest.mark.parametrize("scale", [1, 2, 3, 1.5, 2.37])
def test_enlarged_part_is_that_part_of_the_whole_enlargement(scale):
    """Only the part a box of the image reaches is enlarged (whole multiples; otherwise the whole image is), and it
    is exactly what enlarging the whole image gives there; the rest of the whole enlargement is zero."""
    rng = np.random.default_rng(2)
    for _ in range(30):
        ih, iw = int(rng.integers(6, 40)), int(rng.integers(6, 50))
        size = (round(iw * scale), round(ih * scale))
        x, y = int(rng.integers(0, iw)), int(rng.integers(0, ih))
        bw, bh = int(rng.integers(1, iw - x + 1)), int(rng.integers(1, ih - y + 1))
        for dtype in (np.uint8, np.float32):
            image = np.zeros((ih, iw), dtype)
            image[y:y + bh, x:x + bw] = rng.integers(1, 256, (bh, bw))
            whole = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            (rows, cols), part = composite.enlarged_part(image, (x, y, bw, bh), size)
            assert np.array_equal(part, whole[rows, cols])
            whole[rows, cols] = 0
            assert not whole.any()
    (rows, cols), part = composite.enlarged_part(image, (0, 0, 0, 0), size)  # an empty box: a corner, still exact
    assert np.array_equal(part, cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)[rows, cols])


@pytest.mark.parametrize("size", [(1280, 720), (640, 480), (1366, 768), (433, 301)])
@pytest.mark.parametrize("edge", [(0.0, 1.0), (0.3, 0.7)])
def test_guided_upsample_computes_full_size_only_where_the_weight_can_show(size, edge):
    """The full-resolution step runs in the box where the weight can reach half a grey level: the same weight as
    running it on the whole frame (whole multiples of the filter's scale, and sizes that are not)."""
    w, h = size
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), np.uint8), (0, 0), 2)
    mask = np.zeros((90, 160), np.float32)
    cv2.ellipse(mask, (60, 70), (25, 40), 0, 0, 360, 1.0, -1)
    mask += rng.random(mask.shape, np.float32) * 0.2  # a network's faint answers elsewhere
    soft = composite.soften(mask, w)
    # the whole-frame computation, written out
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    s = max(1, round(w / composite.GUIDE_WIDTH))
    sw, sh = max(8, w // s), max(8, h // s)
    guide = composite.shrink(gray, (sw, sh)).astype(np.float32) * (1 / 255)
    p = cv2.resize(soft, (sw, sh), interpolation=cv2.INTER_LINEAR)
    k = (9, 9)
    mean_i, mean_p = cv2.blur(guide, k), cv2.blur(p, k)
    a = (cv2.blur(guide * p, k) - mean_i * mean_p) / (cv2.blur(guide * guide, k) - mean_i * mean_i + 1e-3)
    a, b = cv2.blur(a, k), cv2.blur(mean_p - a * mean_i, k)
    lo, hi = edge
    a, b = a / (hi - lo), (b - lo) / (hi - lo)
    q = cv2.multiply(cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR), gray, dtype=cv2.CV_32F)
    q += cv2.resize(b * 255, (w, h), interpolation=cv2.INTER_LINEAR)
    whole = cv2.convertScaleAbs(cv2.max(q, 0.0))
    out = composite.guided_upsample(soft, frame, edge=edge)
    assert out.any() and (edge == (0.0, 1.0) or np.count_nonzero(out) < out.size // 2)  # the faint answers: cut
    assert np.array_equal(out, whole)


def test_worst_channel_is_each_pixels_largest_channel():
    image = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    assert np.array_equal(composite.worst_channel(image), image.max(axis=2))


@pytest.mark.parametrize("src, dst, most", [((1280, 720), (640, 360), 0), ((1280, 720), (320, 180), 1),
                                            ((640, 480), (80, 60), 1), ((4, 4), (1, 1), 1), ((2, 2), (1, 1), 0),
                                            # not a power of two in both directions: INTER_AREA itself
                                            ((1920, 1080), (320, 180), 0), ((1280, 720), (320, 360), 0),
                                            ((641, 360), (320, 180), 0), ((640, 360), (213, 120), 0)])
def test_shrink_is_the_area_mean_within_a_level_of_rounding(src, dst, most):
    """Halving bilinearly (powers of two) gives INTER_AREA's means, within one level per extra halving's rounding;
    other factors (6x, sizes that do not divide) are INTER_AREA itself."""
    rng = np.random.default_rng(0)
    for image in (rng.integers(0, 256, (src[1], src[0], 3), np.uint8), rng.integers(0, 256, src[::-1], np.uint8),
                  rng.random((src[1], src[0], 3), np.float32) * 255):
        area = cv2.resize(image, dst, interpolation=cv2.INTER_AREA)
        got = composite.shrink(image, dst)
        assert got.shape == area.shape and got.dtype == area.dtype
        assert np.abs(got.astype(np.float64) - area).max() <= most + (1e-3 if image.dtype == np.float32 else 0)


def test_shrink_keeps_a_lone_pixel_of_a_mask():
    """The plate's neighbourhood mask is shrunk 4x and compared with 0: one set pixel must survive the halvings."""
    mask = np.zeros((360, 640), np.uint8)
    mask[101, 203] = 255
    small = composite.shrink(mask, (160, 90))
    assert small[25, 50] == 16 and cv2.countNonZero(small) == 1
