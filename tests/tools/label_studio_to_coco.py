"""label-studio-sdk's converter: Label Studio tasks (TASKS, a JSON list) labelled with CONFIG,
as COCO in OUTPUT (``result.json``), without downloading images."""

import json
import sys
from pathlib import Path

from label_studio_sdk.converter import Converter

config, tasks, output = sys.argv[1:4]
converter = Converter(Path(config).read_text(), project_dir=output, download_resources=False)
converter.convert_to_coco(tasks, output, is_dir=False)
print(json.dumps({"formats": converter.supported_formats}))
