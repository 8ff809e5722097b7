"""Plot claim time against queue depth from a ``bench_postgres.py`` results file.

Usage (matplotlib is not a qtasks dependency: ``pip install matplotlib`` first)::

    .venv/bin/python bench/plot_claims.py bench/results/postgres-<commit>-<time>.json \
        docs/img/pg_claim_time.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(results: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(results).read_text())
    claims = {int(k): v for k, v in data["claims"].items() if k.isdigit()}
    depths = sorted(claims)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(depths, [claims[d]["median_ms"] for d in depths], "o-", label="median")
    ax.plot(depths, [claims[d]["p90_ms"] for d in depths], "s--", label="p90")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("tasks queued")
    ax.set_ylabel("claim of a batch of 10 (ms)")
    commit = str(data["machine"]["commit"]).split()[0]
    ax.set_title(f"qtasks on PostgreSQL: claim time by depth ({commit})", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
