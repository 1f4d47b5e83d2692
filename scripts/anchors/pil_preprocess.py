"""Times the official InternVL preprocessing (Pillow + torchvision) of one image into at most 12 tiles plus the
thumbnail: open, convert to RGB, dynamic_preprocess, ToTensor + Normalize, stack. Median of R runs after a warm-up.
Compare with `internvl bench tiles IMAGE` run right after it.

The official functions are not in this repository: save `build_transform`, `find_closest_aspect_ratio`,
`dynamic_preprocess` and `load_image` (with their imports and IMAGENET_MEAN/STD) from the "InternVL 2.5 multimodal
chat" example of OpenGVLab/InternVL's README (commit 2410d1d) as `official_preprocess.py` next to this script.

  apt-get install python3-torch python3-torchvision python3-pil
  /usr/bin/python3 pil_preprocess.py IMAGE [R=5]
"""
import statistics, sys, time

import torch
from PIL import Image

from official_preprocess import load_image

torch.set_num_threads(2)
path, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
load_image(path, max_num=12)
times = []
for _ in range(runs):
    start = time.perf_counter()
    pixel_values = load_image(path, max_num=12)
    times.append(time.perf_counter() - start)
print(f"Pillow {Image.__version__}: {tuple(pixel_values.shape)} in {statistics.median(times) * 1000:.0f} ms (runs {[round(t * 1000) for t in times]})")
