"""The image's HEALTHCHECK: one GET to /health in this container, with no curl and no shell.

Exit 0 when the server answers 2xx within 3 s, else 1.
"""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP_PROXY
try:
    with direct.open(url, timeout=3) as response:
        sys.exit(0 if response.status < 300 else 1)
except OSError as error:
    print(f"unhealthy: {url}: {error}", file=sys.stderr)
    sys.exit(1)
