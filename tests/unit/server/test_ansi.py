"""A log line's colours become spans with classes; everything a log holds is escaped."""

from __future__ import annotations

from lockgate.server.ansi import to_html
from lockgate.server.views import JobView, _columns


def test_colours_become_classes_and_text_is_escaped() -> None:
    assert to_html("\x1b[31mred\x1b[0m plain") == '<span class="ansi-fg-red">red</span> plain'
    assert to_html("\x1b[1;92mok\x1b[39m bold") == (
        '<span class="ansi-bold ansi-fg-bright-green">ok</span><span class="ansi-bold"> bold</span>'
    )
    assert to_html('<script>alert("x")</script>') == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    )
    # 256 colours are dropped rather than read as 5 and 31; cursor moves and stray ESC go
    assert to_html("\x1b[38;5;31mz\x1b[2K\x1b") == "z"
    assert to_html("\x1b[31m<b>") == '<span class="ansi-fg-red">&lt;b&gt;</span>'


def _job(job_id: str, needs: list[str]) -> JobView:
    return JobView(0, job_id, job_id, job_id, "success", "", needs, 0, None, [], [], None, None)


def test_the_job_graph_puts_each_job_after_what_it_needs() -> None:
    jobs = [_job("lint", []), _job("test", ["lint"]), _job("test", ["lint"]),
            _job("build", ["lint", "test"]), _job("docs", []), _job("orphan", ["gone"])]  # fmt: skip
    columns = _columns(jobs)
    assert [[j.job_id for j in c] for c in columns] == [
        ["lint", "docs", "orphan"], ["test", "test"], ["build"]
    ]  # fmt: skip
    cyclic = _columns([_job("a", ["b"]), _job("b", ["a"])])  # never loops
    assert sum(len(c) for c in cyclic) == 2
