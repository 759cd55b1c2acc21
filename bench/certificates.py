"""Certificates per second on one core (issue 4): a 4-person 世帯 住民票の写し, rendered and signed.

    uv run python bench/certificates.py [--n 120] [--out docs/benchmarks-certificates.md]
                                        [--json bench/results/certificates.json]

The process is pinned to one CPU (``sched_setaffinity``).  Everything is measured in the same run, in
alternating blocks (so that the machine's other load falls on every mode alike), with wall time and
the process's CPU time (the CPU rate is that of the median operation):

* **issue**: ``juki.adapters.pdf.signing.issue`` of a 4-person 世帯連記式 住民票の写し (validate, content,
  canonical JSON + SHA-256, Ed25519 payload signature, QR code, HTML, WeasyPrint layout + PDF, file
  signature), each with its own certificate id: the number that matters (aim ≥ 20/s);
* **issue, full font only**: the same with the renderer as it was before issue 4's work: the whole
  IPAmj明朝 alone (no :mod:`juki.adapters.pdf.fontsubset`) and WeasyPrint's own user-agent stylesheet
  (``Renderer(common_subset=False, lean_ua=False)``): the ratio of the two rows is the gain;
* **issue, no font cache**: the same as **issue** with :mod:`juki.adapters.pdf.fontcache` off;
* **baseline: minimal page**: WeasyPrint rendering a one-line page (「住民票の写し」) with the same font
  configuration and stylesheet: the floor any certificate pays (font subsetting, PDF writing);
* **baseline: HTML only**: ``Renderer.html`` of the same certificate (content + template, no WeasyPrint);
* **verify**: ``verify_pdf`` of the issued certificates (signatures, QR decoded from a 216 dpi rendering,
  content hash and text check).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import weasyprint

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.certificate_samples import doc  # noqa: E402

from juki.adapters.pdf import fontcache  # noqa: E402
from juki.adapters.pdf.render import Renderer  # noqa: E402
from juki.adapters.pdf.signing import CertificateSigner, issue  # noqa: E402
from juki.adapters.pdf.verify import verify_pdf  # noqa: E402
from juki.domain.certificates import new_certificate_id  # noqa: E402


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpu": cpu, "nproc": os.cpu_count(),
            "os": platform.platform(), "python": platform.python_version(), "weasyprint": weasyprint.__version__,
            "git_commit": commit, "loadavg_start": os.getloadavg()[0]}


def measure(modes: dict[str, Callable[[int], Any]], n: int, blocks: int) -> dict[str, dict[str, float]]:
    """Each mode runs ``n`` operations, in ``blocks`` alternating blocks.  The wall rate is from summed
    times; the CPU rate from the median operation's CPU time (on a shared machine, other work inflates
    the CPU time of some operations -- caches, the other hyperthread -- and the median is robust to
    that); the mean CPU rate is kept in the JSON."""
    per_block = max(1, n // blocks)
    wall = {m: 0.0 for m in modes}
    cpu = {m: 0.0 for m in modes}
    samples: dict[str, list[float]] = {m: [] for m in modes}
    cpu_samples: dict[str, list[float]] = {m: [] for m in modes}
    counter = 0
    for b in range(blocks):
        order = list(modes) if b % 2 == 0 else list(reversed(modes))
        for m in order:
            for _ in range(per_block):
                counter += 1
                t0, c0 = time.perf_counter(), time.process_time()
                modes[m](counter)
                dt_wall = time.perf_counter() - t0
                wall[m] += dt_wall
                dt_cpu = time.process_time() - c0
                cpu[m] += dt_cpu
                samples[m].append(dt_wall)
                cpu_samples[m].append(dt_cpu)
    done = per_block * blocks
    return {m: {"n": done, "per_s_wall": done / wall[m], "per_s_cpu": 1 / statistics.median(cpu_samples[m]),
                "per_s_cpu_mean": done / cpu[m], "ms_median": statistics.median(samples[m]) * 1000} for m in modes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=120, help="operations per mode (default 120)")
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks-certificates.md"))
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "certificates.json"))
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    info = machine()
    info["pinned_cpu"] = cpus[-1]
    signer = CertificateSigner.load_or_create(Path(tempfile.mkdtemp()) / "bench-key.pem")
    renderer = Renderer()
    before = Renderer(common_subset=False, lean_ua=False)
    info["subset_font"] = str(renderer.subset_font)
    base = doc()  # 4 persons, one 世帯, 世帯連記式, default items
    issued_on = base.issued_on
    pdfs: list[bytes] = []

    def one(i: int, r: Renderer = renderer) -> Any:
        d = dataclasses.replace(base, certificate_id=new_certificate_id(base.lg_code, issued_on, i.to_bytes(7, "big")))
        return issue(d, signer, "bench", renderer=r)

    def issue_cached(i: int) -> None:
        fontcache.install()
        cert = one(i)
        if len(pdfs) < 50:
            pdfs.append(cert.pdf)

    def issue_full_font(i: int) -> None:
        fontcache.install()
        one(i, before)

    def issue_uncached(i: int) -> None:
        fontcache.uninstall()
        one(i)
        fontcache.install()

    minimal = "<html lang=ja><body><p>住民票の写し</p></body></html>"

    def minimal_page(_i: int) -> None:
        weasyprint.HTML(string=minimal).render(font_config=renderer.font_config,
                                               stylesheets=[renderer._css]).write_pdf()

    def html_only(i: int) -> None:
        renderer.html(base, qr=f"JKC1:{i}")

    for warm in range(3):  # fonts, template, caches
        issue_cached(warm)
        issue_full_font(warm)
        minimal_page(warm)
    pdfs.clear()
    results = measure({"issue": issue_cached, "issue, full font only": issue_full_font,
                       "issue, no font cache": issue_uncached,
                       "baseline: minimal page": minimal_page, "baseline: HTML only": html_only},
                      args.n, args.blocks)
    verify_times = []
    for pdf in pdfs:
        t0 = time.perf_counter()
        ok = verify_pdf(pdf, signer.public_key).ok
        verify_times.append(time.perf_counter() - t0)
        assert ok
    results["verify"] = {"n": len(verify_times), "per_s_wall": len(verify_times) / sum(verify_times),
                         "per_s_cpu": float("nan"), "ms_median": statistics.median(verify_times) * 1000}
    size = statistics.median(len(p) for p in pdfs)
    report = {"machine": info, "results": results, "pdf_bytes_median": size, "loadavg_end": os.getloadavg()[0]}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    Path(args.out).write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    m, r = report["machine"], report["results"]
    floor = r["baseline: minimal page"]["per_s_wall"]
    rows = [f"| {name} | {v['n']} | {v['per_s_wall']:.1f} | "
            + ("–" if v["per_s_cpu"] != v["per_s_cpu"] else f"{v['per_s_cpu']:.1f}")
            + f" | {v['ms_median']:.1f} | {v['per_s_wall'] / floor:.2f} |" for name, v in r.items()]
    return "\n".join([
        "# Benchmarks: certificates (issue 4)",
        "",
        "Produced by `uv run python bench/certificates.py` (see its docstring); numbers are from one run on",
        "the machine below, the process pinned to one CPU, every mode measured in alternating blocks.",
        "",
        "## Machine",
        "",
        f"* CPU: {m['cpu']}, `nproc` = {m['nproc']} (pinned to CPU {m['pinned_cpu']}), shared with other work:",
        f"  1-min load average {m['loadavg_start']:.2f} at the start, {report['loadavg_end']:.2f} at the end",
        f"* {m['os']}, Python {m['python']}, WeasyPrint {m['weasyprint']}, font IPAmj明朝 (ipamjm.ttf, 46 MB)",
        f"  and its pre-built subset `{Path(m['subset_font']).name}` (4 MB)",
        f"* commit {m['git_commit']}, {m['date']}",
        "",
        "## Results",
        "",
        "| mode | n | per second (wall) | per second (CPU, median op) | median ms (wall) | ratio to minimal page |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"A 4-person 住民票の写し is {report['pdf_bytes_median'] / 1024:.0f} KB (median).",
        "",
        *analysis(report),
    ])


def analysis(report: dict[str, Any]) -> list[str]:
    r = report["results"]

    def ms(mode: str) -> float:
        return 1000 / float(r[mode]["per_s_cpu"])

    issue_ms, before_ms = ms("issue"), ms("issue, full font only")
    floor_ms, html_ms = ms("baseline: minimal page"), ms("baseline: HTML only")
    saved_ms = ms("issue, no font cache") - issue_ms
    rate = r["issue"]["per_s_cpu"]
    verdict = "meets" if rate >= 20 else "is below"
    return [
        "## Reading the numbers",
        "",
        f"* On one core (CPU time), issuing a 4-person 世帯 住民票の写し takes {issue_ms:.0f} ms: {rate:.1f} "
        f"certificates/s, which {verdict} the aim of 20/s (50 ms).  The renderer as it was before this work",
        f"  (\"issue, full font only\", same run) takes {before_ms:.0f} ms ({r['issue, full font only']['per_s_cpu']:.1f}/s): "
        f"the gain is {before_ms / issue_ms:.2f}x.  The wall-clock column is lower",
        "  because the two cores were shared with other work during the run (load average above); CPU time is",
        "  what one core of this machine delivers.",
        "* What paid (each measured alone on the same page, then kept):",
        "  * **a pre-built subset of IPAmj明朝** (`adapters/pdf/fontsubset.py`): JIS X 0208, the NEC/IBM",
        "    extensions, ASCII, half-width kana and the template's text, with every IVS of those characters",
        "    (11,427 glyphs, 4 MB, built once by fontTools into the font cache directory), first in the font",
        "    stack, the full IPAmj明朝 second for every other 外字.  WeasyPrint subsets each font per PDF, and",
        "    HarfBuzz's work grows with the font: ~13 ms per certificate with the 46 MB font, ~2.5 ms with",
        "    the subset.  Pages are pixel-identical (test_certificate_pdf.py);",
        "  * **WeasyPrint's user-agent stylesheet without its six universal pseudo-element rules**",
        "    (`::marker`, `::footnote-call`, ...): they made WeasyPrint compute ~980 styles per certificate",
        "    for pseudo-elements no box uses (~6 ms); the PDFs are byte-identical;",
        f"  * the font cache (`adapters/pdf/fontcache.py`, earlier work) still saves {saved_ms:.0f} ms.",
        f"* Any page at all costs {floor_ms:.0f} ms (the minimal page: parsing, styles, one line, subsetting,",
        f"  writing the PDF).  Our own work before WeasyPrint (content, 和暦, hashes, template) is {html_ms:.1f} ms.",
        f"  The rest, about {issue_ms - floor_ms - html_ms:.0f} ms, is WeasyPrint building, laying out and drawing the",
        "  form, plus the QR code and the two signatures (a few ms).  After the font, it is spread evenly over",
        "  the ~90 text boxes of the form (WeasyPrint's Python: styles, boxes, line breaking with Pango,",
        "  drawing).  Timed phase by phase at a quieter moment (load ~1.5; 94 ms before this work, 70 ms",
        "  after): layout ~28 ms, drawing ~12 ms, boxes ~7 ms, styles ~6 ms (15 before), HTML parsing ~4 ms,",
        "  PDF writing ~6 ms, font subsetting ~2.5 ms (15 before).  Under heavy load (above) every",
        "  certificate's CPU time grows by a third or more (caches, the other hyperthread), a minimal page's",
        "  hardly: compare runs only by their ratios.",
        "* What did not pay enough to change how the form looks (each alone, 4-person page, about 70 ms):",
        "  separate instead of collapsed cell borders -3 ms; no `<colgroup>` -3 ms; no page-number and",
        "  certificate-number margin boxes -3.5 ms; the 市長之印 as three lines instead of a 3x2 table -3 ms;",
        "  the tables laid out as plain blocks (an upper bound for \"positioned blocks\") -15 %; rows as flex",
        "  boxes or cells as inline-blocks are slower (+130 %, +40 %); one font size, no letter-spacing, no",
        "  backgrounds, no vertical-align: within noise.  Together the first four would give about 12 ms,",
        "  still short of 50 ms, and each changes the printed form a little; none is done.",
        "* Reaching 20/s on one core would take about 40 % fewer text boxes (e.g. a form whose labels are",
        "  printed once per column instead of once per person), or WeasyPrint reusing layout between",
        "  documents, which it cannot.  Certificates are independent, so throughput scales with processes:",
        "  each process keeps its own `Renderer`; bulk issuance should run one renderer per core.",
        "* Verification reads the QR code from a 216 dpi rendering of the last page and the text of every",
        "  page; it needs no database.",
        "",
    ]


if __name__ == "__main__":
    sys.exit(main())
