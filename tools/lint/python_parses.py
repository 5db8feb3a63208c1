#!/usr/bin/env python3
"""Fails, naming FILE:LINE, when a Python file of the repository does not parse.

usage: python_parses.py ROOT   (skips build/, node_modules/ and hidden directories)
"""
import ast
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
bad, count = [], 0
for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root).parts
    if parts[0] == "build" or "node_modules" in parts or any(p.startswith(".") for p in parts):
        continue
    count += 1
    text = path.read_text()
    if text.startswith("#!") and " / " in text.splitlines()[0]:
        bad.append(f"{path.relative_to(root)}:1: a reflowed shebang line")
    try:
        ast.parse(text, str(path))
    except SyntaxError as e:
        bad.append(f"{path.relative_to(root)}:{e.lineno}: {e.msg}")
if bad:
    print("Python files that do not parse:\n  " + "\n  ".join(bad))
    sys.exit(1)
print(f"{count} Python files parse")
