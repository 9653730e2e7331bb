"""Choosing a `tf.distribute` strategy for training.

`make_strategy("default")` is TensorFlow's default strategy (one device),
`"mirrored"` a `tf.distribute.MirroredStrategy` over the GPUs in sight (or
over every logical CPU device when there is no GPU), `"multiworker"` a
`MultiWorkerMirroredStrategy` (TensorFlow's, with a `reduce` that Keras's
`model.fit` can call on several workers) that reads its cluster from the
`TF_CONFIG` environment variable. `split_cpu(n)` splits the CPU into `n`
logical devices, so that the mirrored strategy can be tried without GPUs;
it must run before TensorFlow initialises its devices.

Example:

```python
from keras_specnet import distribute, training

distribute.split_cpu(2)  # before anything touches TensorFlow's devices
strategy = distribute.make_strategy("mirrored")
with strategy.scope():
    model = build_model()
    training.compile_classifier(model)
```
"""

import json
import os

import tensorflow as tf

from keras_specnet import _checks

#: The names `make_strategy` takes.
STRATEGIES = ("default", "mirrored", "multiworker")


def split_cpu(devices):
    """Splits the first physical CPU into `devices` logical devices.

    Args:
        devices: int >= 1. The number of logical CPU devices wanted.

    Raises:
        ValueError: If `devices` is not a positive integer.
        RuntimeError: If TensorFlow has initialised its devices already
            with another split (the split must happen before that).
    """
    devices = _checks.positive_int("devices", devices)
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
        )
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have == devices:
            return
        raise RuntimeError(
            f"Cannot split the CPU into {devices} logical devices: TensorFlow "
            f"has initialised its devices already ({have} logical CPU device(s)). "
            "Call `split_cpu` before anything runs on TensorFlow."
        ) from None


def cluster_config(environ=None):
    """The parsed `TF_CONFIG` of a multi-worker run.

    Args:
        environ: Mapping to read `TF_CONFIG` from; defaults to `os.environ`.

    Returns:
        The decoded JSON: a dict with `"cluster"` (a dict with a non-empty
        `"worker"` list of `"host:port"`) and `"task"` (`{"type": ...,
        "index": ...}`).

    Raises:
        ValueError: If `TF_CONFIG` is missing, not JSON, or lacks the
            cluster or the task, naming what is wrong.
    """
    environ = os.environ if environ is None else environ
    example = (
        '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    text = environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            "The multiworker strategy reads the cluster from the TF_CONFIG "
            f"environment variable, which is not set. Expected JSON like {example}."
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG is not valid JSON ({error}). Received: {text!r}. "
            f"Expected JSON like {example}."
        ) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    workers = cluster.get("worker") if isinstance(cluster, dict) else None
    if not isinstance(workers, list) or not workers:
        raise ValueError(
            "TF_CONFIG has no cluster with a non-empty 'worker' list. "
            f"Received: {text!r}. Expected JSON like {example}."
        )
    if (
        not isinstance(task, dict)
        or not isinstance(task.get("type"), str)
        or isinstance(task.get("index"), bool)
        or not isinstance(task.get("index"), int)
    ):
        raise ValueError(
            "TF_CONFIG has no task with a 'type' and an integer 'index'. "
            f"Received: {text!r}. Expected JSON like {example}."
        )
    members = cluster.get(task["type"])
    if not isinstance(members, list) or not 0 <= task["index"] < len(members):
        raise ValueError(
            f"TF_CONFIG's task {task} is not in its cluster {cluster}. Received: {text!r}."
        )
    return config


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`tf.distribute.MultiWorkerMirroredStrategy` whose `reduce` takes what
    Keras 3's `model.fit` gives it.

    On several workers, `fit` reduces its first batch, an `(x, y)` tuple,
    to build the model, and each step's scalar logs with `axis=0`, while
    TensorFlow's `reduce` of several workers takes one distributed value
    and an axis that the value has
    (https://github.com/keras-team/keras/issues/20585). This `reduce`
    reduces a structure value by value, and a scalar without an axis; for
    anything else it is TensorFlow's.
    """

    def reduce(self, reduce_op, value, axis):
        parent = super().reduce

        def one(v):
            local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
            scalar = tf.convert_to_tensor(local).shape.rank == 0
            return parent(reduce_op, v, None if scalar else axis)

        return tf.nest.map_structure(one, value)


def make_strategy(name="default"):
    """The `tf.distribute.Strategy` called `name`.

    Args:
        name: `"default"`, `"mirrored"` or `"multiworker"` (see the
            module's docstring).

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: If `name` is unknown, or for `"multiworker"` if
            `TF_CONFIG` is missing or malformed.
    """
    _checks.one_of("strategy", name, STRATEGIES)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    cluster_config()
    return MultiWorkerMirroredStrategy()


def task(strategy):
    """`(task_type, task_index)` of this process; `(None, 0)` on one host."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy):
    """Whether this process is the one that writes the run's files.

    The `"chief"` task, or worker 0 of a cluster without a chief, or the
    only process of a single-host strategy.
    """
    task_type, index = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and index == 0 and "chief" not in cluster


def describe(strategy, global_batch):
    """One line: the strategy, its replicas and the per-replica batch."""
    replicas = strategy.num_replicas_in_sync
    per_replica = global_batch / replicas
    per = f"{per_replica:g}" if per_replica != int(per_replica) else str(int(per_replica))
    task_type, index = task(strategy)
    where = f", this process is {task_type} {index}" if task_type else ""
    return (
        f"strategy {type(strategy).__name__}: {replicas} replica(s){where}; "
        f"global batch {global_batch}, {per} per replica"
    )
