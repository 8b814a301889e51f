"""label-studio-sdk's brush encoder: each HxW 0/1 mask in MASKS (a JSON list of
{height, width, pixels}) as Label Studio's brush RLE of the RGBA image it paints."""

import json
import sys
from pathlib import Path

import numpy as np
from label_studio_sdk.converter.brush import encode_rle

out = []
for mask in json.loads(Path(sys.argv[1]).read_text()):
    alpha = np.asarray(mask["pixels"], np.uint8).reshape(mask["height"], mask["width"]) * 255
    rgba = np.zeros((mask["height"], mask["width"], 4), np.uint8)
    rgba[..., 3] = alpha
    out.append(encode_rle(rgba.ravel()))
print(json.dumps(out))
