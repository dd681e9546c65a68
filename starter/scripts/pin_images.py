"""Re-pin every base image to its tag's current digest: `make pin-images`.

Each `name:tag@sha256:...` in the files given is resolved again with skopeo (the digest of the
manifest list, so every platform keeps working) and rewritten in place. Nothing is written
unless every image resolves.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

PINNED = re.compile(r"(?P<ref>[a-z0-9][\w./-]*:[\w.-]+)@sha256:[0-9a-f]{64}")


def digest(ref: str) -> str:
    # --raw: the manifest list exactly as served; its sha256 is the digest that pins all platforms.
    command = ["skopeo", "inspect", "--raw", f"docker://{ref}"]
    raw = subprocess.run(command, capture_output=True, check=False, timeout=120)  # noqa: S603
    if raw.returncode != 0:
        reason = raw.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no reason given"]
        sys.exit(f"pin-images: cannot resolve {ref}: {reason[0]}")
    return hashlib.sha256(raw.stdout).hexdigest()


def main(paths: list[str]) -> None:
    if not shutil.which("skopeo"):
        sys.exit("pin-images: skopeo is missing (apt-get install skopeo)")
    texts = {Path(path): Path(path).read_text() for path in paths}
    refs = {match["ref"] for text in texts.values() for match in PINNED.finditer(text)}
    digests = {ref: digest(ref) for ref in sorted(refs)}
    for path, text in texts.items():
        path.write_text(PINNED.sub(lambda m: f"{m['ref']}@sha256:{digests[m['ref']]}", text))
    for ref, value in digests.items():
        print(f"{ref}@sha256:{value}")


if __name__ == "__main__":
    main(sys.argv[1:])
