import numpy as np

from app.audio.levels import dbfs_to_amplitude, fade, soft_limit


class TestSoftLimit:
    def test_samples_below_the_knee_pass_unchanged(self) -> None:
        x = np.linspace(-0.5, 0.5, 1001, dtype=np.float32)
        assert np.array_equal(soft_limit(x, -3.0, -1.0), x)

    def test_loud_samples_stay_within_the_ceiling_and_keep_their_order(self) -> None:
        x = np.linspace(-4.0, 4.0, 8001, dtype=np.float32)
        y = soft_limit(x, -3.0, -1.0)
        assert np.abs(y).max() <= np.float32(dbfs_to_amplitude(-1.0))
        assert np.all(np.diff(y) >= 0)

    def test_copy_leaves_the_input_alone(self) -> None:
        x = np.full(10, 2.0, np.float32)
        soft_limit(x, -3.0, -1.0)
        assert np.all(x == 2.0)


class TestFade:
    def test_fades_start_and_end_at_zero(self) -> None:
        x = fade(np.ones(1000, np.float32), fade_in=100, fade_out=100)
        assert x[0] == 0.0 and x[-1] == 0.0
        assert np.all(x[100:900] == 1.0)
        assert np.all(np.diff(x[:100]) > 0)
