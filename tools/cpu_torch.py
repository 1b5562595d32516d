"""The pip option that makes torch the CPU build: ``--extra-index-url`` PyTorch's CPU wheel index,
printed on Linux when the index answers within a few seconds, else nothing (and why, on stderr).

    pip install $(python tools/cpu_torch.py) -r requirements.txt

On Linux, PyPI's torch is the CUDA build (several GB of nvidia and triton packages); the CPU
index serves the same release as ``2.13.0+cpu``, which ``torch==2.13.0`` matches and pip prefers.
macOS and Windows get a CPU build from PyPI anyway. The index is asked once, with a short time
limit: a machine that reaches only a mirror, or no network, goes on at once with the torch pip is
configured to find, instead of retrying an unreachable index for every package. Standard library
only: the Makefile runs it before the virtual environment exists.
"""

import sys
import urllib.request

INDEX = "https://download.pytorch.org/whl/cpu"
TIMEOUT = 5  # seconds


def reachable(url, timeout=TIMEOUT):
    """Whether ``url`` answers an HTTP GET with a success status within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return 200 <= reply.status < 300
    except (OSError, ValueError):  # no route, no name, refused, timed out, an HTTP error
        return False


def index_option(index=INDEX, platform=sys.platform, timeout=TIMEOUT):
    """``["--extra-index-url", index]`` on Linux when ``index`` answers (its torch page), else
    ``[]``."""
    if not platform.startswith("linux"):
        return []
    if reachable(f"{index}/torch/", timeout):
        return ["--extra-index-url", index]
    print(
        f"{index} is not reachable: torch comes from pip's own index "
        "(on Linux, PyPI's is the CUDA build, several GB; see README, Troubleshooting)",
        file=sys.stderr,
    )
    return []


if __name__ == "__main__":
    print(" ".join(index_option(*sys.argv[1:2])))
