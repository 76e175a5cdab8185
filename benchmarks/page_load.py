"""Page-load benchmark of ``nephlab serve``: time to the first Bokeh plot in headless Chromium.

    python benchmarks/page_load.py                           # all pages: fresh, warm, 8 concurrent
    python benchmarks/page_load.py --pages protocol --repeats 5 --json out.json --rev new
    python benchmarks/page_load.py --python /tmp/old/.venv/bin/python --rev 2b8c009   # another commit

The logic lives in ``nephlab/bench/pages.py`` (``nephlab bench pages``), which imports only the
standard library and Playwright. This script loads that file by its path, so it runs whatever
``nephlab`` the serving interpreter (``--python``) has installed, also a commit without it.
"""

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "nephlab" / "bench" / "pages.py"
_spec = importlib.util.spec_from_file_location("nephlab_bench_pages", _PATH)
pages = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pages  # dataclasses look their module up by name
_spec.loader.exec_module(pages)

if __name__ == "__main__":
    sys.exit(pages.main(prog="python benchmarks/page_load.py"))
