"""`dvc plots show` for a machine without internet access. DVC's page loads vega from a CDN, so
offline it draws nothing; this draws every chart of `dvc plots show --json` (or of
`dvc plots diff --json REV ...`) to SVG with vl-convert, as a browser would, and writes one page
holding the charts and the images. No stage runs it: editing it reruns nothing.

    python tools/plots_offline.py [REV ...] [-o dvc_plots/offline.html]

Needs vl-convert-python (`pip install -e '.[plots]'`; the test set-up installs it).
"""

import argparse
import base64
import html
import json
import subprocess
import sys
from pathlib import Path


def plots(revisions: list[str]) -> dict:
    command = ["dvc", "plots", *(["diff", *revisions] if revisions else ["show"]), "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout)


def page(shown: dict) -> str:
    """One HTML page: each plot's title, then its chart as SVG or its image inline."""
    import vl_convert

    parts = ["<!doctype html><meta charset='utf-8'><title>DVC plots</title>",
             "<style>body{font-family:sans-serif} svg,img{margin:0 1em 2em 0}</style>"]
    for plot_id, renders in shown.get("data", {}).items():
        parts.append(f"<h3>{html.escape(plot_id)}</h3>")
        for render in renders:
            if render["type"] == "vega":
                parts.append(vl_convert.vegalite_to_svg(render["content"]))
            elif render["type"] == "image":
                data = base64.b64encode(Path(render["url"]).read_bytes()).decode()
                revision = html.escape(", ".join(render.get("revisions", [])))
                parts.append(f"<img alt='{revision}' title='{revision}' "
                             f"src='data:image/png;base64,{data}'>")
    return "\n".join(parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="*", help="as `dvc plots diff` takes them")
    parser.add_argument("-o", "--out", type=Path, default=Path("dvc_plots/offline.html"))
    args = parser.parse_args()
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        raise SystemExit("needs vl-convert-python: pip install -e '.[plots]'") from None
    shown = plots(args.revisions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page(shown))
    for error in shown.get("errors") or []:
        print(f"dvc plots: {error}", file=sys.stderr)
    print(f"file://{args.out.resolve()}")


if __name__ == "__main__":
    main()
