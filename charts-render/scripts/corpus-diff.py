#!/usr/bin/env python3
"""Differential run of `charts-render template` against `helm template` over
public chart repositories (bare git dirs as the `fetch` tool leaves them).

Every top-level chart of every repository is rendered with its default values and
with each `ci/*.yaml` values file it ships, by both tools, and each case is put in
one class:

  identical      both render, same `# Source:` sequence and equal parsed documents
  identical-but-random
                 as identical, except for values that also differ between two
                 helm runs of the same case (generated passwords, certificates)
  same-images    both render, documents differ, the same set of images
  diff-images    both render, the image sets differ
  error-ours     helm renders, charts-render fails
  error-helm     charts-render renders, helm fails
  error-both-same-message
                 both fail with the same first line
  error-both     both fail, differently
  skipped        a dependency is neither vendored nor in the same repository

Dependencies missing from `charts/` are taken from the chart of the same name in
the same repository (a `file://` path first). Nothing here is written into the
source tree: charts are unpacked under --work.

usage: corpus-diff.py --ours BIN --helm BIN --work DIR [--report FILE] GITDIR...
"""

import argparse
import collections
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import yaml


def sh(cmd, timeout=180, cwd=None):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return 124, "", "timed out"


def unpack(gitdir, work):
    # The fetch tool's mirrors live at /work/.mirror/OWNER+NAME/repo[/.git].
    name = next((p for p in gitdir.split("/") if "+" in p), os.path.basename(gitdir.rstrip("/")))
    commit = subprocess.check_output(["git", "--git-dir", gitdir, "rev-parse", "HEAD"], text=True).strip()
    dest = os.path.join(work, "src", name)
    if not os.path.isdir(dest):
        os.makedirs(dest)
        archive = subprocess.Popen(["git", "--git-dir", gitdir, "archive", "HEAD"], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
        archive.wait()
    return name.replace("+", "/"), commit, dest


def load_yaml(path):
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    except Exception:
        return {}


def find_charts(root):
    """Top-level charts: a Chart.yaml with no chart above it, outside test data."""
    charts = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in ("testdata", "node_modules")]
        if "Chart.yaml" in filenames:
            charts.append(dirpath)
            dirnames[:] = []
    return sorted(charts)


def dependencies(chart_dir):
    meta = load_yaml(os.path.join(chart_dir, "Chart.yaml"))
    deps = meta.get("dependencies") or []
    if not deps:
        deps = (load_yaml(os.path.join(chart_dir, "requirements.yaml")) or {}).get("dependencies") or []
    return [d for d in deps if isinstance(d, dict) and d.get("name")]


def vendored(chart_dir, name):
    sub = os.path.join(chart_dir, "charts")
    if not os.path.isdir(sub):
        return False
    for entry in os.listdir(sub):
        path = os.path.join(sub, entry)
        if os.path.isdir(path) and load_yaml(os.path.join(path, "Chart.yaml")).get("name") == name:
            return True
        if entry.endswith(".tgz") and entry.rsplit("-", 1)[0] == name:
            return True
    return False


def fill_dependencies(chart_dir, by_name, depth=0):
    """Copies missing dependencies in; returns the names that could not be found."""
    missing = []
    for d in dependencies(chart_dir):
        name = d["name"]
        if vendored(chart_dir, name):
            continue
        repo = str(d.get("repository") or "")
        src = None
        if repo.startswith("file://"):
            cand = os.path.normpath(os.path.join(chart_dir, repo[len("file://"):]))
            if os.path.isfile(os.path.join(cand, "Chart.yaml")):
                src = cand
        src = src or by_name.get(name)
        if not src or depth > 4:
            missing.append(name)
            continue
        dest = os.path.join(chart_dir, "charts", name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copytree(src, dest, symlinks=False, ignore_dangling_symlinks=True)
        missing += fill_dependencies(dest, by_name, depth + 1)
    return missing


def documents(out):
    docs = []
    for part in re.split(r"^---\s*$", out, flags=re.M):
        m = re.search(r"^# Source: (.*)$", part, flags=re.M)
        if not m:
            continue
        try:
            body = yaml.safe_load(part)
        except Exception as e:  # unparsable output counts as its text
            body = "unparsable: %s" % e
        docs.append((m.group(1), body))
    return docs


def images(obj, acc):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "image" and isinstance(v, str):
                acc.add(v)
            else:
                images(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            images(v, acc)
    return acc


def first_line(err):
    for line in err.splitlines():
        line = line.strip()
        if line and not line.startswith("WARNING") and not line.startswith("walk.go"):
            return line
    return err.strip()[:200]


def cause(err):
    """An error line with the chart-specific parts taken out, to count causes."""
    line = first_line(err)
    line = re.sub(r"template: [^ ]+:\d+(:\d+)?:", "template: F:", line)
    line = re.sub(r'executing "[^"]*" at <[^>]*>', 'executing "T" at <X>', line)
    line = re.sub(r'"[^"]{25,}"', '"..."', line)
    return line[:160]


RANDOM = object()


def mask(a, b):
    """`a` with every leaf that differs from `b` (a second helm run) masked: those
    values are random (generated passwords, certificates, their checksums)."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return {k: mask(a[k], b[k]) for k in a}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [mask(x, y) for x, y in zip(a, b)]
    return a if a == b else RANDOM


def masked_equal(m, o):
    if m is RANDOM:
        return True
    if isinstance(m, dict) and isinstance(o, dict):
        return m.keys() == o.keys() and all(masked_equal(m[k], o[k]) for k in m)
    if isinstance(m, list) and isinstance(o, list):
        return len(m) == len(o) and all(masked_equal(x, y) for x, y in zip(m, o))
    return m == o


def classify(h, second_helm, o, ignore_tests=False):
    """`second_helm()` renders the case with helm again, asked for only when the
    first comparison fails."""
    (helm_rc, helm_out, _), (our_rc, our_out, _) = h, o
    if helm_rc != 0 and our_rc != 0:
        return "error-both"
    if helm_rc != 0:
        return "error-helm"
    if our_rc != 0:
        return "error-ours"
    hd, od = documents(helm_out), documents(our_out)
    if ignore_tests:
        hd, od = ([d for d in x if "/tests/" not in d[0]] for x in (hd, od))
    if hd == od:
        return "identical"
    h2 = second_helm()
    hd2 = documents(h2[1]) if h2[0] == 0 else hd
    if ignore_tests:
        hd2 = [d for d in hd2 if "/tests/" not in d[0]]
    if len(hd) == len(hd2) and [s for s, _ in hd] == [s for s, _ in hd2]:
        masked = [(s, mask(d, d2)) for (s, d), (_, d2) in zip(hd, hd2)]
        if len(masked) == len(od) and all(
            s == so and masked_equal(m, do) for (s, m), (so, do) in zip(masked, od)
        ):
            return "identical-but-random"
    hi = images([d for _, d in hd], set())
    oi = images([d for _, d in od], set())
    return "same-images" if hi == oi else "diff-images"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--helm", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--report", default=None)
    ap.add_argument("--only", default=None, help="regex on repo/chart")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--ignore-tests", action="store_true", help="leave out templates/tests/ documents")
    ap.add_argument("gitdirs", nargs="+")
    args = ap.parse_args()

    repos = []
    for g in args.gitdirs:
        repos.append(unpack(g, args.work))

    cases = []
    cases_root = os.path.join(args.work, "cases")
    shutil.rmtree(cases_root, ignore_errors=True)
    # Dependencies come from the same repository first, then from any other.
    everywhere = {}
    repo_charts = {}
    for repo, commit, root in repos:
        repo_charts[repo] = find_charts(root)
        for c in repo_charts[repo]:
            n = load_yaml(os.path.join(c, "Chart.yaml")).get("name")
            if n and n not in everywhere:
                everywhere[n] = c
    for repo, commit, root in repos:
        charts = repo_charts[repo]
        by_name = dict(everywhere)
        for c in reversed(charts):
            n = load_yaml(os.path.join(c, "Chart.yaml")).get("name")
            if n:
                by_name[n] = c
        for src in charts:
            rel = os.path.relpath(src, root)
            label = "%s/%s" % (repo, rel)
            if args.only and not re.search(args.only, label):
                continue
            dest = os.path.join(cases_root, repo.replace("/", "+"), rel)
            shutil.copytree(src, dest, symlinks=False, ignore_dangling_symlinks=True)
            missing = fill_dependencies(dest, by_name)
            ci = os.path.join(dest, "ci")
            values = [None] + sorted(
                os.path.join(ci, f) for f in (os.listdir(ci) if os.path.isdir(ci) else [])
                if f.endswith((".yaml", ".yml"))
            )
            for vf in values:
                case = label + (" -f ci/" + os.path.basename(vf) if vf else "")
                cases.append((case, commit, dest, vf, missing))

    cache_dir = os.path.join(args.work, "helm-cache")
    os.makedirs(cache_dir, exist_ok=True)

    def helm_run(case, commit, cmd, n):
        """helm's answers are cached per case and commit: they do not change."""
        key = hashlib.sha256(("%s %s %d" % (case, commit, n)).encode()).hexdigest()
        path = os.path.join(cache_dir, key + ".json")
        if os.path.exists(path):
            with open(path) as f:
                return tuple(json.load(f))
        r = sh(cmd)
        with open(path, "w") as f:
            json.dump(list(r), f)
        return r

    def run(item):
        case, commit, dest, vf, missing = item
        if missing:
            return case, commit, "skipped", "missing dependencies: " + ", ".join(missing), None
        extra = ["-f", vf] if vf else []
        cmd = [args.helm, "template", "rel", dest] + extra
        h = helm_run(case, commit, cmd, 1)
        o = sh([args.ours, "template", "rel", dest] + extra)
        cls = classify(h, lambda: helm_run(case, commit, cmd, 2), o, args.ignore_tests)
        detail, key = "", None
        if cls in ("error-ours", "error-both"):
            detail = first_line(o[2])
            key = cause(o[2]) if cls == "error-ours" else None
            if cls == "error-both" and first_line(o[2]) == first_line(h[2]):
                cls = "error-both-same-message"
        elif cls == "error-helm":
            detail = first_line(h[2])
        return case, commit, cls, detail, key

    results = []
    counts = collections.Counter()
    causes = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for case, commit, cls, detail, key in pool.map(run, cases):
            counts[cls] += 1
            if key:
                causes[key] += 1
            results.append({"case": case, "commit": commit, "class": cls, "detail": detail})
            print("%-12s %s %s" % (cls, case, detail[:150]), flush=True)

    total = sum(counts.values())
    lines = ["# corpus differential run", "", "cases: %d" % total]
    for k in ("identical", "identical-but-random", "same-images", "diff-images", "error-ours", "error-helm", "error-both-same-message", "error-both", "skipped"):
        lines.append("- %s: %d" % (k, counts[k]))
    lines += ["", "repositories:"]
    for repo, commit, root in repos:
        n = sum(1 for r in results if r["case"].startswith(repo + "/"))
        lines.append("- %s @ %s (%d cases)" % (repo, commit[:12], n))
    lines += ["", "errors in ours, by cause:"]
    for c, n in causes.most_common(40):
        if n:
            lines.append("- %d x %s" % (n, c))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
        with open(args.report + ".json", "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
