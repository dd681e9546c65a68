"""The image's HEALTHCHECK: one GET to the server in this container, no curl and no shell needed.

Exit 0 when http://127.0.0.1:$PORT$HEALTH_PATH answers 2xx or 3xx within 3 s, else 1.
HEALTH_PATH defaults to /health, which every app here answers without its slow path
(the hello apps answer any path at once).
"""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{os.environ.get('HEALTH_PATH', '/health')}"
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP_PROXY
try:
    with direct.open(url, timeout=3) as response:  # a fixed http:// URL
        sys.exit(0 if response.status < 400 else 1)
except OSError as error:
    print(f"unhealthy: {url}: {error}", file=sys.stderr)
    sys.exit(1)
