"""benchmarks/throughput.py and iterator_modes.py run and report (no timing is asserted)."""

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench():
    sys.path.insert(0, str(BENCH))  # throughput.py imports reference_keras_vae beside it
    spec = importlib.util.spec_from_file_location("throughput_benchmark", BENCH / "throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_quick_run_reports_every_row_and_same_run_ratio(tmp_path):
    """A --quick run on tiny synthetic data: every row timed each round, every ratio
    (defaults against the reference on both feeds, each opt-in against the defaults)
    reported with the CPU beside it. No time is asserted."""
    bench = _bench()
    out = tmp_path / "throughput"
    bench.main(["--quick", "--synthetic", "--steps", "2", "--out", str(out)])
    result = json.loads(out.with_suffix(".json").read_text())
    rows = {bench.REFERENCE_NUMPY, bench.DEFAULTS_NUMPY, bench.REFERENCE_TFDATA,
            bench.DEFAULTS_TFDATA, *bench.OPT_INS}
    assert set(result["images_per_s"]) == rows
    assert all(len(r["rounds"]) == 2 and min(r["rounds"]) > 0
               for r in result["images_per_s"].values())
    assert {"defaults / reference, NumPy", "defaults / reference, tf.data",
            "gather_arrays_in_step=True / defaults", "optimizer='fused_adam' / defaults",
            "dtype='mixed_bfloat16' / defaults"} <= set(result["ratios"])
    assert all(r["ratio_of_medians"] > 0 and len(r["per_round"]) == 2
               for r in result["ratios"].values())
    assert result["cpu"]["model"] and isinstance(result["cpu"]["flags"], list)
    assert result["steps_per_round"] == 2 and result["batch_size"] == 128
    report = out.with_suffix(".md").read_text()
    assert f"CPU: {result['cpu']['model']}" in report
    assert "| defaults / reference, tf.data | **" in report


def test_benchmarked_models_are_the_defaults_and_the_opt_ins():
    import keras

    from vaezoo.optimizers import FusedAdam

    bench = _bench()
    defaults = bench.build_vaezoo()
    assert type(defaults.optimizer) is keras.optimizers.Adam
    assert defaults.training_precision == "float32" and not defaults.gather_arrays_in_step
    assert type(bench.build_vaezoo(optimizer="fused_adam").optimizer) is FusedAdam
    assert bench.build_vaezoo(dtype="mixed_bfloat16").training_precision == "mixed_bfloat16"
    assert bench.build_vaezoo(gather=True).gather_arrays_in_step


def test_iterator_modes_probe_times_every_way_each_round(tmp_path):
    """benchmarks/iterator_modes.py runs end to end and records every round (real data)."""
    spec = importlib.util.spec_from_file_location("iterator_modes", BENCH / "iterator_modes.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    out = tmp_path / "modes"
    probe.main(["--rounds", "2", "--steps", "32", "--out", str(out)])
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["steps_per_round"] == 32
    assert len(result["ms_per_step"]) == 5
    assert all(len(v) == 2 and min(v) > 0 for v in result["ms_per_step"].values())
    assert "one iterator for all rounds" in out.with_suffix(".md").read_text()
