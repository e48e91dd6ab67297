"""Print, as JSON, what TensorBoard shows from a log directory, read with TensorBoard's
own reader: {tag: [[step, value], ...]}, a scalar's value as a number, a picture's as
[width, height, is_png] for each picture in the event.

Run with the project's Python (TensorBoard is the project's dependency, not the
template's): tests/test_own_model.py reads a job's logs with it.
    python read_events.py LOGDIR
"""

import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray


def describe(value):
    if value.dtype == object:  # an image summary: width, height, then one PNG per picture
        width, height, *pngs = value.tolist()
        return [[int(width), int(height), png.startswith(b"\x89PNG")] for png in pngs]
    return float(value)


def main(logdir):
    events = EventAccumulator(logdir, size_guidance={"tensors": 0})  # 0: keep them all
    events.Reload()
    found = {
        tag: [
            [event.step, describe(make_ndarray(event.tensor_proto))]
            for event in events.Tensors(tag)
        ]
        for tag in events.Tags()["tensors"]
    }
    print(json.dumps(found))


if __name__ == "__main__":
    main(sys.argv[1])
