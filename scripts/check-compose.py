#!/usr/bin/env python3
"""Offline check of docker-compose.yml where `docker compose config` is missing:
valid YAML, and every service pinned, health-checked and on 127.0.0.1 only."""
import re
import sys

import yaml

path = sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml"
with open(path) as f:
    doc = yaml.safe_load(f)
errors = []
services = doc.get("services") or {}
if not services:
    errors.append("no services")
for name, svc in services.items():
    image = svc.get("image", "")
    if not re.search(r":\d[\w.]*$", image):
        errors.append(f"{name}: image {image!r} is not pinned to a version")
    if "healthcheck" not in svc:
        errors.append(f"{name}: no healthcheck")
    for port in svc.get("ports", []):
        if not str(port).startswith("127.0.0.1:"):
            errors.append(f"{name}: port {port!r} is not bound to 127.0.0.1")
for e in errors:
    print(f"{path}: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print(f"{path}: {len(services)} services OK")
