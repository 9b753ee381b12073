"""Checks the packed packages themselves (not the project files) for what a user and the public NuGet gallery expect.

usage: check-packages.py DIR --version V --commit SHA --repository URL [--same-as OTHER_DIR]

For every package id in PACKAGES, DIR must hold ID.V.nupkg and ID.V.snupkg, and:
- the nuspec has the version, a description, a licence, tags, a project URL, <repository type="git" url commit>
  with the canonical URL and the commit being built, an icon that is a PNG in the package, and a README that is the
  package's own (its first line is "# ID");
- every assembly in lib/ or tools/ that this repository builds has a portable PDB (in the .snupkg for a library, in
  the package for the tool) whose SourceLink maps "/_/*" (a CI build's path map) to the raw content of that commit;
- the tool package is a DotnetTool whose command is m3ter-auth.
With --same-as, every package in OTHER_DIR (packed from another clone of the same commit) must have exactly the
same entries with exactly the same bytes: the build is deterministic. Zip timestamps, which NuGet sets to the
packing time, are the only thing allowed to differ.
Prints one line per package, and every problem; exits 1 if there is any.
"""
import argparse
import io
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
import zipfile

PACKAGES = ["M3ter.Auth", "M3ter.Auth.Testing", "M3ter.Auth.StackExchangeRedis", "M3ter.Auth.Tool"]
# The target frameworks each package must carry, and the assembly that must be in each.
FRAMEWORKS = {
    "M3ter.Auth": ("lib", ["netstandard2.0", "net8.0", "net10.0"], "M3ter.Auth.dll"),
    "M3ter.Auth.Testing": ("lib", ["net8.0", "net10.0"], "M3ter.Auth.Testing.dll"),
    "M3ter.Auth.StackExchangeRedis": ("lib", ["net8.0", "net10.0"], "M3ter.Auth.StackExchangeRedis.dll"),
    "M3ter.Auth.Tool": ("tools", ["net8.0", "net10.0"], "m3ter-auth.dll"),
}
OWN_ASSEMBLIES = {"M3ter.Auth", "M3ter.Auth.Testing", "M3ter.Auth.StackExchangeRedis", "m3ter-auth"}

parser = argparse.ArgumentParser()
parser.add_argument("dir")
parser.add_argument("--version", required=True)
parser.add_argument("--commit", required=True)
parser.add_argument("--repository", required=True)
parser.add_argument("--same-as")
args = parser.parse_args()

problems = []


def problem(package, text):
    problems.append(f"{package}: {text}")


def nuspec_of(z, package):
    name = next((n for n in z.namelist() if n.endswith(".nuspec") and "/" not in n), None)
    if name is None:
        problem(package, "no nuspec")
        return None, {}
    root = ET.fromstring(z.read(name))
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    q = (lambda tag: f"{{{ns}}}{tag}") if ns else (lambda tag: tag)
    return root.find(q("metadata")), q


def sourcelink_of(pdb):
    """The SourceLink JSON of a portable PDB (stored as UTF-8 in a custom debug information blob)."""
    if not pdb.startswith(b"BSJB"):
        return None
    match = re.search(rb'\{"documents":\{.*?\}\}', pdb)
    return json.loads(match.group(0)) if match else None


raw = re.sub(r"^https://github\.com/", "https://raw.githubusercontent.com/", re.sub(r"\.git$", "", args.repository.rstrip("/")))
expected_link = f"{raw}/{args.commit}/*"

for package in PACKAGES:
    nupkg_path = os.path.join(args.dir, f"{package}.{args.version}.nupkg")
    snupkg_path = os.path.join(args.dir, f"{package}.{args.version}.snupkg")
    if not os.path.isfile(nupkg_path):
        problem(package, f"{os.path.basename(nupkg_path)} is missing")
        continue
    z = zipfile.ZipFile(nupkg_path)
    names = z.namelist()
    metadata, q = nuspec_of(z, package)
    if metadata is None:
        continue

    def text(tag):
        element = metadata.find(q(tag))
        return (element.text or "").strip() if element is not None else ""

    if text("id") != package:
        problem(package, f"id is '{text('id')}'")
    if text("version") != args.version:
        problem(package, f"version is '{text('version')}', not {args.version}")
    for tag in ("description", "authors", "tags", "projectUrl", "copyright"):
        if not text(tag):
            problem(package, f"no <{tag}>")
    license = metadata.find(q("license"))
    if license is None or license.get("type") != "expression" or not (license.text or "").strip():
        problem(package, "no licence expression")
    repository = metadata.find(q("repository"))
    if repository is None:
        problem(package, "no <repository>")
    else:
        if repository.get("type") != "git" or repository.get("url") != args.repository:
            problem(package, f"repository is {repository.attrib}, not git {args.repository}")
        if repository.get("commit") != args.commit:
            problem(package, f"repository commit is '{repository.get('commit')}', not {args.commit}")
    icon = text("icon")
    if not icon or icon not in names or not z.read(icon).startswith(b"\x89PNG\r\n\x1a\n"):
        problem(package, f"no PNG icon (<icon> is '{icon}')")
    readme = text("readme")
    if not readme or readme not in names:
        problem(package, "no package README")
    elif z.read(readme).decode("utf-8-sig").splitlines()[0].strip() != f"# {package}":
        problem(package, "its README is not its own (it should start '# " + package + "')")

    folder, frameworks, entry = FRAMEWORKS[package]
    for framework in frameworks:
        expected = f"{folder}/{framework}/any/{entry}" if folder == "tools" else f"{folder}/{framework}/{entry}"
        if expected not in names:
            problem(package, f"{expected} is missing")
    assemblies = [n for n in names if re.match(r"^(lib|tools)/[^/]+/", n) and n.endswith(".dll")
                  and os.path.splitext(os.path.basename(n))[0] in OWN_ASSEMBLIES]
    if not assemblies:
        problem(package, "no assembly of this repository in lib/ or tools/")
    pdbs = {}
    if package == "M3ter.Auth.Tool":
        pdbs = {n: z.read(n) for n in names if n.endswith(".pdb")}
        settings = next((n for n in names if n.endswith("DotnetToolSettings.xml")), None)
        package_types = metadata.find(q("packageTypes"))
        types = [t.get("name") for t in package_types] if package_types is not None else []
        if settings is None or 'Name="m3ter-auth"' not in z.read(settings).decode("utf-8-sig") or "DotnetTool" not in types:
            problem(package, "is not a dotnet tool whose command is m3ter-auth")
    elif os.path.isfile(snupkg_path):
        with zipfile.ZipFile(snupkg_path) as symbols:
            pdbs = {n: symbols.read(n) for n in symbols.namelist() if n.endswith(".pdb")}
    else:
        problem(package, f"{os.path.basename(snupkg_path)} (symbols) is missing")
    for dll in assemblies:
        pdb_name = dll[:-4] + ".pdb"
        pdb = pdbs.get(pdb_name)
        if pdb is None:
            problem(package, f"no portable PDB for {dll}")
            continue
        link = sourcelink_of(pdb)
        if link is None or link.get("documents", {}).get("/_/*") != expected_link:
            problem(package, f"{pdb_name} has SourceLink {link}, not /_/* -> {expected_link}")

    if args.same_as:
        other_path = os.path.join(args.same_as, os.path.basename(nupkg_path))
        for mine, theirs in ((nupkg_path, other_path), (snupkg_path, os.path.join(args.same_as, os.path.basename(snupkg_path)))):
            if not os.path.isfile(mine):
                continue
            if not os.path.isfile(theirs):
                problem(package, f"{os.path.basename(theirs)} is missing from {args.same_as}")
                continue
            with zipfile.ZipFile(mine) as a, zipfile.ZipFile(theirs) as b:
                if sorted(a.namelist()) != sorted(b.namelist()):
                    problem(package, f"{os.path.basename(mine)}: the two packs hold different files")
                    continue
                differing = [n for n in a.namelist() if a.read(n) != b.read(n)]
                if differing:
                    problem(package, f"{os.path.basename(mine)}: packed twice from the same commit, these differ: {differing}")

    print(f"  {package} {args.version}: {len(names)} files, {len(assemblies)} assemblies with SourceLink"
          + (", identical to the second pack" if args.same_as else ""))

for p in problems:
    print("CI: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
