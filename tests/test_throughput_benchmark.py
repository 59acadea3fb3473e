"""benchmarks/throughput.py's step profile and report merging (no timing is asserted)."""

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


def test_bare_matmul_chain_does_the_training_steps_matmul_work():
    """The ceiling is only meaningful if it multiplies exactly what a training step does."""
    bench = _bench()
    model = bench.build_vaezoo("mlp", (28, 28, 1), {})
    per_image, unknown = bench.training_flops_per_image(model, 8, (28, 28, 1))
    ceiling = bench.matmul_ceiling(8, "float32", steps=1, rounds=1)
    assert unknown == 0
    assert ceiling["flops_per_step"] == per_image * 8
    assert ceiling["gflops_per_s"] > 0


def _profile():
    return {"batch_size": 128, "steps_per_timing": 50, "rounds": 3,
            "ms_per_step": {"vaezoo forward + backward, float32": 5.5,
                            "vaezoo optimizer update (FusedAdam)": 0.75,
                            "vaezoo train_step, float32": 8.0,
                            "vaezoo train_step, mixed_bfloat16": 6.25,
                            "reference train_step": 10.0},
            "matmul": [{"dtype": "float32", "ms_per_step": 5.45, "gflops_per_s": 171.0},
                       {"dtype": "bfloat16", "ms_per_step": 4.4, "gflops_per_s": 214.0}]}


def _run(command, **sections):
    return {"command": command, "date": "2026-11-26 04:00", "precision": "float32",
            "device": {"device": "CPU", "cpu_model": "X", "cpu_cores": 2,
                       "strategy": "default", "replicas": 1, "peak_note": "n/a",
                       "load_average_1min_at_start": 0.5},
            **sections}


def test_merging_a_merged_report_keeps_each_sections_command(tmp_path):
    bench = _bench()
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(_run("python throughput.py --only-memory",
                                     memory=[{"kind": "train", "examples": 10, "num_samples": None,
                                              "peak_rss_mib": 100.0}])))
    second.write_text(json.dumps(_run("python throughput.py --profile",
                                      step_profile=_profile())))
    bench.merge([str(first), str(second)], str(tmp_path / "m"))
    again = tmp_path / "c.json"
    again.write_text(json.dumps(_run("python throughput.py --profile --rounds 7",
                                     step_profile=_profile())))
    bench.merge([str(tmp_path / "m.json"), str(again)], str(tmp_path / "m2"))
    merged = json.loads((tmp_path / "m2.json").read_text())
    assert merged["commands"] == {"memory": "python throughput.py --only-memory",
                                  "step_profile": "python throughput.py --profile --rounds 7"}
    report = (tmp_path / "m2.md").read_text()
    assert "Command (memory): `python throughput.py --only-memory`" in report
    assert "## Where an MLP training step's time goes (batch 128" in report
    assert "| the step's matrix products alone, bfloat16 (214 GFLOP/s) | 4.40 |" in report
    assert ("The reference's step takes 1.60x vaezoo's whole mixed_bfloat16 train_step "
            "(the default here). It takes 1.25x vaezoo's whole float32 train_step, 1.60x "
            "vaezoo's forward + backward + optimizer update alone (6.25 ms" in report)
    assert "and 1.61x the bare float32 matrix products + update (6.20 ms)" in report


def test_training_rows_are_built_in_the_precision_they_name():
    throughput = _bench()
    assert throughput._variant_precision("vaezoo precision='float32'") == "float32"
    assert throughput._variant_precision("vaezoo precision='mixed_bfloat16'") == "mixed_bfloat16"
    assert throughput._variant_precision("vaezoo (defaults)") == "auto"
    assert throughput._variant_precision("vaezoo steps_per_execution=1") == "auto"


def test_pooling_runs_takes_every_round_of_every_run(tmp_path):
    throughput = _bench()

    def run(path, ref, ratios, date):
        rows = [{"family": "mlp", "batch_size": 128, "models": {
            "reference (keras.io recipe)": {"rounds": ref},
            "vaezoo (defaults)": {"per_round_ratios": ratios, "ratio_to_reference": 9.0}}},
            {"family": "conv", "batch_size": 128, "models": {}}]      # not pooled
        path.write_text(json.dumps({"command": f"cmd {date}", "date": date, "training": rows}))
        return str(path)

    a = run(tmp_path / "a.json", [100, 50, 95], [1.2, 2.4, 1.3], "d1")
    b = run(tmp_path / "b.json", [80, 79], [1.5, 1.6], "d2")
    text, summary = throughput.pool_training([a, b])
    assert summary["rounds"] == 5 and summary["runs"] == 2
    assert summary["median_per_round_ratio"] == 1.5
    # fast mode: reference rounds >= 90% of that run's best (100, 95; 80, 79)
    assert summary["rounds_reference_fast"] == 4
    assert summary["median_per_round_ratio_reference_fast"] == (1.3 + 1.5) / 2
    assert "`cmd d1`" in text and "**1.50x**" in text


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


def _step_ops():
    spec = importlib.util.spec_from_file_location("step_ops", BENCH / "step_ops.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))
    spec.loader.exec_module(module)
    return module


def test_step_ops_sums_op_time_per_type_over_compute_threads_only():
    """The op table adds up each op type's events on the compute threads, per step."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    step_ops = _step_ops()
    assert step_ops.op_type("while/body/_1/dense/Relu:_MklNativeFusedMatMul") == \
        "_MklNativeFusedMatMul"
    assert step_ops.op_type("ExecutorState::Process") is None
    assert step_ops.op_type("ParallelFor") is None
    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    for i, name in enumerate(["a/MatMul:_MklMatMul", "b/Cast:Cast", "ExecutorState::Process"]):
        plane.event_metadata[i + 1].name = name
    compute, python = plane.lines.add(name="tf_Compute/1"), plane.lines.add(name="python")
    for metadata_id, ps in ((1, 3e9), (1, 1e9), (2, 5e8), (3, 9e9)):
        compute.events.add(metadata_id=metadata_id, duration_ps=int(ps))
    python.events.add(metadata_id=1, duration_ps=int(7e9))  # not a compute thread: left out
    times = step_ops.op_times(space, steps=2)
    assert times == {"_MklMatMul": (2.0, 1.0), "Cast": (0.25, 0.5)}


def test_step_ops_probe_runs_end_to_end(tmp_path):
    """benchmarks/step_ops.py times every model each round and profiles two (real data)."""
    step_ops = _step_ops()
    out = tmp_path / "ops"
    step_ops.main(["--steps", "2", "--rounds", "2", "--profile-runs", "1", "--out", str(out)])
    result = json.loads(out.with_suffix(".json").read_text())
    assert set(result["ms_per_step"]) == {step_ops.DEFAULTS, step_ops.REFERENCE,
                                          *step_ops.ABLATIONS}
    assert all(len(v) == 2 and min(v) > 0 for v in result["ms_per_step"].values())
    ops = result["op_ms_per_step"]
    # Both steps multiply matrices (oneDNN kernels here); only vaezoo's uses FusedAdam.
    assert any("MatMul" in k for k in ops[step_ops.DEFAULTS])
    assert "ResourceApplyAdam" in ops[step_ops.DEFAULTS]
    assert "ResourceApplyAdam" not in ops[step_ops.REFERENCE]
    report = out.with_suffix(".md").read_text()
    assert "| **all ops** |" in report and "optimizer=SGD" in report
