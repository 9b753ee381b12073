"""Checks the README's dependency table against the packed M3ter.Auth nuspec (read from standard input).

The table lists each dependency once with its version and the target frameworks that have it ("all" when every
target does). Prints the expected table and exits 1 when the README differs, so the README can never drift.
"""
import re
import sys
import xml.etree.ElementTree as ET

TFM_NAMES = {".NETStandard2.0": "netstandard2.0", "net8.0": "net8.0", "net10.0": "net10.0"}

root = ET.fromstring(sys.stdin.read())
ns = {"n": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {}
prefix = "n:" if ns else ""
groups = root.findall(f".//{prefix}dependencies/{prefix}group", ns)
targets = [TFM_NAMES.get(g.get("targetFramework"), g.get("targetFramework")) for g in groups]
seen = {}
for group, target in zip(groups, targets):
    for dep in group.findall(f"{prefix}dependency", ns):
        seen.setdefault((dep.get("id"), dep.get("version")), []).append(target)

rows = ["| Package | Version | Targets |", "|---|---|---|"]
for (package, version), where in sorted(seen.items(), key=lambda kv: kv[0][0].lower()):
    rows.append(f"| {package} | {version} | {'all' if len(where) == len(targets) else ', '.join(where)} |")
expected = "\n".join(rows)

readme = open(sys.argv[1], encoding="utf-8").read()
match = re.search(r"<!-- dependencies:begin -->\n(.*?)\n<!-- dependencies:end -->", readme, re.S)
actual = match.group(1).strip() if match else "(no table between the markers)"
if actual != expected:
    print("README.md says:\n" + actual + "\n\nthe nuspec says:\n" + expected, file=sys.stderr)
    sys.exit(1)
print(f"  the README lists the same {len(seen)} dependencies as the nuspec")
