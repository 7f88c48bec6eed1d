"""Any frame into the pipeline API: handled, or a clear ValueError; never a crash or a hang."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.config import Settings
from realtime.pipeline import Pipeline


@pytest.fixture(scope="module")
def pipelines():
    return {m: Pipeline.from_settings(Settings(mode=m, style_scale=0.25, threads=1))
            for m in ("style-background", "blur", "mask")}


shapes = st.one_of(
    st.tuples(st.integers(1, 64), st.integers(1, 64)),
    st.tuples(st.integers(1, 64), st.integers(1, 64), st.sampled_from([1, 2, 3, 4, 5])),
    st.sampled_from([(1, 1, 3), (2160, 3840, 3), (1, 4000, 3), (3000, 2), (0, 10, 3), (10,), (2, 2, 2, 3)]),
)
dtypes = st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_, np.int8])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes, dtype=dtypes, nan=st.booleans(), mode=st.sampled_from(["style-background", "blur", "mask"]))
def test_any_frame(pipelines, shape, dtype, nan, mode):
    frame = np.zeros(shape, dtype)
    if frame.size and np.issubdtype(dtype, np.floating):
        frame.flat[:: max(1, frame.size // 7)] = np.nan if nan else 0.7
    elif frame.size and dtype is not np.bool_:
        frame.flat[:: max(1, frame.size // 5)] = 100
    try:
        out = pipelines[mode].process(frame)
    except ValueError as exc:
        assert str(exc)
        return
    assert out.dtype == np.uint8 and out.shape[:2] == shape[:2]
    assert out.shape[2:] == ((3,) if mode != "mask" else ())  # the matte is one channel
    assert np.isfinite(out).all()


def test_non_array_is_a_value_error(pipelines):
    with pytest.raises(ValueError, match="numpy array"):
        pipelines["blur"].process([[1, 2], [3, 4]])
