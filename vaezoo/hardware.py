"""What the machine offers, for the ``"auto"`` defaults of training and evaluation."""

import tensorflow as tf

__all__ = ["accelerator_present", "bf16_pays", "cpu_has_bf16"]


def accelerator_present():
    """True when TensorFlow sees a GPU or a TPU."""
    return any(d.device_type in ("GPU", "TPU") for d in tf.config.list_logical_devices())


def cpu_has_bf16():
    """True on a CPU with bfloat16 dot products (AVX512-BF16 or AMX), per /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def bf16_pays():
    """True where bfloat16 matrix products were measured to pay: a CPU-only machine
    whose CPU has bfloat16 dot-product instructions (``benchmarks/throughput.py``).
    GPUs and TPUs are not measured here, so they keep float32."""
    return not accelerator_present() and cpu_has_bf16()
