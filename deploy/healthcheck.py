"""Container HEALTHCHECK: exit 0 when this container's llm-link answers GET /health, else 1.

The image has no curl; this uses only the standard library. The port comes from LLM_LINK_PORT (the
image sets 8080), so set the port through the environment, not with --port."""

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('LLM_LINK_PORT') or '8080'}/health"
    try:
        with urllib.request.urlopen(url, timeout=float(os.environ.get("LLM_LINK_HEALTH_TIMEOUT", "2"))) as resp:
            return 0 if resp.status == 200 else 1
    except Exception as err:  # any failure means unhealthy; say why in `docker inspect`
        print(f"unhealthy: {url}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
