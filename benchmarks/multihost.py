"""Data-parallel ``fit`` over the devices of several processes (hosts), joined by
``jax.distributed.initialize``: the worked example of the README.

Every process runs this same script with the same data and key; only ``--process-id`` differs::

    # two hosts (or two terminals on one machine), two devices each -> one 4-device mesh
    python benchmarks/multihost.py --coordinator host0:12355 --num-processes 2 --process-id 0
    python benchmarks/multihost.py --coordinator host0:12355 --num-processes 2 --process-id 1

On machines without accelerators ``--cpu-devices 2`` gives each process two CPU devices and uses the
gloo library for the cross-process collectives. Process 0 prints the final losses and, with ``--out``,
saves the final parameters (``.npz``) so that runs on different layouts can be compared.
"""
from __future__ import annotations

import argparse
import os
import time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coordinator", default=None, help="host:port of process 0 (omit for a single process)")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--cpu-devices", type=int, default=None, help="fake CPU devices per process")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint-dir", default=None, help="a directory every process can reach")
    parser.add_argument("--out", default=None, help="process 0 saves the final params here (.npz)")
    args = parser.parse_args(argv)
    if args.cpu_devices:  # must be set before JAX starts its CPU backend
        os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.cpu_devices}"
        os.environ["JAX_PLATFORMS"] = "cpu"

    import jax

    if args.num_processes > 1:
        if args.cpu_devices:
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)

    import numpy as np
    import optax

    from fnnet import Checkpointing, distributed, fit
    from fnnet import models as M
    from fnnet.data import load, scale_pixels

    data = load("mnist_small")  # every process holds the same data; each device trains on its slice
    x, y = scale_pixels(data.x_train), data.y_train
    mesh = distributed.data_mesh()  # all devices of all processes
    t0 = time.perf_counter()
    state, history = fit(M.mlp([128, 10], dropout=0.2), "softmax_cross_entropy", optax.adam(1e-3), (x, y),
                         epochs=args.epochs, batch_size=256, key=jax.random.key(0), devices=mesh,
                         validation_data=(scale_pixels(data.x_test), data.y_test), metrics=["accuracy"],
                         checkpoint=(None if args.checkpoint_dir is None
                                     else Checkpointing(args.checkpoint_dir, resume=True)),
                         verbose=int(jax.process_index() == 0))
    if jax.process_index() == 0:
        print(f"{jax.process_count()} process(es), {jax.device_count()} devices, {time.perf_counter() - t0:.1f} s; "
              f"val_accuracy {history['val_accuracy'][-1]:.4f}")
        if args.out:
            # Replicated arrays: this process's own copy is the whole value.
            flat = {jax.tree_util.keystr(p): np.asarray(a.addressable_data(0))
                    for p, a in jax.tree_util.tree_flatten_with_path(state.params)[0]}
            np.savez(args.out, **flat)
    if args.num_processes > 1:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
