"""Print the best configuration of a sweep JSON as `aoi train` options (image_size as WxH)."""

import json
import sys

with open(sys.argv[1]) as fh:
    best = json.load(fh)["best"]
args = []
for k, v in best.items():
    if k == "image_size":
        args += ["--image-size", f"{v[1]}x{v[0]}"]
    else:
        args += ["--" + k.replace("_", "-"), ",".join(map(str, v)) if isinstance(v, list) else str(v)]
print(" ".join(args))
