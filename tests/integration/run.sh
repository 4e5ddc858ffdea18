#!/usr/bin/env bash
# Integration tests: real programs under the preload against the mock.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 harness.py "$@"
